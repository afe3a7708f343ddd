/**
 * Durable storage for the state map: a snapshot file plus a write-ahead log of JSON lines.
 * `append` resolves only after the lines are fdatasync'ed, so an acknowledged write survives
 * kill -9 and power loss. Appends that arrive while a sync is in flight are committed together
 * (group commit). The lines are written synchronously (into the page cache: microseconds) and synced
 * on libuv's thread pool: a sync waits for the disk (tens of ms while it writes a snapshot or an image
 * layer), and the event loop must not wait with it. At most one batch is written and not yet synced. A write or sync that fails (a full disk, an I/O error) is cut off again (the log
 * is truncated back to the end of the last good batch) and its writers get `unavailable`; while the
 * log cannot be cut back, every append is refused the same way, so nothing is ever acknowledged
 * after a fragment. A torn last line (crash mid-write) is ignored on load and cut off before the
 * next append; replaying entries that are also in the snapshot is harmless (LWW merge is idempotent).
 *
 * Compaction runs beside the writers: the log is rotated (`state.wal` → `state.wal.old`, a new
 * empty `state.wal` takes the appends), the map as it is then is written to a new snapshot in
 * slices that yield to the event loop, and only once that snapshot has replaced the old one is
 * `state.wal.old` removed. Load order: snapshot, `state.wal.old`, `state.wal`.
 */
import { closeSync, existsSync, fdatasync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PleacoError } from '../errors.js';
import { isHlc, type Hlc } from './hlc.js';
import { fsyncDir, fsyncDirAsync, readLines, writeJsonLines } from './lines.js';
import type { Entry } from './lww.js';

export interface WalLoad {
  entries: Entry[];
  /** Lines that could not be parsed (a torn tail is expected after a crash; others are reported). */
  skipped: number;
}

function isEntry(e: unknown): e is Entry {
  const x = e as Entry;
  return !!x && typeof x.key === 'string' && isHlc(x.ts) && x.value !== undefined;
}

/**
 * Each line is one entry (snapshot) or one batch: a JSON array of the entries of one write, so a
 * multi-key write (a release and the pointer to it) is all there or not at all after a crash.
 * Read line by line; returns the lines skipped and where the last complete line ends.
 */
function loadFile(path: string, out: Entry[]): { skipped: number; end: number; tail: number } {
  let skipped = 0;
  const r = readLines(path, (line) => {
    try {
      const v = JSON.parse(line) as unknown;
      const batch = Array.isArray(v) ? v : [v];
      if (batch.every(isEntry)) for (const e of batch) out.push(e);
      else skipped++;
    } catch {
      skipped++;
    }
  });
  return { skipped: skipped + (r.tail > 0 ? 1 : 0), end: r.end, tail: r.tail };
}

/**
 * What the store remembers beside its entries (file `sync.json`): when it last completed an exchange
 * with a peer, the horizon below which it may have reaped tombstones, and its clock's high-water mark.
 */
export interface SyncMeta {
  /** Wall ms of the start of the last completed anti-entropy exchange; 0 = never synced. */
  syncedAt: number;
  /** Tombstones with a wall below this may have been reaped here (only grows). */
  reapedBefore: number;
  /** Earliest wall from which this replica's view is complete (0 = all history); null until known. */
  since: number | null;
  /** Highest stamp the clock had reached when this was written (monotonic across restarts). */
  hlc: Hlc | null;
}

/** Reads sync.json; missing or unreadable gives the fresh defaults. */
export function readMeta(dir: string): SyncMeta {
  const fresh: SyncMeta = { syncedAt: 0, reapedBefore: 0, since: null, hlc: null };
  try {
    const v = JSON.parse(readFileSync(join(dir, 'sync.json'), 'utf8')) as Partial<SyncMeta>;
    return {
      syncedAt: Number.isSafeInteger(v.syncedAt) && v.syncedAt! > 0 ? v.syncedAt! : 0,
      reapedBefore: Number.isSafeInteger(v.reapedBefore) && v.reapedBefore! > 0 ? v.reapedBefore! : 0,
      since: Number.isSafeInteger(v.since) && v.since! >= 0 ? v.since! : null,
      hlc: isHlc(v.hlc) ? v.hlc : null,
    };
  } catch {
    return fresh;
  }
}

