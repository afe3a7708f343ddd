/**
 * The proxy model a node's pleaco-proxy serves, derived from replicated state. Pure.
 *
 *   apps/<app>                    → one ProxyApp; hosts `<app>.<domain>` plus every `domains/<host>` it owns
 *   health/<app>                  → its health check (absent or invalid: DEFAULT_HEALTH)
 *   obs/<node>/slots/<app>#<i>    → a server when the record is `running` with a hostPort (addr = host)
 *
 * Not routed (the record carries no address for them): a slot's `next` container during a rollout (a
 * PendingSlot has no hostPort) and its `fallback` container (only an id). The runner moves a new container
 * into the record itself once it runs, and that is when it enters rotation here (after passing `rise` checks).
 * One bad record never blocks the rest: invalid hosts and servers are skipped, a domain that collides with
 * another app's implicit host loses, an invalid health check falls back to the default.
 */
import { isIP } from 'node:net';
import { isDnsName, type DomainRecord, type HealthCheck, type SlotStatus, type StateReader } from '../model/index.js';
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
}

/** State prefixes the model depends on. */
export const PROXY_PREFIXES = ['apps/', 'domains/', 'health/', 'obs/'];

const SLOT_KEY_RE = /^obs\/([^/]+)\/slots\/([^/#]+)#(\d+)$/;
const APP_KEY_RE = /^apps\/([^/]+)$/;
const DOMAIN_KEY_RE = /^domains\/([^/]+)$/;

function healthOf(h: HealthCheck | undefined, app: string): ProxyHealth {
  if (!h) return { ...DEFAULT_HEALTH };
  const health: ProxyHealth = { path: h.path ?? DEFAULT_HEALTH.path, intervalMs: h.intervalMs ?? DEFAULT_HEALTH.intervalMs, rise: h.rise ?? DEFAULT_HEALTH.rise, fall: h.fall ?? DEFAULT_HEALTH.fall };
  try {
    validateHealth(app, health);
    return health;
  } catch {
    return { ...DEFAULT_HEALTH };
  }
}

function addressOf(s: SlotStatus, node: string | undefined): string | null {
  if (typeof s.host !== 'string') return null;
  if (s.host === '0.0.0.0' || s.host === '::') return node === undefined || s.node === node ? (s.host === '::' ? '::1' : '127.0.0.1') : null;
  return isIP(s.host) === 0 ? null : s.host;
}

/** Routable servers per app from every node's observed slot records. */
function serversByApp(state: StateReader, node: string | undefined): Map<string, ProxyServer[]> {
  const out = new Map<string, ProxyServer[]>();
  for (const { key, value: s } of state.list<SlotStatus>('obs/')) {
    const m = SLOT_KEY_RE.exec(key);
    if (!m || !s || typeof s !== 'object') continue;
    const app = m[2]!;
    if (s.state !== 'running' || typeof s.hostPort !== 'number') continue;
    // On its own node a replica is reached at its bridge address (one hop less than the published port).
    const local = node !== undefined && s.node === node && typeof s.ip === 'string' && isIP(s.ip) !== 0 && typeof s.port === 'number';
    const addr = local ? s.ip! : addressOf(s, node);
    if (addr === null) continue;
    const server: ProxyServer = { id: s.containerId, addr, port: local ? s.port! : s.hostPort, state: 'ready' };
    try {
      validateServer(app, server);
    } catch {
      continue;
    }
    const list = out.get(app) ?? [];
    if (!list.some((x) => x.id === server.id)) list.push(server);
    out.set(app, list);
  }
  for (const list of out.values()) list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return out;
}

export function proxyModel(state: StateReader, opts: FromStateOptions): ProxyModel {
  const domain = opts.domain.toLowerCase();
  const names = state
    .list<unknown>('apps/')
    .map((e) => APP_KEY_RE.exec(e.key)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort();
  const implicit = new Map(names.map((n) => [`${n}.${domain}`, n]));
  const extra = new Map<string, string[]>();
  for (const { key, value } of state.list<DomainRecord>('domains/')) {
    const host = DOMAIN_KEY_RE.exec(key)?.[1]?.toLowerCase();
    if (!host || !value || typeof value.app !== 'string' || !isDnsName(host)) continue;
    if (!implicit.has(`${value.app}.${domain}`)) continue; // owner app is gone
    if (implicit.has(host)) continue; // another app's (or its own) implicit host wins
    extra.set(value.app, [...(extra.get(value.app) ?? []), host]);
  }
  const servers = serversByApp(state, opts.node);
  const apps: ProxyApp[] = [];
  for (const name of names) {
    const own = `${name}.${domain}`;
    if (!isDnsName(own)) continue;
    // The implicit host first: the controller uses hosts[0] as the health-check Host header.
    const hosts = [own, ...[...new Set(extra.get(name) ?? [])].sort()];
    apps.push({ name, hosts, health: healthOf(state.get<HealthCheck>(`health/${name}`), name), servers: servers.get(name) ?? [] });
  }
  return { port: opts.port, bindHost: opts.bindHost, apps };
}
