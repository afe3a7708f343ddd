/**
 * Desired slots of this node, read from the replicated state (pure over a read-only view):
 * every app with `apps/<app>`, `current/<app>` and that release present runs slots
 * 0..replicas-1 (`scale/<app>`, default 1), filtered by the placement (scale/: the slots this node wins; a node
 * on its own, or a test without members: every slot), each with the app's health
 * check (`health/<app>`, defaults for fields never set) for the rollout to apply.
 */
import { currentRelease, effectiveResources, healthcheckOf, isAppName, replicasOf, type AppSpec, type ResourceDefaults, type Resources, type StateReader } from '../model/index.js';
import type { Placement } from '../scale/index.js';
import type { DesiredSlot } from './plan.js';

export type { StateReader, Placement };

export const everywhere: Placement = () => true;

export interface DesiredOptions {
  placement?: Placement;
  /** config.runtime.defaultPort, for releases without a port. */
  defaultPort: number;
  /** The node's default container limits (config.app); a release's own resources win. Absent: none. */
  limits?: ResourceDefaults;
  /** The cluster domain (config.proxy.domain): health checks are sent with `Host: <app>.<domain>`. */
  domain?: string;
  /** Told about apps whose current release cannot run (no image), once per call. */
  onSkip?: (app: string, reason: string) => void;
}

export function desiredSlots(state: StateReader, opts: DesiredOptions): DesiredSlot[] {
  const out: DesiredSlot[] = [];
  for (const { key } of state.list<AppSpec>('apps/')) {
    const app = key.slice('apps/'.length);
    if (!isAppName(app)) {
      opts.onSkip?.(app, 'not a valid app name');
      continue;
    }
    const release = currentRelease(state, app);
    if (!release) continue;
    const image = release.imageId ?? release.image;
    if (!image) {
      opts.onSkip?.(app, `release ${release.number} has no image`);
      continue;
    }
    const port = release.port > 0 ? release.port : opts.defaultPort;
    out.push(...appSlots(state, app, { number: release.number, image, port, commit: release.commit, config: release.config ?? {}, resources: release.resources }, opts));
  }
  return out;
}

/** What a slot runs of one release (made, or to be made from a build). */
export interface SlotSource {
  number: number;
  image: string;
  port: number;
  commit: string | null;
  config: Record<string, string>;
  resources: Resources | undefined;
}

/** The slots of `app` this node wins, each running `src`. */
export function appSlots(state: StateReader, app: string, src: SlotSource, opts: DesiredOptions): DesiredSlot[] {
  const placement = opts.placement ?? everywhere;
  const hc = healthcheckOf(state, app);
  const health = { path: hc.path, host: `${app}.${opts.domain ?? 'localhost'}`, rise: hc.rise, deadlineMs: hc.deadlineMs };
  const replicas = replicasOf(state, app);
  const out: DesiredSlot[] = [];
  for (let i = 0; i < replicas; i++) {
    if (!placement(app, i, replicas)) continue;
    const slot: DesiredSlot = {
      app,
      index: i,
      release: src.number,
      image: src.image,
      port: src.port,
      // What the app may want to show about itself (Heroku's dyno metadata, Dokku's GIT_REV).
      env: { ...src.config, PLEACO_APP: app, PLEACO_RELEASE: `v${src.number}`, ...(src.commit ? { PLEACO_COMMIT: src.commit } : {}) },
      health,
    };
    Object.assign(slot, effectiveResources(src.resources, opts.limits));
    out.push(slot);
  }
  return out;
}
