/**
 * The agent's cluster member: the cluster key (the cluster file's, else the key file's; created only on the node
 * told it is the first: `pleaco init`, PLEACO_INIT), the store's replica, the ClusterNode on real sockets, and
 * discovery (seeds, `pleaco join`, mDNS) feeding it. Returns null when the cluster port is off (a node on its own).
 */
import { lookup } from 'node:dns/promises';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { ClusterNode, generateKey, Keyring, parseKey } from '../cluster/index.js';
import { readClusterFile, type Config } from '../config/index.js';
import { Discovery, eligibleInterfaces, instanceLabel, Mdns, type MdnsInterface, type SeedStore } from '../discovery/index.js';
import { PleacoError } from '../errors.js';
import type { Logger } from '../log.js';
import { parseSeed, type Seed } from '../model/index.js';
import { Replica, type Store } from '../state/index.js';
import { readOr, writeDurable } from './node.js';

export function clusterKeyPath(cfg: Config): string {
  return cfg.cluster.keyFile ?? join(cfg.stateDir, 'cluster.key');
}

/** The base64 keys this node holds (primary first): the cluster file's, else the key file's lines; [] when none. */
export function clusterKeys(cfg: Config): string[] {
  if (cfg.cluster.file) {
    const keys = readClusterFile(cfg.cluster.file).keys;
    if (keys.length > 0) return keys;
  }
  return (readOr(clusterKeyPath(cfg)) ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
}

/** The keyring; a node without a key creates one (key file, 0600) only when it is told it is the first. */
export function loadKeyring(cfg: Config): Keyring {
  let keys = clusterKeys(cfg);
  if (keys.length === 0) {
    const path = clusterKeyPath(cfg);
    if (!cfg.cluster.init) {
      throw new PleacoError('invalid_config', `this node has no cluster key: on the first node of a cluster run \`pleaco init\`; on the others write the cluster.yaml that \`pleaco init\` printed (cloud-init user-data) to ${cfg.cluster.file ?? '/etc/pleaco/cluster.yaml'}`);
    }
    if (existsSync(path)) throw new PleacoError('invalid_config', `cluster key file ${path} is empty`);
    writeDurable(path, generateKey() + '\n', 0o600);
    keys = clusterKeys(cfg);
  }
  const [primary, ...others] = keys.map((k) => parseKey(k));
  return new Keyring(primary!, others);
}

/** The address peers reach this node's cluster member at: advertise, else the bind address, else the first interface's. */
export function advertiseAddress(cfg: Config, interfaces: () => MdnsInterface[] = () => eligibleInterfaces()): string {
  const c = cfg.cluster;
  if (c.advertise) return c.advertise;
  if (c.bindHost !== '0.0.0.0' && c.bindHost !== '::') return c.bindHost;
  const first = interfaces()[0];
  if (!first) throw new PleacoError('invalid_config', 'the cluster binds every address but this host has no network interface with an IPv4 address yet: set PLEACO_CLUSTER_ADVERTISE');
  return first.address;
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

/** The interfaces mDNS runs on: the one holding the bind address, or every eligible one when it binds all. */
function mdnsInterfaces(bindHost: string): () => MdnsInterface[] {
  if (bindHost === '0.0.0.0' || bindHost === '::') return () => eligibleInterfaces();
  return () => eligibleInterfaces().filter((i) => i.address === bindHost);
}

/** The seeds added with `pleaco join`, in <state>/seeds.json. */
function seedFile(path: string, log: Logger): SeedStore {
  return {
    load: () => {
      const text = readOr(path);
      if (!text) return [];
      try {
        const v = JSON.parse(text) as { seeds?: unknown };
        return Array.isArray(v.seeds) ? v.seeds.filter((s): s is string => typeof s === 'string').slice(0, 64) : [];
      } catch (err) {
        log.warn('seeds file unreadable: ignored', { path, error: err });
        return [];
      }
    },
    save: (seeds) => writeDurable(path, JSON.stringify({ seeds }) + '\n', 0o600),
  };
}

async function resolveHost(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  return (await lookup(host, { all: true })).map((r) => r.address);
}

export interface ClusterParts {
  node: ClusterNode;
  replica: Replica;
  discovery: Discovery;
}

export async function startCluster(o: { config: Config; store: Store; nodeId: string; version: string; log: Logger }): Promise<ClusterParts | null> {
  const c = o.config.cluster;
  if (c.port === null) return null;
  const keyring = loadKeyring(o.config);
  const advertise = advertiseAddress(o.config);
  const replica = new Replica(o.store, { awayAfterMs: Math.floor(o.config.store.tombstoneTtlMs / 2) });
  const meta: Record<string, string> = { version: o.version, api: String(o.config.api.port) };
  if (Object.keys(c.labels).length > 0) meta.labels = JSON.stringify(c.labels);
  const node = new ClusterNode({
    id: o.nodeId, bindHost: c.bindHost, port: c.port, advertise, keyring, seeds: [], meta, replica,
    antiEntropyMs: c.antiEntropyMs, log: o.log.child({ component: 'cluster' }),
  });
  await node.start();
  const log = o.log.child({ component: 'discovery' });
  const joined = seedFile(join(o.config.stateDir, 'seeds.json'), log);
  const seeds = c.seeds.map((s) => parseSeed(s)).filter((s): s is Seed => s !== null);
  // mDNS only where peers could reach what it announces: not for a member bound to loopback (tests, `make up`).
  const withMdns = c.mdns && !isLoopback(advertise);
  let discovery: Discovery | null = null;
  const mdns = withMdns ? new Mdns({ instance: instanceLabel(o.nodeId), port: Number(node.addr.split(':').pop()), txt: () => discovery!.txt(), interfaces: mdnsInterfaces(c.bindHost), log }) : null;
  discovery = new Discovery({ membership: node, nodeId: o.nodeId, clusterId: c.id ?? keyring.clusterId(), version: o.version, seeds, joined, resolve: resolveHost, signer: keyring, mdns, log });
  node.on('member', () => discovery.kick());
  if (discovery.status().seeds.length === 0 && replica.health().status === 'fresh') replica.markCurrent();
  await discovery.start();
  return { node, replica, discovery };
}
