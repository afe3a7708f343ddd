/**
 * The agent's core, started first: the store and the cluster member with discovery. It imports only what they need
 * (state, cluster, discovery), so a node joins its cluster while the rest of the agent — the API, Docker, the
 * scanner — is still loading (agent.ts loads wire-agent.ts after it; a node's membership forms in the time the
 * heavier modules take to load, which on a busy host is most of a start).
 */
import { join } from 'node:path';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import { Store, type Entry } from '../state/index.js';
import { startCluster, type ClusterParts } from './cluster.js';

export interface Core {
  store: Store;
  /** This node's cluster member; null when the cluster port is off. */
  cluster: ClusterParts | null;
}

/** Opens the store and starts the cluster member (and discovery). */
export async function startCore(o: { config: Config; nodeId: string; version: string; log: Logger }): Promise<Core> {
  const { config, nodeId, log } = o;
  const store = Store.open({ dir: join(config.stateDir, 'state'), nodeId, tombstoneTtlMs: config.store.tombstoneTtlMs, compactAfterEntries: config.store.compactAfterEntries, maxDriftMs: config.store.maxClockDriftMs });
  if (store.skippedOnLoad > 0) log.warn('state log had unreadable lines (a torn write from a crash is expected)', { skipped: store.skippedOnLoad });
  watchClock(store, log);
  try {
    return { store, cluster: await startCluster({ config, store, nodeId, version: o.version, log }) };
  } catch (err) {
    store.close();
    throw err;
  }
}

/** Logs what the store refuses for its clock: at most one line a minute, with the running count. */
function watchClock(store: Store, log: Logger): void {
  const s = store.skew;
  if (s.droppedOnLoad || s.restampedOnLoad || s.clockRefusedOnLoad) {
    log.warn('state held stamps further ahead of the wall clock than the drift bound: set aside on load', { dropped: s.droppedOnLoad, restamped: s.restampedOnLoad, clockNotFollowed: s.clockRefusedOnLoad, maxDriftMs: s.maxDriftMs });
  }
  let lastLog = 0;
  store.on('refused', (e: Entry, aheadMs: number) => {
    const now = Date.now();
    if (now - lastLog < 60_000) return;
    lastLog = now;
    log.warn('refused a state entry stamped too far ahead of this clock (a peer clock is off, or the stamp is forged)', { key: e.key, node: e.ts.node, aheadMs, refused: store.skew.count, maxDriftMs: store.skew.maxDriftMs });
  });
  store.on('compactionFailed', (err: unknown) => log.warn('state compaction failed (retried at the next one)', { error: err instanceof Error ? err.message : String(err) }));
}
