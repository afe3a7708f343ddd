/**
 * The node's copy of the replicated state: an LWW map stamped by a hybrid logical clock, persisted
 * through the write-ahead log before a write is acknowledged. Local writes (`batch`) and entries from
 * peers (`applyRemote`) both go through here and are announced as 'change' events `(entry, origin)`;
 * the watch stream, the subsystems and the gossip deltas (replica.ts) are fed from them. A bucketed
 * digest of every entry (tombstones included) is kept up to date for anti-entropy (digest.ts).
 */
import { EventEmitter } from 'node:events';
import { PleacoError } from '../errors.js';
import { DigestIndex } from './digest.js';
import { compareHlc, HybridClock, type Hlc, type SkewReport } from './hlc.js';
import { LwwMap, wins, type Entry } from './lww.js';
import { checkRemoteEntry, DEFAULT_MAX_VALUE_BYTES, isValidKey, obsWriter, valueJson, type RejectReason } from './validate.js';
import { readMeta, Wal, writeMeta, type SyncMeta } from './wal.js';

export { KEY_RE, isValidKey } from './validate.js';
export { SoftState } from './soft.js';

/** Pause after a failed compaction before the next attempt. */
const COMPACT_RETRY_MS = 30_000;

export interface StoreOptions {
  dir: string;
  nodeId: string;
  tombstoneTtlMs: number;
  compactAfterEntries: number;
  wallNow?: () => number;
  /** Largest value (serialized JSON bytes) accepted from local writers and from peers. Default 1 MiB. */
  maxValueBytes?: number;
  /** Remote stamps further ahead of our wall clock are refused and counted as skew (hlc.ts). Default 60 s. */
  maxDriftMs?: number;
}

export interface WriteOp {
  key: string;
  /** null deletes the key (writes a tombstone). */
  value: unknown;
}

/** Where a change came from: a local writer, or a peer (gossip delta, anti-entropy). */
export type ChangeOrigin = 'local' | 'remote';

/** Outcome of merging a batch from a peer. */
export interface RemoteApplyResult {
  /** Entries that changed the map (persisted, announced). */
  applied: Entry[];
  /** Valid entries not newer than what we hold (duplicates, late arrivals). */
  stale: number;
  /** Entries refused by validation, skipped without affecting the rest of the batch. */
  rejected: number;
  reasons: Partial<Record<RejectReason, number>>;
}

export class Store extends EventEmitter {
  readonly clock: HybridClock;
  private readonly map = new LwwMap();
  private readonly index = new DigestIndex();
  private readonly wal: Wal;
  private meta: SyncMeta;
  private readonly maxValueBytes: number;
  /** Entries handed to the log but not yet applied to the map; compaction waits until there are none. */
  private unapplied = 0;
  private closed = false;
  /** Lines of the persisted log that could not be read on start (a torn tail after a crash). */
  readonly skippedOnLoad: number;
  /** Totals over this process's life for entries from peers. */
  readonly remoteStats = { applied: 0, stale: 0, rejected: 0 };
  /** What the load found stamped beyond the drift bound: others' entries dropped, ours re-stamped, the persisted clock not followed. */
  private readonly clockOnLoad = { dropped: 0, restamped: 0, hlcRefused: false };
  /** After a failed compaction, the next one waits until then (ms). */
  private compactNotBefore = 0;
  /** Compactions over this process's life; a failed one is retried at the next trigger after COMPACT_RETRY_MS. */
  readonly compactions = { ok: 0, failed: 0, lastError: null as string | null };

