/**
 * The proxy model a node's pleaco-proxy serves, derived from replicated state. Pure.
 *
 *   apps/<app>                    → one ProxyApp; hosts `<app>.<domain>` plus every `domains/<host>` it owns
 *   health/<app>                  → its health check (absent or invalid: DEFAULT_HEALTH)
 *   autoscale/<app> with min 0    → the activator as its backup server (it may scale to zero)
 *   obs/<node>/slots/<app>#<i>    → a server when the record is `running` with a hostPort (addr = host); a replica
 *                                   whose accept queue (`backlog`) is small gets maxconn: its share of the queue
 *                                   among the cluster's proxies (`obs/<node>/proxy` records), see serverMaxconn
 *
 * Not routed (the record carries no address for them): a slot's `next` container during a rollout (a
 * PendingSlot has no hostPort) and its `fallback` container (only an id). The runner moves a new container
 * into the record itself once it runs, and that is when it enters rotation here (after passing `rise` checks).
 *
 * One bad record never blocks the rest: state is replicated from every node, so a record no API of this version
 * would write (an `apps/` key that is no app name, a domain key that is no DNS name, two domain keys naming the
 * same host in different case, a slot record with no usable address) may still arrive. Each is left out and named
 * in `skipped` (the proxy logs it once and lists it in its status record `obs/<node>/proxy`); the model built from
 * the rest always passes validateModel. Not reported, because they are ordinary states: a domain of an app that is
 * gone, a domain that is another app's implicit host (that app keeps it), a slot that is not running.
 */
import { isIP } from 'node:net';
import { PleacoError } from '../errors.js';
import { isDnsName, keys, parseKey, type AutoscalePolicy, type DomainRecord, type HealthCheck, type SlotStatus, type StateReader } from '../model/index.js';
import { DEFAULT_HEALTH, validateHealth, validateServer, type ProxyApp, type ProxyHealth, type ProxyModel, type ProxyServer } from './model.js';

export interface FromStateOptions {
  port: number;
  bindHost: string;
  /** Cluster domain: every app answers at `<app>.<domain>`. */
  domain: string;
  /**
   * This node's id: a replica published on an unspecified address (0.0.0.0, ::) is reached on loopback when
   * it runs here; on another node such a record has no usable address and is skipped.
   */
  node?: string;
  /**
   * Whether a node is a live member (alive or suspected) as this node's agent sees it: replicas of a node that died
   * leave routing at once (its records stay until it returns). Absent: every node counts.
   */
  live?: (node: string) => boolean;
  /** This proxy's activator: the backup server of every app whose autoscaling may take it to zero replicas. */
  activator?: { addr: string; port: number };
}

/** A record left out of the model, and why. */
export interface SkippedRecord {
  key: string;
  reason: string;
}

/** State prefixes the model depends on. */
export const PROXY_PREFIXES = ['apps/', 'domains/', 'health/', 'obs/', 'autoscale/'];

const SLOT_KEY_RE = /^obs\/[^/]+\/slots\//;
const PROXY_KEY_RE = /^obs\/[^/]+\/proxy$/;

/**
 * Below this accept queue a replica's connections are capped: the historical SOMAXCONN, the queue every common
 * runtime asks for or exceeds (Node 511, Go and nginx 511+, gunicorn 2048). Servers under it chose a small queue
 * (busybox httpd 9, Python's socketserver 5, Java's ServerSocket 50) and lose SYNs to a burst; over it, a cap would
 * only throttle long-held connections (websockets, streams) that never wait in the queue.
 */
export const SMALL_BACKLOG = 128;

/**
 * The most connections one proxy opens to a replica at once: its share of the replica's accept queue among the
 * `proxies` that may route to it (each node runs one), at least 1; undefined (no limit) for a queue of SMALL_BACKLOG
 * or more, or one not known. Requests beyond it wait in HAProxy's queue (`timeout queue`), never in the kernel's.
 */
export function serverMaxconn(backlog: unknown, proxies: number): number | undefined {
  if (typeof backlog !== 'number' || !Number.isSafeInteger(backlog) || backlog < 0 || backlog >= SMALL_BACKLOG) return undefined;
  return Math.max(1, Math.floor(backlog / Math.max(1, proxies)));
}

function healthOf(h: HealthCheck | undefined, app: string, skip: (key: string, reason: string) => void): ProxyHealth {
  if (!h) return { ...DEFAULT_HEALTH };
  try {
    if (typeof h !== 'object') throw new PleacoError('invalid_config', 'not an object');
    const health: ProxyHealth = { path: h.path ?? DEFAULT_HEALTH.path, intervalMs: h.intervalMs ?? DEFAULT_HEALTH.intervalMs, rise: h.rise ?? DEFAULT_HEALTH.rise, fall: h.fall ?? DEFAULT_HEALTH.fall };
    validateHealth(app, health);
    return health;
  } catch (err) {
    skip(keys.health(app), `invalid health check, the default is used: ${err instanceof Error ? err.message : String(err)}`);
    return { ...DEFAULT_HEALTH };
  }
}

/** Where a replica is reached from `node`: its record's host, loopback for an unspecified host here; null when none. */
export function addressOf(s: SlotStatus, node: string | undefined): string | null {
  if (typeof s.host !== 'string') return null;
  if (s.host === '0.0.0.0' || s.host === '::') return node === undefined || s.node === node ? (s.host === '::' ? '::1' : '127.0.0.1') : null;
  return isIP(s.host) === 0 ? null : s.host;
}

