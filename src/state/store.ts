/**
 * The node's copy of the replicated state: an LWW map stamped by a hybrid logical clock, persisted
 * through the write-ahead log before a write is acknowledged. Local writes and merged remote
 * entries both go through here and are announced as 'change' events (the watch stream and, from
 * issue #4 on, gossip deltas are fed from them).
 */
import { EventEmitter } from 'node:events';
import { PleacoError } from '../errors.js';
import { HybridClock } from './hlc.js';
import { LwwMap, wins, type Entry } from './lww.js';
import { Wal } from './wal.js';

export interface StoreOptions {
  dir: string;
  nodeId: string;
  tombstoneTtlMs: number;
  compactAfterEntries: number;
  wallNow?: () => number;
}

export interface WriteOp {
  key: string;
  /** null deletes the key (writes a tombstone). */
  value: unknown;
}

export const KEY_RE = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._#:-]+)*$/;

/** A key the store accepts: KEY_RE, at most 512 characters, no `.` or `..` segment. */
export function isValidKey(key: unknown): key is string {
  return typeof key === 'string' && key.length <= 512 && KEY_RE.test(key) && !key.split('/').some((seg) => seg === '.' || seg === '..');
}

export class Store extends EventEmitter {
  readonly clock: HybridClock;
  private readonly map = new LwwMap();
  private readonly wal: Wal;
  /** Entries handed to the log but not yet applied to the map; compaction waits until there are none. */
  private unapplied = 0;
  /** Lines of the persisted log that could not be read on start (a torn tail after a crash). */
  readonly skippedOnLoad: number;

  private constructor(private readonly opts: StoreOptions) {
    super();
    this.setMaxListeners(0);
    this.clock = new HybridClock(opts.nodeId, opts.wallNow);
    const { wal, load } = Wal.open(opts.dir);
    this.wal = wal;
    for (const e of load.entries) {
      this.map.apply(e);
      this.clock.observe(e.ts);
    }
    this.skippedOnLoad = load.skipped;
    this.reapAndCompact(true);
  }

  static open(opts: StoreOptions): Store {
    return new Store(opts);
  }

  get nodeId(): string {
    return this.opts.nodeId;
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

  put(key: string, value: unknown): Promise<Entry> {
    return this.batch([{ key, value }]).then((es) => es[0]!);
  }

  delete(key: string): Promise<Entry> {
    return this.put(key, null);
  }

  /** Stamps, persists (fsync) and applies local writes. Resolves once they are durable. */
  async batch(ops: WriteOp[]): Promise<Entry[]> {
    for (const op of ops) this.assertWritable(op.key, op.value);
    const stamped: Entry[] = ops.map((op) => ({ key: op.key, value: op.value ?? null, ts: this.clock.now() }));
    await this.persistThenApply(stamped);
    return stamped;
  }

  /** Merges entries from another replica; persists and announces only those that win. */
  async merge(remote: Entry[]): Promise<Entry[]> {
    const winners = remote.filter((e) => {
      const cur = this.map.getEntry(e.key);
      return !cur || wins(e, cur);
    });
    for (const e of remote) this.clock.observe(e.ts);
    return this.persistThenApply(winners);
  }

  /**
   * Appends to the log, waits for the sync, then applies. Compaction snapshots the map, so it must
   * not run while any appended entry is still waiting to be applied (a group commit resolves several
   * writers at once): it runs only when nothing is in between.
   */
  private async persistThenApply(entries: Entry[]): Promise<Entry[]> {
    if (entries.length === 0) return [];
    this.unapplied += entries.length;
    try {
      await this.wal.append(entries);
    } catch (err) {
      this.unapplied -= entries.length;
      throw err;
    }
    this.unapplied -= entries.length;
    const applied = entries.filter((e) => this.map.apply(e));
    for (const e of applied) this.emit('change', e);
    this.maybeCompact();
    return applied;
  }

  private assertWritable(key: string, value: unknown): void {
    if (!isValidKey(key)) throw new PleacoError('bad_request', `invalid state key ${JSON.stringify(key)}`);
    if (value === undefined) throw new PleacoError('bad_request', `no value for ${key}`);
    const m = /^obs\/([^/]+)\//.exec(key);
    if (m && m[1] !== this.opts.nodeId) {
      throw new PleacoError('forbidden', `observed state under ${m[1]} is written only by that node`);
    }
  }

  private maybeCompact(): void {
    if (this.unapplied === 0 && this.wal.logLength >= this.opts.compactAfterEntries) this.reapAndCompact(false);
  }

  private reapAndCompact(force: boolean): void {
    const wallNow = (this.opts.wallNow ?? Date.now)();
    const reaped = this.map.reap(wallNow - this.opts.tombstoneTtlMs);
    if (force || reaped > 0 || this.wal.logLength >= this.opts.compactAfterEntries) this.wal.compact(this.map.all());
  }

  close(): void {
    this.wal.close();
    this.removeAllListeners();
  }
}

/** Soft state: values with a time to live, kept in memory only and never persisted. */
export class SoftState<T = unknown> {
  private readonly values = new Map<string, { value: T; expires: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  set(key: string, value: T, ttlMs: number): void {
    this.values.set(key, { value, expires: this.now() + ttlMs });
  }

  get(key: string): T | undefined {
    const v = this.values.get(key);
    if (!v) return undefined;
    if (v.expires <= this.now()) {
      this.values.delete(key);
      return undefined;
    }
    return v.value;
  }

  list(prefix = ''): { key: string; value: T }[] {
    const out: { key: string; value: T }[] = [];
    for (const k of [...this.values.keys()]) {
      const v = k.startsWith(prefix) ? this.get(k) : undefined;
      if (v !== undefined) out.push({ key: k, value: v });
    }
    return out;
  }

  /** How many unexpired values there are (expired ones are dropped on the way). */
  size(): number {
    const now = this.now();
    for (const [k, v] of this.values) if (v.expires <= now) this.values.delete(k);
    return this.values.size;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }
}
