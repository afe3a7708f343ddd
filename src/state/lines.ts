/**
 * The files under the store, read and written a line at a time: a snapshot or a log is never one string (V8 caps a
 * string at ~512 MiB), and writing a snapshot yields to the event loop every few milliseconds so gossip, probes and
 * the API keep running while a large state is compacted.
 */
import { closeSync, fsyncSync, openSync, readSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

const READ_CHUNK = 1024 * 1024;
/** Bytes of serialized lines handed to one write: below V8's large-object size, so chunks die young (no major GC). */
const WRITE_CHUNK = 64 * 1024;
/** Longest stretch of serialisation between two yields to the event loop. */
const SLICE_MS = 4;

/**
 * Calls onLine for every complete line of the file (without its newline), reading it in 1 MiB chunks. Returns
 * the byte offset just after the last newline (`end`) and the bytes after it (`tail`): a torn last line, not
 * passed to onLine. A missing file reads as empty.
 */
export function readLines(path: string, onLine: (line: string) => void): { end: number; tail: number } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { end: 0, tail: 0 };
    throw err;
  }
  try {
    const buf = Buffer.alloc(READ_CHUNK);
    let carry: Buffer[] = [];
    let pos = 0;
    let end = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(10, start);
        if (nl === -1 || nl >= n) {
          if (start < n) carry.push(Buffer.from(buf.subarray(start, n)));
          break;
        }
        const piece = buf.subarray(start, nl);
        const line = carry.length ? Buffer.concat([...carry, piece]) : piece;
        carry = [];
        if (line.length) onLine(line.toString('utf8'));
        start = nl + 1;
        end = pos + start;
      }
      pos += n;
    }
    return { end, tail: pos - end };
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes one JSON line per item to `path` (created 0600, replaced if there), fsyncs and closes it, serialising
 * in slices of a few milliseconds with a turn of the event loop between them. `stop()` true abandons the write
 * (the file is removed) and the promise resolves false.
 */
export async function writeJsonLines(path: string, items: readonly unknown[], stop: () => boolean): Promise<boolean> {
  const fh = await open(path, 'w', 0o600);
  let ok = false;
  try {
    let parts: string[] = [];
    let bytes = 0;
    let slice = performance.now();
    for (const item of items) {
      const line = JSON.stringify(item);
      parts.push(line);
      bytes += line.length;
      if (bytes >= WRITE_CHUNK) {
        await fh.write(parts.join('\n') + '\n');
        parts = [];
        bytes = 0;
        slice = performance.now();
      } else if (performance.now() - slice > SLICE_MS) {
        await yieldToLoop();
        slice = performance.now();
      }
      if (stop()) return false;
    }
    if (parts.length) await fh.write(parts.join('\n') + '\n');
    await fh.sync();
    ok = true;
    return true;
  } finally {
    await fh.close();
    if (!ok) await unlink(path).catch(() => undefined);
  }
}

/** fsyncs a directory (after a rename or unlink in it), synchronously. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The same without blocking the event loop. */
export async function fsyncDirAsync(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
