/**
 * Typed reads over any StateReader (the agent's Store, a subsystem's StateView): the lookups several readers make,
 * written once so each record is read under its key the same way everywhere.
 */
import { DEFAULT_HEALTHCHECK, type HealthCheck } from './health.js';
import { keys, type StateReader } from './keys.js';
import { isAppName } from './names.js';
import type { AppSpec, Build, CurrentRelease, Release, ScaleSpec } from './records.js';

/** The release `current/<app>` names, when both records are there. */
export function currentRelease(state: StateReader, app: string): Release | undefined {
  const cur = state.get<CurrentRelease>(keys.current(app));
  if (!cur || !Number.isInteger(cur.release)) return undefined;
  return state.get<Release>(keys.release(app, cur.release));
}

/** Every app spec under a valid app name (a replicated `apps/` record of another shape is no app: left out). */
export function appSpecs(state: StateReader): AppSpec[] {
  return state
    .list<AppSpec>('apps/')
    .filter((e) => isAppName(e.key.slice('apps/'.length)) && e.value !== null && typeof e.value === 'object' && e.value.name === e.key.slice('apps/'.length))
    .map((e) => e.value);
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
