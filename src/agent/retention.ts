/**
 * Build retention: what an app's history keeps, and the pass that drops the rest on this node. Kept per app: the
 * newest `keepBuilds` builds, every queued or running build, and the builds of the current release and of the
 * rollback targets (the newest `keepBuilds` releases). Every other build is removed with its scan report and SBOM,
 * as tombstones, so every node drops them; releases themselves are kept (they are small, and the history of what
 * ran). Every agent runs the pass (main/wire-agent.ts wires it into a Reconciler): two agents pruning at once write
 * tombstones of the same keys, which merge to the same result, so no owner is needed. Log files are per node: each
 * agent removes those of builds it no longer holds.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Store, WriteOp } from '../state/index.js';
import { keys, type Build, type CurrentRelease, type Release } from '../model/index.js';
import type { BuildLogs } from './buildlogs.js';

/** A log file without a build record is left this long (its record may still be on its way from another node). */
export const LOG_GRACE_MS = 3600_000;

export interface RetentionOptions {
  store: Store;
  logs: BuildLogs;
  keepBuilds: number;
  now?: () => number;
}

export interface RetentionResult {
  /** Builds removed (with their scan reports and SBOMs). */
  builds: number;
  /** State keys tombstoned. */
  keys: number;
  /** Log files removed. */
  logs: number;
}

/** The builds of one app to remove, given its builds, releases and current release number (pure). */
export function buildsToPrune(builds: readonly Build[], releases: readonly Release[], current: number | null, keep: number): string[] {
  const kept = new Set<string>();
  const newest = [...builds].sort((a, b) => (a.id < b.id ? 1 : -1));
  for (const b of newest.slice(0, keep)) kept.add(b.id);
  for (const b of builds) if (b.status === 'queued' || b.status === 'running') kept.add(b.id);
  const targets = [...releases].sort((a, b) => b.number - a.number).slice(0, keep);
  for (const r of releases) if (r.number === current) targets.push(r);
  for (const r of targets) if (r.build) kept.add(r.build);
  return newest.filter((b) => !kept.has(b.id)).map((b) => b.id);
}

/** Entries held under `builds/` and `releases/`, by app: one walk over the store, yielding to the event loop as it goes. */
async function history(store: Store): Promise<{ builds: Map<string, Build[]>; releases: Map<string, Release[]> }> {
  const builds = new Map<string, Build[]>();
  const releases = new Map<string, Release[]>();
  let n = 0;
  for (const e of store.allEntriesIter()) {
    if (++n % 5000 === 0) await yieldToLoop(); // a Map iterator survives writes in between
    if (e.value === null) continue;
    const into = e.key.startsWith('builds/') ? (builds as Map<string, unknown[]>) : e.key.startsWith('releases/') ? (releases as Map<string, unknown[]>) : null;
    if (!into) continue;
    const app = e.key.split('/')[1]!;
    let list = into.get(app);
    if (!list) into.set(app, (list = []));
    list.push(e.value);
  }
  return { builds, releases };
}

export class BuildRetention {
  constructor(private readonly o: RetentionOptions) {}

  /** One pass over every app, then over the log files on this node. */
  async prune(): Promise<RetentionResult> {
    const res: RetentionResult = { builds: 0, keys: 0, logs: 0 };
    const { store } = this.o;
    const { builds, releases } = await history(store);
    for (const [app, list] of builds) {
      if (list.length <= this.o.keepBuilds) continue;
      const current = store.get<CurrentRelease>(keys.current(app))?.release ?? null;
      const drop = buildsToPrune(list, releases.get(app) ?? [], current, this.o.keepBuilds);
      if (drop.length === 0) continue;
      const ops: WriteOp[] = [];
      for (const id of drop) {
        for (const key of [keys.build(app, id), keys.scan(app, id), keys.sbom(app, id)]) if (store.get(key) !== undefined) ops.push({ key, value: null });
      }
      await store.batch(ops);
      res.builds += drop.length;
      res.keys += ops.length;
      await yieldToLoop(); // one app at a time, the event loop in between
    }
    res.logs = await this.sweepLogs();
    return res;
  }

  /** Removes log files of builds this node does not hold: at once when the build was deleted, after LOG_GRACE_MS otherwise. */
  private async sweepLogs(): Promise<number> {
    const now = (this.o.now ?? Date.now)();
    let n = 0;
    for (const f of await this.o.logs.list()) {
      const key = keys.build(f.app, f.id);
      if (this.o.store.get(key) !== undefined) continue;
      const deleted = this.o.store.getEntry(key)?.value === null || this.o.store.get(keys.app(f.app)) === undefined;
      if (!deleted && now - f.mtimeMs < LOG_GRACE_MS) continue;
      await this.o.logs.remove(f.app, f.id);
      n++;
    }
    return n;
  }
}
