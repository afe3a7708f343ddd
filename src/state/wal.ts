/**
 * Durable storage for the state map: a snapshot file plus a write-ahead log of JSON lines.
 * `append` resolves only after the lines are fdatasync'ed, so an acknowledged write survives
 * kill -9 and power loss. Appends that arrive while a sync is in flight are committed together
 * (group commit). A torn last line (crash mid-write) is ignored on load; replaying entries that
 * are also in the snapshot is harmless because LWW merge is idempotent.
 */
import { mkdirSync, openSync, closeSync, fsyncSync, readFileSync, renameSync, existsSync, writeSync, fdatasyncSync } from 'node:fs';
import { join } from 'node:path';
import { isHlc, type Hlc } from './hlc.js';
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
 */
function parseLines(text: string, out: Entry[]): number {
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const v = JSON.parse(line) as unknown;
      const batch = Array.isArray(v) ? v : [v];
      if (batch.every(isEntry)) out.push(...batch);
      else skipped++;
    } catch {
      skipped++;
    }
  }
  return skipped;
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
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

export class Wal {
  private fd: number;
  private pending: { lines: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  private flushing = false;
  private walEntries = 0;
  private closed = false;

  private constructor(
    private readonly dir: string,
    initialWalEntries: number,
  ) {
    this.fd = openSync(join(dir, 'state.wal'), 'a', 0o600);
    this.walEntries = initialWalEntries;
  }

  static open(dir: string): { wal: Wal; load: WalLoad } {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const entries: Entry[] = [];
    let skipped = 0;
    const snap = join(dir, 'state.snapshot');
    if (existsSync(snap)) skipped += parseLines(readFileSync(snap, 'utf8'), entries);
    const walPath = join(dir, 'state.wal');
    const before = entries.length;
    if (existsSync(walPath)) skipped += parseLines(readFileSync(walPath, 'utf8'), entries);
    return { wal: new Wal(dir, entries.length - before), load: { entries, skipped } };
  }

  /** Number of entries in the log since the last snapshot. */
  get logLength(): number {
    return this.walEntries;
  }

  append(entries: Entry[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('state log is closed'));
    if (entries.length === 0) return Promise.resolve();
    const lines = JSON.stringify(entries) + '\n';
    this.walEntries += entries.length;
    return new Promise((resolve, reject) => {
      this.pending.push({ lines, resolve, reject });
      if (!this.flushing) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    if (this.flushing || this.pending.length === 0) return;
    this.flushing = true;
    const batch = this.pending;
    this.pending = [];
    try {
      const buf = Buffer.from(batch.map((b) => b.lines).join(''));
      let off = 0;
      while (off < buf.length) off += writeSync(this.fd, buf, off);
      fdatasyncSync(this.fd);
      for (const b of batch) b.resolve();
    } catch (err) {
      for (const b of batch) b.reject(err as Error);
    } finally {
      this.flushing = false;
      if (this.pending.length) setImmediate(() => this.flush());
    }
  }

  /**
   * Replaces snapshot + log with a snapshot of `all` (which must include everything appended so far).
   * Crash-safe at every step: the new snapshot is complete before it replaces the old one, and the
   * old log is only emptied after that.
   */
  compact(all: Iterable<Entry>): void {
    const tmp = join(this.dir, 'state.snapshot.tmp');
    const fd = openSync(tmp, 'w', 0o600);
    try {
      const parts: string[] = [];
      for (const e of all) parts.push(JSON.stringify(e));
      const buf = Buffer.from(parts.join('\n') + '\n');
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir, 'state.snapshot'));
    fsyncDir(this.dir);
    const emptyTmp = join(this.dir, 'state.wal.tmp');
    closeSync(openSync(emptyTmp, 'w', 0o600));
    renameSync(emptyTmp, join(this.dir, 'state.wal'));
    fsyncDir(this.dir);
    closeSync(this.fd);
    this.fd = openSync(join(this.dir, 'state.wal'), 'a', 0o600);
    this.walEntries = 0;
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    closeSync(this.fd);
  }
}
