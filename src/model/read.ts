/**
 * Typed reads over any StateReader (the agent's Store, a subsystem's StateView): the lookups several readers make,
 * written once so each record is read under its key the same way everywhere.
 */
import { DEFAULT_HEALTHCHECK, type HealthCheck } from './health.js';
import { keys, type StateReader } from './keys.js';
import { isAppName } from './names.js';
import type { AutoscaleStatus } from './autoscale.js';
import type { AppSpec, Build, CurrentRelease, Release, ScaleSpec } from './records.js';

/** The release `current/<app>` names, when both records are there. */
export function currentRelease(state: StateReader, app: string): Release | undefined {
  const cur = state.get<CurrentRelease>(keys.current(app));
  if (!cur || !Number.isInteger(cur.release)) return undefined;
  return state.get<Release>(keys.release(app, cur.release));
}

/**
 * True for an app spec stored under `apps/<name>`: a valid name, and the fields every reader relies on. State is
 * replicated from every node, so a record of another shape may arrive (an older or broken writer); readers leave
 * it out rather than fail on it.
 */
export function isAppSpec(value: unknown, name: string): value is AppSpec {
  if (!isAppName(name) || value === null || typeof value !== 'object') return false;
  const v = value as Partial<AppSpec>;
  return v.name === name && typeof v.repo === 'string' && typeof v.branch === 'string' && typeof v.webhookSecret === 'string';
}

/** Every app spec (records that are no app spec, see isAppSpec, are left out). */
export function appSpecs(state: StateReader): AppSpec[] {
  return state
    .list<unknown>('apps/')
    .filter((e): e is { key: string; value: AppSpec } => isAppSpec(e.value, e.key.slice('apps/'.length)))
    .map((e) => e.value);
}

/** The app's config vars (`env/<app>/<KEY>`): what its next release snapshots. Values are secrets. */
export function configOf(state: StateReader, app: string): Record<string, string> {
  const prefix = keys.envPrefix(app);
  return Object.fromEntries(state.list<unknown>(prefix).map(({ key, value }) => [key.slice(prefix.length), String(value)]));
}

const AUTOSCALE_STATUS_RE = /^obs\/([^/]+)\/autoscale\/([^/]+)$/;

/**
 * The newest autoscaling record of `app` (`obs/<node>/autoscale/<app>`, written by whichever node owned it), of the
 * nodes `from` accepts (all when absent); null when there is none.
 */
export function newestAutoscaleStatus(state: StateReader, app: string, from?: (node: string) => boolean): AutoscaleStatus | null {
  let newest: AutoscaleStatus | null = null;
  for (const { key, value } of state.list<AutoscaleStatus>('obs/')) {
    const m = AUTOSCALE_STATUS_RE.exec(key);
    if (!m || m[2] !== app || value?.app !== app || (from && !from(m[1]!))) continue;
    if (!newest || newest.at < value.at) newest = value;
  }
  return newest;
}

/** An app's builds, in key order (oldest id first). */
export function buildsOf(state: StateReader, app: string): Build[] {
  return state.list<Build>(keys.buildPrefix(app)).map((e) => e.value);
}

/** The app's health check: what was set, over the defaults. */
export function healthcheckOf(state: StateReader, app: string): HealthCheck {
  return { ...DEFAULT_HEALTHCHECK, ...(state.get<Partial<HealthCheck>>(keys.health(app)) ?? {}) };
}

/** The app's replica count (`scale/<app>`; 1 when never set or unreadable). */
export function replicasOf(state: StateReader, app: string): number {
  const scale = state.get<ScaleSpec>(keys.scale(app));
  return scale && Number.isInteger(scale.replicas) && scale.replicas >= 0 ? scale.replicas : 1;
}