/** Routable servers per app from every node's observed slot records. */
function serversByApp(state: StateReader, node: string | undefined, live: (node: string) => boolean, skip: (key: string, reason: string) => void): Map<string, ProxyServer[]> {
  const out = new Map<string, ProxyServer[]>();
  const obs = state.list<SlotStatus>('obs/').filter((e) => live(e.key.split('/')[1]!));
  const proxies = obs.filter((e) => PROXY_KEY_RE.test(e.key)).length;
  for (const { key, value: s } of obs) {
    if (!SLOT_KEY_RE.test(key)) continue;
    const parsed = parseKey(key);
    if (!parsed.ok) {
      skip(key, parsed.reason);
      continue;
    }
    if (!s || typeof s !== 'object' || s.state !== 'running' || typeof s.hostPort !== 'number') continue;
    const app = parsed.parts.slot!.slice(0, parsed.parts.slot!.lastIndexOf('#'));
    // On its own node a replica is reached at its bridge address (one hop less than the published port).
    const local = node !== undefined && s.node === node && typeof s.ip === 'string' && isIP(s.ip) !== 0 && typeof s.port === 'number';
    const addr = local ? s.ip! : addressOf(s, node);
    if (addr === null) continue;
    const server: ProxyServer = { id: s.containerId, addr, port: local ? s.port! : s.hostPort, state: 'ready' };
    const maxconn = serverMaxconn(s.backlog, proxies);
    if (maxconn !== undefined) server.maxconn = maxconn;
    try {
      validateServer(app, server);
    } catch (err) {
      skip(key, err instanceof Error ? err.message : String(err));
      continue;
    }
    const list = out.get(app) ?? [];
    if (!list.some((x) => x.id === server.id)) list.push(server);
    out.set(app, list);
  }
  for (const list of out.values()) list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return out;
}

/** App names with a valid `apps/` key and a valid implicit host; the others are skipped. */
function appNames(state: StateReader, domain: string, skip: (key: string, reason: string) => void): string[] {
  const names: string[] = [];
  for (const { key } of state.list<unknown>('apps/')) {
    const parsed = parseKey(key);
    if (!parsed.ok || parsed.parts.app === undefined) {
      skip(key, parsed.ok ? 'not an app record' : parsed.reason);
      continue;
    }
    const name = parsed.parts.app;
    if (!isDnsName(`${name}.${domain}`)) {
      skip(key, `its host ${name}.${domain} is not a valid DNS name (too long)`);
      continue;
    }
    names.push(name);
  }
  return names.sort();
}

/**
 * Extra hosts per app from `domains/<host>`. Keys are lowercase as the API writes them; a key in other case is
 * lowercased, and when several keys name the same host the lowercase one (else the first in order) wins.
 */
function extraHosts(state: StateReader, implicit: Map<string, string>, domain: string, skip: (key: string, reason: string) => void): Map<string, string[]> {
  const byHost = new Map<string, { key: string; app: string }>();
  const entries = state.list<DomainRecord>(keys.domainPrefix).sort((a, b) => Number(b.key === b.key.toLowerCase()) - Number(a.key === a.key.toLowerCase()) || (a.key < b.key ? -1 : 1));
  for (const { key, value } of entries) {
    const host = key.slice(keys.domainPrefix.length).toLowerCase();
    const shown = JSON.stringify(host.slice(0, 80));
    if (!isDnsName(host)) {
      skip(key, `${shown} is not a DNS name`);
      continue;
    }
    if (!value || typeof value !== 'object' || typeof value.app !== 'string') {
      skip(key, 'not a domain record (no app)');
      continue;
    }
    const first = byHost.get(host);
    if (first) {
      skip(key, `${first.key} names the same host`);
      continue;
    }
    byHost.set(host, { key, app: value.app });
  }
  const extra = new Map<string, string[]>();
  for (const [host, { app }] of byHost) {
    if (!implicit.has(`${app}.${domain}`)) continue; // owner app is gone
    if (implicit.has(host)) continue; // another app's (or its own) implicit host wins
    extra.set(app, [...(extra.get(app) ?? []), host]);
  }
  return extra;
}

/** The model and the records left out of it. */
export function proxyModelOf(state: StateReader, opts: FromStateOptions): { model: ProxyModel; skipped: SkippedRecord[] } {
  const domain = opts.domain.toLowerCase();
  const skipped: SkippedRecord[] = [];
  const skip = (key: string, reason: string): void => void skipped.push({ key, reason });
  const names = appNames(state, domain, skip);
  const implicit = new Map(names.map((n) => [`${n}.${domain}`, n]));
  const extra = extraHosts(state, implicit, domain, skip);
  const servers = serversByApp(state, opts.node, opts.live ?? (() => true), skip);
  const apps: ProxyApp[] = names.map((name) => ({
    name,
    // The implicit host first: the controller uses hosts[0] as the health-check Host header.
    hosts: [`${name}.${domain}`, ...[...new Set(extra.get(name) ?? [])].sort()],
    health: healthOf(state.get<HealthCheck>(keys.health(name)), name, skip),
    servers: servers.get(name) ?? [],
    ...(opts.activator && state.get<AutoscalePolicy>(keys.autoscale(name))?.min === 0 ? { activator: opts.activator } : {}),
  }));
  skipped.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { model: { port: opts.port, bindHost: opts.bindHost, apps }, skipped };
}

export function proxyModel(state: StateReader, opts: FromStateOptions): ProxyModel {
  return proxyModelOf(state, opts).model;
}
