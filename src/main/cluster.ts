/**
 * The agent's cluster member: the cluster key from its file (created 0600 on the first start of a node that
 * has none: that node founds a cluster; copy the file to every node that joins), the store's replica, and
 * the ClusterNode on real sockets. Returns null when the cluster port is off (a node on its own).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ClusterNode, generateKey, Keyring, parseKey } from '../cluster/index.js';
import type { Config } from '../config/index.js';
import { PleacoError } from '../errors.js';
import type { Logger } from '../log.js';
import { Replica, type Store } from '../state/index.js';
import { readOr, writeDurable } from './node.js';

export function clusterKeyPath(cfg: Config): string {
  return cfg.cluster.keyFile ?? join(cfg.stateDir, 'cluster.key');
}

/** Reads the key file (base64 of 32 bytes, one line; more lines are accepted keys for rotation, first is primary). */
export function loadKeyring(cfg: Config): Keyring {
  const path = clusterKeyPath(cfg);
  if (!existsSync(path)) {
    if (cfg.cluster.join.length > 0) throw new PleacoError('invalid_config', `cluster key file ${path} is missing: copy the cluster.key of a member to join it`);
    writeDurable(path, generateKey() + '\n', 0o600);
  }
  const lines = (readOr(path) ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines.length === 0) throw new PleacoError('invalid_config', `cluster key file ${path} is empty`);
  const [primary, ...others] = lines.map((l) => parseKey(l));
  return new Keyring(primary!, others);
}

export async function startCluster(o: { config: Config; store: Store; nodeId: string; version: string; log: Logger }): Promise<{ node: ClusterNode; replica: Replica } | null> {
  const c = o.config.cluster;
  if (c.port === null) return null;
  const keyring = loadKeyring(o.config);
  const replica = new Replica(o.store, { awayAfterMs: Math.floor(o.config.store.tombstoneTtlMs / 2) });
  const node = new ClusterNode({
    id: o.nodeId,
    bindHost: c.bindHost,
    port: c.port,
    ...(c.advertise ? { advertise: c.advertise } : {}),
    keyring,
    seeds: c.join,
    meta: { version: o.version, api: String(o.config.api.port) },
    replica,
    antiEntropyMs: c.antiEntropyMs,
    log: o.log.child({ component: 'cluster' }),
  });
  await node.start();
  if (c.join.length === 0 && replica.health().status === 'fresh') replica.markCurrent();
  return { node, replica };
}
