/** How records are shown to API clients: secrets and config values only where asked for, URLs redacted. */
import type { AppSpec, Release, SlotStatus, Build } from '../core/index.js';
import type { Store } from '../state/index.js';
import { redactUrl } from '../log.js';

export function slotsOf(store: Store, app: string): SlotStatus[] {
  return store
    .list<SlotStatus>('obs/')
    .filter((e) => e.key.includes('/slots/') && e.value.app === app)
    .map((e) => e.value)
    .sort((a, b) => (a.slot < b.slot ? -1 : a.slot > b.slot ? 1 : a.release - b.release));
}

export function slotUrl(s: SlotStatus): string | null {
  if (s.hostPort === null) return null;
  const host = s.host.includes(':') ? `[${s.host}]` : s.host;
  return `http://${host}:${s.hostPort}`;
}

/**
 * Where the app answers now: a running replica, of `release` when one runs, else any that serves
 * (during a rollout the old release still does). The proxy replaces this with the routed URL.
 */
export function appUrl(slots: SlotStatus[], release: number | null): string | null {
  const running = slots.filter((s) => s.state === 'running' && slotUrl(s) !== null);
  const pick = running.find((s) => release === null || s.release === release) ?? running[0];
  return pick ? slotUrl(pick) : null;
}

export function releaseView(r: Release): Omit<Release, 'config'> & { configKeys: string[] } {
  const { config, ...rest } = r;
  return { ...rest, configKeys: Object.keys(config).sort() };
}

export function appSummary(app: AppSpec, release: Release | null, replicas: number, slots: SlotStatus[]) {
  const current = release?.number ?? null;
  return {
    name: app.name,
    repo: redactUrl(app.repo),
    branch: app.branch,
    release: current,
    replicas,
    running: slots.filter((s) => s.state === 'running' && s.release === current).length,
    url: appUrl(slots, current),
  };
}

export function appInfo(app: AppSpec, release: Release | null, replicas: number, slots: SlotStatus[], lastBuild: Build | null, configKeys: string[]) {
  return {
    ...appSummary(app, release, replicas, slots),
    createdAt: app.createdAt,
    webhook: { path: '/v1/hooks/github', secret: app.webhookSecret, events: ['push'], contentType: 'application/json' },
    currentRelease: release ? releaseView(release) : null,
    processes: slots,
    lastBuild,
    configKeys,
  };
}
