/**
 * One app name made on two sides that merged (two clusters that found each other, or a partition long enough for
 * an app to be deleted and made again). Per-key LWW has already kept the spec written last (`apps/<name>`); this
 * makes the rest of the name follow it: the dropped app's releases go, `current` moves to the kept app's newest
 * release (or none, until it is deployed), and `clashes/<name>` says what was kept and what was dropped. Pure: the
 * owner (AppService.resolveClash) writes what it returns, under the app's lock.
 */
import { keys, type AppClash, type AppSpec, type CurrentRelease, type Release, type StateReader } from '../model/index.js';
import type { WriteOp } from '../state/index.js';

const side = (s: AppSpec): AppClash['kept'] => ({ createdAt: s.createdAt, repo: s.repo, branch: s.branch });

/** The writes that resolve the clash between the kept spec and `lost`; [] when there is none (same app). */
export function clashOps(state: StateReader, name: string, lost: AppSpec, now: Date): WriteOp[] {
  const kept = state.get<AppSpec>(keys.app(name));
  if (!kept || !lost || typeof lost.createdAt !== 'string' || kept.createdAt === lost.createdAt) return [];
  const releases = state.list<Release>(keys.releasePrefix(name)).map((e) => e.value);
  const dropped = releases.filter((r) => r.appCreatedAt === lost.createdAt);
  const ops: WriteOp[] = dropped.map((r) => ({ key: keys.release(name, r.number), value: null }));
  const cur = state.get<CurrentRelease>(keys.current(name));
  const clash: AppClash = { app: name, kept: side(kept), dropped: side(lost), at: now.toISOString() };
  if (cur && dropped.some((r) => r.number === cur.release)) {
    const newest = releases.filter((r) => r.appCreatedAt === kept.createdAt).sort((a, b) => b.number - a.number)[0];
    clash.current = newest?.number ?? null;
    ops.push({ key: keys.current(name), value: newest ? ({ release: newest.number } satisfies CurrentRelease) : null });
  }
  ops.push({ key: keys.clash(name), value: clash });
  return ops;
}