  private constructor(private readonly opts: StoreOptions) {
    super();
    this.setMaxListeners(0);
    this.maxValueBytes = opts.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    this.clock = new HybridClock(opts.nodeId, opts.wallNow, opts.maxDriftMs);
    const { wal, load } = Wal.open(opts.dir);
    this.wal = wal;
    this.meta = readMeta(opts.dir);
    for (const e of load.entries) this.map.apply(e);
    const quarantined = this.quarantineFuture();
    for (const e of this.map.all()) this.index.replace(undefined, e);
    this.skippedOnLoad = load.skipped;
    const reaped = this.reapNow();
    if (quarantined > 0 || reaped > 0 || wal.hasOldLog || wal.logLength >= opts.compactAfterEntries) this.compact();
  }

  /**
   * On load, what a peer could no longer send us: entries stamped further ahead of our wall clock than the
   * drift bound (persisted before the bound existed, or our clock went back by more than it). Another node's
   * are dropped, as they would be refused if they arrived now (they come back through anti-entropy once our
   * clock is within the bound of them); our own are kept, re-stamped now. The clock restores the highest
   * stamp within the bound only. Returns how many entries changed.
   */
  private quarantineFuture(): number {
    const future: Entry[] = [];
    let high: Hlc | null = this.meta.hlc && this.clock.accepts(this.meta.hlc) ? this.meta.hlc : null;
    if (this.meta.hlc && !high) this.clockOnLoad.hlcRefused = true;
    for (const e of this.map.all()) {
      if (!this.clock.accepts(e.ts)) future.push(e);
      else if (!high || compareHlc(e.ts, high) > 0) high = e.ts;
    }
    if (high) this.clock.restore(high);
    for (const e of future) {
      this.map.remove(e.key);
      if (e.ts.node !== this.opts.nodeId) this.clockOnLoad.dropped++;
      else {
        this.map.apply({ key: e.key, value: e.value, ts: this.clock.now() });
        this.clockOnLoad.restamped++;
      }
    }
    return future.length;
  }

  static open(opts: StoreOptions): Store {
    return new Store(opts);
  }

  get nodeId(): string {
    return this.opts.nodeId;
  }

  get tombstoneTtlMs(): number {
    return this.opts.tombstoneTtlMs;
  }

  /** The wall clock the store uses (injected in tests). */
  wallNow(): number {
    return (this.opts.wallNow ?? Date.now)();
  }

  get<T>(key: string): T | undefined {
    return this.map.get(key) as T | undefined;
  }

  getEntry(key: string): Entry | undefined {
    return this.map.getEntry(key);
  }

  list<T>(prefix: string): { key: string; value: T }[] {
    return this.map.list(prefix).map((e) => ({ key: e.key, value: e.value as T }));
  }

  /** Live entries (with their stamps) under prefix. */
  entries(prefix = ''): Entry[] {
    return this.map.list(prefix);
  }

  /** Every entry including tombstones, for sync. */
  allEntries(): Entry[] {
    return [...this.map.all()];
  }

  /** The same without copying (do not write while iterating). */
  allEntriesIter(): IterableIterator<Entry> {
    return this.map.all();
  }

  /** The anti-entropy digest of every entry held (read it, never change it). */
  get digest(): DigestIndex {
    return this.index;
  }

  put(key: string, value: unknown): Promise<Entry> {
    return this.batch([{ key, value }]).then((es) => es[0]!);
  }

  delete(key: string): Promise<Entry> {
    return this.put(key, null);
  }

  /**
   * Stamps, persists (fsync) and applies local writes. Resolves once they are durable. Values are
   * stored as a JSON copy, so the map holds exactly what the log and every peer hold.
   */
  async batch(ops: WriteOp[]): Promise<Entry[]> {
    const values = ops.map((op) => this.checkWritable(op.key, op.value));
    const stamped: Entry[] = ops.map((op, i) => ({ key: op.key, value: values[i], ts: this.clock.now() }));
    await this.persistThenApply(stamped, 'local');
    return stamped;
  }