/** Replaces sync.json durably (tmp file, fsync, rename, fsync dir). */
export function writeMeta(dir: string, meta: SyncMeta): void {
  const tmp = join(dir, 'sync.json.tmp');
  const fd = openSync(tmp, 'w', 0o600);
  try {
    const buf = Buffer.from(JSON.stringify(meta) + '\n');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, 'sync.json'));
  fsyncDir(dir);
}

const SNAPSHOT = 'state.snapshot';
const LOG = 'state.wal';
const OLD_LOG = 'state.wal.old';
const TMP_PREFIX = 'state.snapshot.tmp';
let tmpSeq = 0;

function errno(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? (err instanceof Error ? err.message : String(err));
}

interface Pending {
  lines: string;
  n: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

/** The batch written and being synced on the thread pool. */
interface InFlight {
  batch: Pending[];
  bytes: number;
  /** Settled already (by close, which syncs it itself): the thread pool's answer is then ignored. */
  settled: boolean;
}

export class Wal {
  private fd: number;
  /** Byte offset just after the last batch that was written and synced whole. */
  private good: number;
  /** Why the log refuses appends: a failed write could not be cut back yet. */
  private broken: unknown = null;
  private pending: Pending[] = [];
  private inFlight: InFlight | null = null;
  /** Descriptors to close once the sync in flight on them has answered (a closed fd number may be reused). */
  private retired: number[] = [];
  private walEntries = 0;
  private closed = false;
  private compacting: Promise<void> | null = null;

  private constructor(
    private readonly dir: string,
    initialWalEntries: number,
    goodEnd: number,
  ) {
    this.fd = openSync(join(dir, LOG), 'a', 0o600);
    this.good = goodEnd;
    this.walEntries = initialWalEntries;
  }

  static open(dir: string): { wal: Wal; load: WalLoad } {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const f of readdirSync(dir)) if (f.startsWith(TMP_PREFIX)) unlinkSync(join(dir, f)); // left by a compaction that died
    const entries: Entry[] = [];
    let skipped = loadFile(join(dir, SNAPSHOT), entries).skipped;
    const before = entries.length;
    skipped += loadFile(join(dir, OLD_LOG), entries).skipped;
    const log = loadFile(join(dir, LOG), entries);
    skipped += log.skipped;
    // A torn tail (crash mid-append) is cut off, so the next batch starts on a line of its own.
    if (log.tail > 0) {
      const fd = openSync(join(dir, LOG), 'r+');
      try {
        ftruncateSync(fd, log.end);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    return { wal: new Wal(dir, entries.length - before, log.end), load: { entries, skipped } };
  }

  /** Number of entries in the log since the last snapshot. */
  get logLength(): number {
    return this.walEntries;
  }

  /** True while a log from before the last rotation is still there (its compaction did not finish). */
  get hasOldLog(): boolean {
    return existsSync(join(this.dir, OLD_LOG));
  }

  /** Resolves once the log is durable; rejects with `unavailable` when it could not be written or synced. */
  append(entries: Entry[]): Promise<void> {
    if (this.closed) return Promise.reject(new PleacoError('unavailable', 'state log is closed'));
    if (entries.length === 0) return Promise.resolve();
    if (this.broken !== null && !this.repair()) {
      return Promise.reject(new PleacoError('unavailable', `state log cannot be written (${errno(this.broken)}): writes are refused until it can`, { cause: this.broken }));
    }
    const lines = JSON.stringify(entries) + '\n';
    this.walEntries += entries.length;
    return new Promise((resolve, reject) => {
      this.pending.push({ lines, n: entries.length, resolve, reject });
      if (!this.inFlight) setImmediate(() => this.flush());
    });
  }

  /** Writes the pending batch and syncs it on the thread pool; the next batch waits for that sync. */
  private flush(): void {
    if (this.inFlight || this.pending.length === 0 || this.closed) return;
    const batch = this.pending;
    this.pending = [];
    let buf: Buffer;
    try {
      buf = this.write(batch);
    } catch (err) {
      this.fail(batch, err);
      if (this.pending.length) setImmediate(() => this.flush());
      return;
    }
    const flight: InFlight = { batch, bytes: buf.length, settled: false };
    this.inFlight = flight;
    const fd = this.fd;
    fdatasync(fd, (err) => {
      this.inFlight = null;
      for (const r of this.retired.splice(0)) closeSync(r);
      if (!flight.settled) {
        flight.settled = true;
        if (err) this.fail(batch, err);
        else this.synced(flight);
      }
      if (this.closed) return;
      if (this.pending.length) setImmediate(() => this.flush());
    });
  }

  /** Writes a batch's lines at the end of the log (not synced); throws what the write threw. */
  private write(batch: Pending[]): Buffer {
    const buf = Buffer.from(batch.map((b) => b.lines).join(''));
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off);
    return buf;
  }

