/**
 * One app name made on two sides that merged (two clusters that found each other, or a partition long enough for
 * an app to be deleted and made again). Per-key LWW has already kept the spec written last (`apps/<name>`); this
 * makes the rest of the name follow it: the dropped app's releases go, `current` moves to the kept app's newest
 * release (or none, until it is deployed), and `clashes/<name>` says what was kept and what was dropped. Pure: the
 * owner (AppService.resolveClash) writes what it returns, under the app's lock. Also the owner's decision for a
 * release that lost its number (AppService.readoptRelease), which must not keep a release of the dropped app.
 */
import { keys, type AppClash, type AppSpec, type CurrentRelease, type Release, type StateReader } from '../model/index.js';
import type { WriteOp } from '../state/index.js';

/** Same release: a rewrite of it (its failure recorded, say) is no loss. */
export function sameRelease(a: Release, b: Release | null | undefined): boolean {
  return !!b && a.createdAt === b.createdAt && a.kind === b.kind && a.build === b.build;
}

/**
 * A release that lost its number to another written for the same number elsewhere: the one already kept (same
 * release), or the release to write under the next free number (`renumberedFrom`), or null when there is nothing to
 * keep — no app, a malformed record, or a release of another app of this name (a merge kept the other spec).
 */
export function readopted(state: StateReader, name: string, lost: Release): { kept: Release } | { write: Release } | null {
  const spec = state.get<AppSpec>(keys.app(name));
  if (!spec || typeof lost?.createdAt !== 'string' || !Number.isSafeInteger(lost.number) || (lost.appCreatedAt && lost.appCreatedAt !== spec.createdAt)) return null;
  const all = state.list<Release>(keys.releasePrefix(name)).map((e) => e.value);
  const kept = all.find((r) => sameRelease(lost, r));
  if (kept) return { kept };
  const number = all.reduce((m, r) => Math.max(m, r.number), 0) + 1;
  return { write: { ...lost, app: name, number, renumberedFrom: lost.number, description: `${lost.description} (was v${lost.number}: released on both sides of a partition)` } };
}

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
