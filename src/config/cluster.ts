/**
 * The cluster part of the configuration: PLEACO_CLUSTER_* variables and the cluster file, `/etc/pleaco/cluster.yaml`
 * (PLEACO_CLUSTER_FILE), which cloud-init's `write_files` (or `pleaco init`) writes, mode 0600:
 *
 *   key: <base64 of 32 bytes>      # the cluster key (required in the file; never in argv or the environment)
 *   previousKeys: [<base64>, ...]  # also accepted while a key is rotated (optional)
 *   id: my-cluster                 # the cluster id announced over mDNS (optional: derived from the key)
 *   seeds: [10.0.0.5, seeds.example.com:7946]   # addresses to join (optional; DNS names may give several)
 *   domain: apps.example.com       # the proxy's domain (optional)
 *   labels: {zone: a, disk: ssd}   # this node's labels (optional)
 *
 * The key is read by `readClusterFile` when the cluster member starts; Config keeps only the file's path.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { isClusterId, isDnsName, parseSeeds, validateLabels } from '../model/index.js';
import { PleacoError } from '../errors.js';

export const DEFAULT_CLUSTER_FILE = '/etc/pleaco/cluster.yaml';
const MAX_FILE_BYTES = 64 * 1024;
const FIELDS = new Set(['key', 'previousKeys', 'id', 'seeds', 'domain', 'labels']);

export interface ClusterFile {
  path: string;
  /** Base64 keys, the primary first. Secret: never logged, never put in Config. */
  keys: string[];
  id: string | null;
  seeds: string[];
  domain: string | null;
  labels: Record<string, string>;
}

function bad(message: string): PleacoError {
  return new PleacoError('invalid_config', message);
}