  /**
   * Merges entries from another replica by LWW. Each entry is validated on its own (a bad one is
   * skipped and counted, never fails the batch); a stamp further ahead of our clock than the drift
   * bound is refused too (reason `future`, announced as 'refused' `(entry, aheadMs)`); every other
   * stamp is observed into the clock; the
   * winners are persisted (fsync) before this resolves and announced as 'change' with origin 'remote'.
   * Observed state of other nodes is accepted here (its single writer is checked by stamp instead).
   */
  async applyRemote(remote: readonly unknown[]): Promise<RemoteApplyResult> {
    const res: RemoteApplyResult = { applied: [], stale: 0, rejected: 0, reasons: {} };
    const byKey = new Map<string, Entry>();
    for (const raw of remote) {
      const c = checkRemoteEntry(raw, this.maxValueBytes);
      if (!c.ok) {
        res.rejected++;
        res.reasons[c.reason] = (res.reasons[c.reason] ?? 0) + 1;
        continue;
      }
      const e = c.entry;
      if (!this.clock.observe(e.ts)) {
        res.rejected++;
        res.reasons.future = (res.reasons.future ?? 0) + 1;
        this.emit('refused', e, this.clock.aheadOf(e.ts));
        continue;
      }
      const cur = byKey.get(e.key) ?? this.map.getEntry(e.key);
      if (cur && !wins(e, cur)) {
        res.stale++;
        continue;
      }
      if (byKey.has(e.key)) res.stale++;
      byKey.set(e.key, e);
    }
    res.applied = await this.persistThenApply([...byKey.values()], 'remote');
    res.stale += byKey.size - res.applied.length;
    this.remoteStats.applied += res.applied.length;
    this.remoteStats.stale += res.stale;
    this.remoteStats.rejected += res.rejected;
    return res;
  }

  /** Merges entries from another replica; resolves with those that won (see applyRemote). */
  async merge(remote: Entry[]): Promise<Entry[]> {
    return (await this.applyRemote(remote)).applied;
  }

  /**
   * Appends to the log, waits for the sync, then applies. Compaction snapshots the map, so it must
   * not run while any appended entry is still waiting to be applied (a group commit resolves several
   * writers at once): it runs only when nothing is in between.
   */
  private async persistThenApply(entries: Entry[], origin: ChangeOrigin): Promise<Entry[]> {
    if (entries.length === 0) return [];
    this.unapplied += entries.length;
    try {
      await this.wal.append(entries);
    } finally {
      this.unapplied -= entries.length;
    }
    const applied: Entry[] = [];
    const overwritten: [Entry, Entry][] = [];
    for (const e of entries) {
      const prev = this.map.getEntry(e.key);
      if (!this.map.apply(e)) continue;
      this.index.replace(prev, e);
      applied.push(e);
      if (origin === 'remote' && prev && prev.value !== null && prev.ts.node !== e.ts.node) overwritten.push([prev, e]);
    }
    for (const e of applied) this.emit('change', e, origin);
    // A value another node wrote replaced one written elsewhere (LWW): the loser is told once, for the records
    // that must not be lost that way (releases numbered on both sides of a partition: agent/releaseguard.ts).
    for (const [prev, e] of overwritten) this.emit('overwritten', prev, e);
    this.maybeCompact();
    return applied;
  }

  /** Throws unless a local writer may write this; returns the value as stored (a JSON copy, or null). */
  private checkWritable(key: string, value: unknown): unknown {
    if (!isValidKey(key)) throw new PleacoError('bad_request', `invalid state key ${JSON.stringify(key)}`);
    if (value === undefined) throw new PleacoError('bad_request', `no value for ${key}`);
    const writer = obsWriter(key);
    if (writer !== null && writer !== this.opts.nodeId) {
      throw new PleacoError('forbidden', `observed state under ${writer} is written only by that node`);
    }
    const v = valueJson(value, this.maxValueBytes);
    if ('reason' in v) {
      if (v.reason === 'too_large') throw new PleacoError('payload_too_large', `value of ${key} is larger than ${this.maxValueBytes} bytes`);
      throw new PleacoError('bad_request', `value of ${key} is not JSON`);
    }
    return JSON.parse(v.json) as unknown;
  }

