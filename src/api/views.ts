/** How records are shown to API clients: secrets and config values only where asked for, URLs redacted. */
import { type DomainView } from '../agent/index.js';
import { effectiveResources, keys, liveMemberIds, type AppSpec, type Build, type ProxyStatus, type Release, type ResourceDefaults, type Resources, type SlotStatus } from '../model/index.js';
import type { Store } from '../state/index.js';
import type { ApiDeps } from './deps.js';
import { redactUrl } from '../log.js';

/**
 * An app's slot records from every node. A record of a node that is not a live member (dead, departed, unknown) is
 * shown as `lost`: its container went with its node, and the record stays until the node comes back to clean it.
 */
export function slotsOf(d: Pick<ApiDeps, 'store' | 'cluster' | 'nodeId'>, app: string): SlotStatus[] {
  const members = d.cluster?.members();
  const live = members ? liveMemberIds(members, d.nodeId) : null;
  return d.store
    .list<SlotStatus>('obs/')
    .filter((e) => e.key.includes('/slots/') && e.value.app === app)
    .map((e) => (live && !live.has(e.value.node) ? { ...e.value, state: 'lost' as const } : e.value))
    .sort((a, b) => (a.slot < b.slot ? -1 : a.slot > b.slot ? 1 : a.release - b.release));
}

export function slotUrl(s: SlotStatus): string | null {
  if (s.hostPort === null) return null;
  const host = s.host.includes(':') ? `[${s.host}]` : s.host;
  return `http://${host}:${s.hostPort}`;
}

/**
 * Where the app answers now without the proxy: a running replica, of `release` when one runs, else any that
 * serves (during a rollout the old release still does). With a proxy up, routedUrl replaces it.
 */
export function appUrl(slots: SlotStatus[], release: number | null): string | null {
  const running = slots.filter((s) => s.state === 'running' && slotUrl(s) !== null);
  const pick = running.find((s) => release === null || s.release === release) ?? running[0];
  return pick ? slotUrl(pick) : null;
}

const PROXY_KEY_RE = /^obs\/[^/]+\/proxy$/;

function usable(p: ProxyStatus | undefined): p is ProxyStatus {
  return !!p && p.ok === true && Number.isInteger(p.port) && p.port > 0 && p.port < 65536 && typeof p.domain === 'string' && p.domain !== '';
}

/** A pleaco-proxy that says it serves (`obs/<node>/proxy` with ok): this node's first, else any node's; null when none. */
export function proxyStatus(store: Store, nodeId: string): ProxyStatus | null {
  const own = store.get<ProxyStatus>(keys.proxy(nodeId));
  if (usable(own)) return own;
  return store.list<ProxyStatus>('obs/').find((e) => PROXY_KEY_RE.test(e.key) && usable(e.value))?.value ?? null;
}

/** `http://<app>.<domain>`, with `:<port>` unless it is 80. */
export function routedUrl(p: ProxyStatus, app: string): string {
  return `http://${app}.${p.domain}${p.port === 80 ? '' : `:${p.port}`}`;
}

export function releaseView(r: Release): Omit<Release, 'config'> & { configKeys: string[] } {
  const { config, ...rest } = r;
  // A replicated record may lack fields an older or broken writer left out: show what there is.
  return { ...rest, configKeys: config && typeof config === 'object' ? Object.keys(config).sort() : [] };
}

export function appSummary(app: AppSpec, release: Release | null, replicas: number, slots: SlotStatus[], proxy: ProxyStatus | null = null) {
  const current = release?.number ?? null;
  return {
    name: app.name,
    repo: redactUrl(app.repo),
    branch: app.branch,
    release: current,
    replicas,
    running: slots.filter((s) => s.state === 'running' && s.release === current).length,
    url: proxy ? routedUrl(proxy, app.name) : appUrl(slots, current),
  };
}

/** An app's limits: what was set, the node's defaults, and what the current release's containers run with. */
export function resourcesView(set: Resources | undefined, release: Release | null, defaults: ResourceDefaults) {
  return { resources: set ?? {}, defaults, effective: effectiveResources(release ? release.resources : set, defaults) };
}

export function appInfo(app: AppSpec, release: Release | null, replicas: number, slots: SlotStatus[], lastBuild: Build | null, configKeys: string[], routing: { domains: DomainView[]; proxy: ProxyStatus | null }, resources: ReturnType<typeof resourcesView>) {
  return {
    resources,
    ...appSummary(app, release, replicas, slots, routing.proxy),
    createdAt: app.createdAt,
    webhook: { path: '/v1/hooks/github', secret: app.webhookSecret, events: ['push'], contentType: 'application/json' },
    currentRelease: release ? releaseView(release) : null,
    processes: slots,
    lastBuild,
    configKeys,
    domains: routing.domains,
  };
}
