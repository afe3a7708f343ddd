/**
 * `pleaco init` on the node itself: makes it the first node of a new cluster. Writes a new key to the cluster file
 * (/etc/pleaco/cluster.yaml, PLEACO_CLUSTER_FILE; 0600, atomically), or keeps the key the node has (the cluster
 * file's, or an older key file's, which it then copies into the cluster file); the CLI prints how to join others.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { clusterIdOf, generateKey } from '../cluster/index.js';
import { DEFAULT_CLUSTER_FILE, loadConfig, readClusterFile } from '../config/index.js';
import type { InitResult } from '../cli/index.js';
import { PleacoError } from '../errors.js';
import { DEFAULT_CLUSTER_PORT, isClusterId, joinHostPort, parseSeeds } from '../model/index.js';
import { advertiseAddress, clusterKeys } from './cluster.js';
import { writeDurable } from './node.js';

export async function initCluster(env: NodeJS.ProcessEnv, o: { seeds: string[]; id?: string }): Promise<InitResult> {
  if (o.id !== undefined && !isClusterId(o.id)) throw new PleacoError('bad_request', '--id must be 3-63 of a-z, 0-9, -');
  const seeds = parseSeeds(o.seeds, '--seed').map((s) => s.text);
  const cfg = loadConfig(env);
  const file = cfg.cluster.file ?? env.PLEACO_CLUSTER_FILE ?? DEFAULT_CLUSTER_FILE;
  if (!file) throw new PleacoError('invalid_config', 'PLEACO_CLUSTER_FILE is empty: there is no cluster file to write');
  const had = clusterKeys(cfg);
  const existing = cfg.cluster.file ? readClusterFile(cfg.cluster.file) : null;
  const key = had[0] ?? generateKey();
  const current = existing?.id ?? cfg.cluster.id ?? null;
  if (had.length > 0 && o.id && o.id !== (current ?? clusterIdOf(key))) {
    throw new PleacoError('conflict', `this node already belongs to cluster ${current ?? clusterIdOf(key)}; pleaco init changes nothing on a node that has a key`);
  }
  const id = o.id ?? current;
  if (!existing || existing.keys.length === 0) {
    const lines = [
      `# The cluster file of pleaco, written by \`pleaco init\` on ${new Date().toISOString()}.`,
      '# Keep it secret: its key admits a node to the cluster. Other nodes join with a copy (and seeds: [this node]).',
      `key: ${key}`,
      ...(existing?.keys.slice(1).length ? [`previousKeys: [${existing.keys.slice(1).join(', ')}]`] : []),
      ...(id ? [`id: ${id}`] : []),
      ...(existing?.seeds.length ? [`seeds: [${existing.seeds.join(', ')}]`] : []),
      ...(existing?.domain ? [`domain: ${existing.domain}`] : []),
      ...(existing && Object.keys(existing.labels).length ? [`labels: ${JSON.stringify(existing.labels)}`] : []),
    ];
    mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
    writeDurable(file, lines.join('\n') + '\n', 0o600);
  }
  const port = cfg.cluster.port || DEFAULT_CLUSTER_PORT;
  const addr = advertiseAddress(cfg);
  const local = cfg.cluster.port === null ? 'the cluster port is off (PLEACO_CLUSTER_PORT=off)' : /^127\.|^::1$/.test(addr) ? `its cluster member listens on ${addr} only` : null;
  return {
    ...(local && !seeds.length ? { warning: `other nodes cannot reach this one yet: ${local}; set PLEACO_CLUSTER_BIND=0.0.0.0 (and PLEACO_CLUSTER_PORT) and restart it, or give --seed` } : {}),
    created: had.length === 0,
    file,
    clusterId: id ?? clusterIdOf(key),
    key,
    seeds: seeds.length ? seeds : [joinHostPort(addr, port)],
  };
}
