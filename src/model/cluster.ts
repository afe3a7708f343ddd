/**
 * What a node is told about its cluster (cluster.yaml, PLEACO_SEEDS, `pleaco join`): seed addresses, the cluster id,
 * node labels. Validators only: the config loader, the API and discovery share them.
 */
import { isIP } from 'node:net';
import { PleacoError } from '../errors.js';
import { isDnsName } from './names.js';

/** The cluster port a seed without one is asked on (the default of cluster.port). */
export const DEFAULT_CLUSTER_PORT = 7946;

/** A seed as given: an IP address or a DNS name (which may resolve to several addresses), and a port. */
export interface Seed {
  /** As given, normalised: `10.0.0.5:7946`, `[fd00::5]:7946`, `seeds.example.com:7946`. */
  text: string;
  host: string;
  port: number;
  kind: 'ip' | 'dns';
}

const MAX_SEEDS = 64;

/** Parses `host`, `host:port`, `[v6]` or `[v6]:port`; null when it is neither an IP address nor a DNS name. */
export function parseSeed(raw: unknown): Seed | null {
  if (typeof raw !== 'string') return null;
  const s = raw.trim().toLowerCase();
  if (!s || s.length > 260) return null;
  let host = s;
  let port = DEFAULT_CLUSTER_PORT;
  const v6 = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/.exec(s);
  if (v6) {
    host = v6[1]!;
    if (v6[2] !== undefined) port = Number(v6[2]);
    if (isIP(host) !== 6) return null;
  } else {
    const m = /^([^:[\]]+)(?::(\d{1,5}))?$/.exec(s);
    if (!m) return null;
    host = m[1]!;
    if (m[2] !== undefined) port = Number(m[2]);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  const kind = isIP(host) !== 0 ? 'ip' : isDnsName(host) ? 'dns' : null;
  if (!kind) return null;
  return { text: `${isIP(host) === 6 ? `[${host}]` : host}:${port}`, host, port, kind };
}

/** Parses a list of seeds (`what` names where they came from in the error); duplicates dropped. */
export function parseSeeds(raw: unknown, what: string): Seed[] {
  if (!Array.isArray(raw)) throw new PleacoError('invalid_config', `${what} must be a list of addresses like 10.0.0.5:7946 or seeds.example.com`);
  if (raw.length > MAX_SEEDS) throw new PleacoError('invalid_config', `${what}: at most ${MAX_SEEDS} seeds, got ${raw.length}`);
  const out = new Map<string, Seed>();
  for (const r of raw) {
    const seed = parseSeed(r);
    if (!seed) throw new PleacoError('invalid_config', `${what}: ${JSON.stringify(String(r).slice(0, 80))} is not an address like 10.0.0.5:7946, [fd00::5]:7946 or seeds.example.com[:port]`);
    out.set(seed.text, seed);
  }
  return [...out.values()];
}

/** `host:port` of an address (brackets around IPv6). */
export function joinHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

const CLUSTER_ID_RE = /^[a-z0-9][a-z0-9-]{2,62}$/;

/** A cluster id: 3-63 of a-z, 0-9, '-' (it is announced over mDNS in the clear; it is a name, not a secret). */
export function isClusterId(id: unknown): id is string {
  return typeof id === 'string' && CLUSTER_ID_RE.test(id);
}

const LABEL_KEY_RE = /^[a-z0-9]([a-z0-9._/-]{0,61}[a-z0-9])?$/;
const LABEL_VALUE_RE = /^[A-Za-z0-9._-]{0,63}$/;
const MAX_LABELS = 16;
const MAX_LABELS_JSON = 300;

/** Node labels (`zone: a`, `disk: ssd`): at most 16, keys like DNS names, short plain values. Throws invalid_config. */
export function validateLabels(raw: unknown, what: string): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new PleacoError('invalid_config', `${what} must be a map of label: value`);
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > MAX_LABELS) throw new PleacoError('invalid_config', `${what}: at most ${MAX_LABELS} labels, got ${entries.length}`);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    const value = typeof v === 'number' || typeof v === 'boolean' ? String(v) : v;
    if (!LABEL_KEY_RE.test(k)) throw new PleacoError('invalid_config', `${what}: label ${JSON.stringify(k.slice(0, 70))} must be 1-63 of a-z, 0-9, '.', '_', '-', '/', starting and ending with a letter or digit`);
    if (typeof value !== 'string' || !LABEL_VALUE_RE.test(value)) throw new PleacoError('invalid_config', `${what}: the value of ${k} must be at most 63 of A-Z, a-z, 0-9, '.', '_', '-'`);
    out[k] = value;
  }
  // They travel in the member's gossiped metadata (512 bytes in all, with the version and the API port).
  if (JSON.stringify(out).length > MAX_LABELS_JSON) throw new PleacoError('invalid_config', `${what}: at most ${MAX_LABELS_JSON} characters of labels in all (as JSON)`);
  return out;
}
