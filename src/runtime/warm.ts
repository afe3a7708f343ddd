/**
 * Slots started ahead of their release ("warm"): while an app's newest build runs its tests and scan, each node
 * starts the slots it wins of the release that build will become — the next release number, its image, its port,
 * the app's config and limits as they are now — unrouted (no slot record names them, so no proxy sends them
 * traffic). When the release is made, a warm container whose spec (runtime specHash) matches its slot's desired
 * spec is adopted and takes traffic as soon as the rollout lets its slot switch (plan.ts); a wrong guess (another
 * release took the number, the config changed) is removed and the slot starts as before. A build that fails its
 * gates leaves nothing behind: its warm containers belong to no desired release and are removed.
 */
import type { Logger } from '../log.js';
import { appSpecs, buildsOf, configOf, isCommitSha, isDigest, keys, slotName, type Build, type Release, type StateReader } from '../model/index.js';
import { appSlots, type DesiredOptions } from './desired.js';
import { isEngineDown } from './engine.js';
import type { EnsureImage } from './images/index.js';
import { warmKey, type DesiredSlot } from './plan-types.js';
import type { ContainerRuntime } from './runtime.js';

/** The build stages after the image is built and its labels checked: its release is known but for the gates. */
const WARM_STAGES: ReadonlySet<string> = new Set(['test', 'scan', 'release']);
/**
 * A build that succeeded stays warm this long while its release has not reached this node's view yet (the build
 * record may arrive first): its containers are not removed in between.
 */
const RELEASE_LAG_MS = 30_000;

/** The app's build whose release is to come (newest first), with that release's number. */
function pendingRelease(builds: Build[], releases: Release[], now: number): { build: Build; number: number } | null {
  const candidates = builds
    .filter((b) => isDigest(b.imageId) && Number.isInteger(b.port) && b.port! > 0 && isCommitSha(b.commit ?? ''))
    .filter((b) => (b.status === 'running' && WARM_STAGES.has(b.stage)) || (b.status === 'succeeded' && Number.isInteger(b.release) && now - Date.parse(b.finishedAt ?? '') < RELEASE_LAG_MS))
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id < b.id ? 1 : -1));
  const build = candidates[0];
  if (!build || releases.some((r) => r.build === build.id)) return null; // released: desiredSlots has it
  const last = releases.reduce((m, r) => Math.max(m, Number.isInteger(r.number) ? r.number : 0), 0);
  return { build, number: build.status === 'succeeded' ? build.release! : last + 1 };
}

/** This node's warm slots: of each app's build whose release is to come, the slots this node wins. */
export function warmSlots(state: StateReader, opts: DesiredOptions & { now: number }): DesiredSlot[] {
  const out: DesiredSlot[] = [];
  for (const spec of appSpecs(state)) {
    const app = spec.name;
    const releases = state.list<Release>(keys.releasePrefix(app)).map((e) => e.value);
    const next = pendingRelease(buildsOf(state, app), releases, opts.now);
    if (!next) continue;
    const { build, number } = next;
    out.push(...appSlots(state, app, { number, image: build.imageId!, port: build.port!, commit: build.commit!, config: configOf(state, app), resources: spec.resources }, opts));
  }
  return out;
}

/** The runner's warm starts: each started once (a failure is logged, not retried: the slot starts with its release). */
export class WarmStarts {
  private readonly tried = new Set<string>();

  constructor(private readonly d: { runtime: ContainerRuntime; ensureImage?: EnsureImage; log: Logger }) {}

  /** The warm slots started already (PlanInput.warmTried). */
  get started(): ReadonlySet<string> {
    return this.tried;
  }

  async start(spec: DesiredSlot): Promise<void> {
    this.tried.add(warmKey(spec));
    const slot = slotName(spec.app, spec.index);
    try {
      await this.d.ensureImage?.(spec.image, spec.app);
      const c = await this.d.runtime.create(spec);
      this.d.log.info('container started ahead of its release (warm, unrouted)', { slot, release: spec.release, container: c.id.slice(0, 12), hostPort: c.hostPort });
    } catch (err) {
      if (isEngineDown(err)) throw err;
      this.d.log.warn('warm start failed; the slot starts when its release is made', { slot, release: spec.release, error: err instanceof Error ? err.message : String(err) });
    }
  }

  /** Forgets the starts of slots no longer warm (the set stays small). */
  keep(warm: DesiredSlot[]): void {
    const live = new Set(warm.map(warmKey));
    for (const k of this.tried) if (!live.has(k)) this.tried.delete(k);
  }
}