  /** Sync bookkeeping (last completed exchange, reap horizon); a copy. */
  syncMeta(): SyncMeta {
    return { ...this.meta };
  }

  /** Persists the start time of a completed anti-entropy exchange and the view's completeness start (see sync.ts). */
  recordSync(syncedAt: number, since: number | null): void {
    this.meta = { ...this.meta, syncedAt, since, hlc: this.clock.peek() };
    writeMeta(this.opts.dir, this.meta);
  }

  /**
   * Tombstones older than this may be reaped now: `now - tombstoneTtlMs`, but never past the last
   * completed sync, so a node that is cut off keeps the deletes it made meanwhile until it can pass them on.
   */
  reapHorizon(): number {
    const byAge = this.wallNow() - this.opts.tombstoneTtlMs;
    return this.meta.syncedAt > 0 ? Math.min(byAge, this.meta.syncedAt) : byAge;
  }

  /**
   * Reaps tombstones below reapHorizon() from memory and the digest, and raises reapedBefore to it.
   * When something was reaped, the horizon is persisted before anyone can see the keys missing (the
   * files shrink at the next compaction, which persists it too). Returns how many were reaped.
   */
  reapNow(): number {
    const horizon = this.reapHorizon();
    const n = this.map.reap(horizon, (e) => this.index.replace(e, undefined));
    this.meta = { ...this.meta, reapedBefore: Math.max(horizon, this.meta.reapedBefore), hlc: this.clock.peek() };
    if (n > 0) writeMeta(this.opts.dir, this.meta);
    return n;
  }

  private maybeCompact(): void {
    if (!this.closed && this.unapplied === 0 && !this.wal.compaction && this.wal.logLength >= this.opts.compactAfterEntries && Date.now() >= this.compactNotBefore) {
      this.reapNow();
      this.compact();
    }
  }

  /**
   * Starts a compaction in the background (wal.ts): the map as it is now becomes the snapshot. The
   * clock's high-water is persisted first, so it survives even if its entry is compacted away.
   */
  private compact(): void {
    this.meta = { ...this.meta, hlc: this.clock.peek() };
    writeMeta(this.opts.dir, this.meta);
    this.wal.compact(() => [...this.map.all()]).then(
      () => {
        this.compactions.ok++;
      },
      (err: unknown) => {
        this.compactNotBefore = Date.now() + COMPACT_RETRY_MS; // a full disk is not retried at every write
        this.compactions.failed++;
        this.compactions.lastError = err instanceof Error ? err.message : String(err);
        this.emit('compactionFailed', err);
      },
    );
  }

  /** Entries in the log since the last snapshot (compaction starts at compactAfterEntries). */
  get logLength(): number {
    return this.wal.logLength;
  }

  /** Resolves when no compaction is running (one in flight is waited for; a failed one is not an error here). */
  async whenIdle(): Promise<void> {
    await this.wal.compaction?.catch(() => undefined);
  }

  /** Remote stamps refused for being ahead of our wall clock by more than maxDriftMs, and what the load set aside. */
  get skew(): SkewReport & { droppedOnLoad: number; restampedOnLoad: number; clockRefusedOnLoad: boolean } {
    return { ...this.clock.skew, droppedOnLoad: this.clockOnLoad.dropped, restampedOnLoad: this.clockOnLoad.restamped, clockRefusedOnLoad: this.clockOnLoad.hlcRefused };
  }

  /** True when a stamp is within the drift bound of our clock (one applyRemote would accept). */
  acceptsStamp(ts: Hlc): boolean {
    return this.clock.accepts(ts);
  }

  /** Flushes pending appends (their writers resolve) and closes the log; a compaction in flight stops (see whenIdle). */
  close(): void {
    this.closed = true;
    this.wal.close();
    this.removeAllListeners();
  }
}