/** Reads and checks the cluster file; throws invalid_config saying what is wrong (never quoting a key). */
export function readClusterFile(path: string): ClusterFile {
  let text: string;
  let mode: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw bad(`cluster file ${path} is not a file`);
    if (st.size > MAX_FILE_BYTES) throw bad(`cluster file ${path} is larger than 64 KiB`);
    mode = st.mode & 0o777;
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof PleacoError) throw err;
    throw bad(`cannot read cluster file ${path}: ${(err as Error).message}`);
  }
  let v: unknown;
  try {
    v = parseYaml(text, { maxAliasCount: 10 }) as unknown;
  } catch (err) {
    throw bad(`cluster file ${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (v === null || v === undefined) v = {};
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(`cluster file ${path}: the top level must be a map (key:, seeds:, ...)`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!FIELDS.has(k)) throw bad(`cluster file ${path}: unknown field ${JSON.stringify(k)} (known: ${[...FIELDS].join(', ')})`);
  const keys: string[] = [];
  if (o.key !== undefined) {
    if (typeof o.key !== 'string' || !o.key.trim()) throw bad(`cluster file ${path}: key must be the base64 text of the cluster key`);
    keys.push(o.key.trim());
  }
  if (o.previousKeys !== undefined) {
    if (!Array.isArray(o.previousKeys) || o.previousKeys.some((k) => typeof k !== 'string')) throw bad(`cluster file ${path}: previousKeys must be a list of base64 keys`);
    if (keys.length === 0) throw bad(`cluster file ${path}: previousKeys without a key`);
    keys.push(...(o.previousKeys as string[]).map((k) => k.trim()));
  }
  if (keys.length > 0 && (mode & 0o077) !== 0) {
    throw bad(`cluster file ${path} holds the cluster key and is readable by others (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 ${path}`);
  }
  if (o.id !== undefined && !isClusterId(o.id)) throw bad(`cluster file ${path}: id must be 3-63 of a-z, 0-9, '-'`);
  const domain = o.domain === undefined ? null : typeof o.domain === 'string' ? o.domain.toLowerCase() : '';
  if (domain !== null && !isDnsName(domain)) throw bad(`cluster file ${path}: domain must be a DNS name like apps.example.com`);
  return {
    path,
    keys,
    id: o.id ?? null,
    seeds: o.seeds === undefined || o.seeds === null ? [] : parseSeeds(o.seeds, `cluster file ${path}: seeds`).map((s) => s.text),
    domain,
    labels: validateLabels(o.labels, `cluster file ${path}: labels`),
  };
}

/** The cluster settings Config holds (see Config.cluster). */
export interface ClusterConfig {
  port: number | null;
  bindHost: string;
  advertise: string | null;
  seeds: string[];
  keyFile: string | null;
  file: string | null;
  id: string | null;
  labels: Record<string, string>;
  mdns: boolean;
  init: boolean;
  antiEntropyMs: number;
}

type Env = Record<string, string | undefined>;

function flag(name: string, raw: string | undefined): boolean | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw bad(`${name} must be true or false, got ${JSON.stringify(raw)}`);
}

function port(name: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < min || Number(raw) > 65535) throw bad(`${name} must be a port (${min}..65535), got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/**
 * PLEACO_CLUSTER_PORT (0 for any free one, or `off`), PLEACO_CLUSTER_BIND, PLEACO_CLUSTER_ADVERTISE (default: the bind
 * address, or when that is unspecified the first address of this host's network interfaces), PLEACO_SEEDS (and its
 * older name PLEACO_JOIN; comma-separated, added to the cluster file's seeds), PLEACO_CLUSTER_KEY_FILE (a key file,
 * used when the cluster file has no key), PLEACO_CLUSTER_FILE, PLEACO_CLUSTER_ID, PLEACO_MDNS, PLEACO_INIT (this node
 * is the first of its cluster: create a key when there is none, as `pleaco init` does), PLEACO_ANTI_ENTROPY_MS.
 * Returns the cluster file's domain, when it sets one, for the proxy.
 */
export function loadClusterConfig(c: ClusterConfig, env: Env): { domain: string | null } {
  if (env.PLEACO_CLUSTER_PORT === 'off') c.port = null;
  else c.port = port('PLEACO_CLUSTER_PORT', env.PLEACO_CLUSTER_PORT, 0) ?? c.port;
  if (c.port !== null && (!Number.isInteger(c.port) || c.port < 0 || c.port > 65535)) throw bad(`cluster.port must be 0..65535 or null, got ${JSON.stringify(c.port)}`);
  c.bindHost = env.PLEACO_CLUSTER_BIND || c.bindHost;
  if (isIP(c.bindHost) === 0) throw bad(`PLEACO_CLUSTER_BIND must be an IP address, got ${JSON.stringify(c.bindHost)}`);
  c.advertise = env.PLEACO_CLUSTER_ADVERTISE || c.advertise;
  if (c.advertise !== null && isIP(c.advertise) === 0) throw bad(`PLEACO_CLUSTER_ADVERTISE must be an IP address, got ${JSON.stringify(c.advertise)}`);
  c.keyFile = env.PLEACO_CLUSTER_KEY_FILE || c.keyFile;
  const path = env.PLEACO_CLUSTER_FILE ?? c.file ?? DEFAULT_CLUSTER_FILE;
  const file = path && existsSync(path) ? readClusterFile(path) : null;
  c.file = file ? file.path : null;
  const fromEnv = [env.PLEACO_SEEDS, env.PLEACO_JOIN].filter((x): x is string => !!x).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
  const seeds = [...(file?.seeds ?? []), ...(c.seeds ?? []), ...fromEnv];
  c.seeds = parseSeeds(seeds, 'PLEACO_SEEDS / the cluster file\'s seeds').map((s) => s.text);
  const id = env.PLEACO_CLUSTER_ID || file?.id || c.id;
  if (id && !isClusterId(id)) throw bad(`PLEACO_CLUSTER_ID must be 3-63 of a-z, 0-9, '-', got ${JSON.stringify(id)}`);
  c.id = id || null;
  c.labels = { ...validateLabels(c.labels, 'cluster.labels'), ...(file?.labels ?? {}) };
  c.mdns = flag('PLEACO_MDNS', env.PLEACO_MDNS) ?? c.mdns;
  c.init = flag('PLEACO_INIT', env.PLEACO_INIT) ?? c.init;
  const ae = env.PLEACO_ANTI_ENTROPY_MS;
  if (ae !== undefined && ae !== '') {
    if (!/^\d+$/.test(ae) || Number(ae) < 100 || Number(ae) > 3_600_000) throw bad(`PLEACO_ANTI_ENTROPY_MS must be between 100 and 3600000, got ${JSON.stringify(ae)}`);
    c.antiEntropyMs = Number(ae);
  }
  return { domain: file?.domain ?? null };
}