  private synced(flight: InFlight): void {
    this.good += flight.bytes;
    for (const b of flight.batch) b.resolve();
  }

  /** Nothing of a failed batch is acknowledged; it is cut off so that the next batch starts at a line of its own. */
  private fail(batch: Pending[], err: unknown): void {
    for (const b of batch) this.walEntries -= b.n;
    this.repair(err);
    const e = new PleacoError('unavailable', `state log write failed (${errno(err)}): the write was not stored`, { cause: err });
    for (const b of batch) b.reject(e);
  }

  /** Writes and syncs what is pending, synchronously (close: the process may be about to end). */
  private flushSync(): void {
    const flight = this.inFlight;
    if (flight && !flight.settled) {
      flight.settled = true; // the thread pool's answer comes later and is ignored
      try {
        fdatasyncSync(this.fd);
        this.synced(flight);
      } catch (err) {
        this.fail(flight.batch, err);
      }
    }
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    try {
      const buf = this.write(batch);
      fdatasyncSync(this.fd);
      this.synced({ batch, bytes: buf.length, settled: true });
    } catch (err) {
      this.fail(batch, err);
    }
  }

  /** Closes fd now, or once the sync in flight on it has answered. */
  private release(fd: number): void {
    if (this.inFlight) this.retired.push(fd);
    else closeSync(fd);
  }

  /** Truncates the log back to the last good batch and syncs it; false (and the log stays broken) when that fails too. */
  private repair(cause: unknown = this.broken): boolean {
    try {
      ftruncateSync(this.fd, this.good);
      fdatasyncSync(this.fd);
      this.broken = null;
      return true;
    } catch {
      this.broken = cause;
      return false;
    }
  }

  /**
   * Compacts in the background; resolves when done (rejects if it failed: the files are then as before
   * plus the rotated log, and the next compaction retries). `snapshot` is called synchronously at the
   * rotation point and must return every entry appended to the log up to then (the store's map, with
   * nothing appended but not yet applied). One compaction at a time: a call during one returns it. Not while a
   * batch is being synced (its entries are not applied yet, and would be in the rotated log only): a no-op then,
   * the store asks again after a later write.
   */
  compact(snapshot: () => readonly Entry[]): Promise<void> {
    if (this.compacting) return this.compacting;
    if (this.closed || this.broken !== null || this.inFlight) return Promise.resolve();
    const rotated = !this.hasOldLog;
    if (rotated) this.rotate();
    const entries = snapshot();
    const p = this.writeSnapshot(entries).finally(() => {
      this.compacting = null;
    });
    this.compacting = p;
    return p;
  }

  /** The compaction in flight, if any. */
  get compaction(): Promise<void> | null {
    return this.compacting;
  }

  /** Moves the log aside as state.wal.old and starts an empty one (never with a batch in flight: see compact). */
  private rotate(): void {
    renameSync(join(this.dir, LOG), join(this.dir, OLD_LOG));
    const fd = openSync(join(this.dir, LOG), 'a', 0o600);
    fsyncDir(this.dir);
    this.release(this.fd);
    this.fd = fd;
    this.good = 0;
    this.walEntries = 0;
  }

  private async writeSnapshot(entries: readonly Entry[]): Promise<void> {
    const tmp = join(this.dir, `${TMP_PREFIX}-${process.pid}-${++tmpSeq}`);
    if (!(await writeJsonLines(tmp, entries, () => this.closed))) return;
    if (this.closed) {
      await unlink(tmp).catch(() => undefined);
      return;
    }
    await rename(tmp, join(this.dir, SNAPSHOT));
    await fsyncDirAsync(this.dir);
    await unlink(join(this.dir, OLD_LOG)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await fsyncDirAsync(this.dir);
  }

  /** Syncs what is in flight and writes what is pending (their writers resolve), then closes the log. */
  close(): void {
    if (this.closed) return;
    this.flushSync();
    this.closed = true;
    for (const b of this.pending.splice(0)) b.reject(new PleacoError('unavailable', 'state log is closed'));
    this.release(this.fd);
  }
}
