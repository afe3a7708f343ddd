/**
 * File-system helpers for the advisory store: fsync of files and directories, a durable replace (temp + fsync +
 * rename + fsync of the directory) and a hashing tee.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';

export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces `path` with `data` so a reader sees the old or the new content, never a mix. */
export async function writeDurable(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await fsyncPath(join(path, '..'));
}

/** A tee that hashes what passes through. */
export function hasher(): Transform & { hex(): string } {
  const h = createHash('sha256');
  const t = new Transform({ transform: (c: Buffer, _e, cb) => (h.update(c), cb(null, c)) }) as Transform & { hex(): string };
  t.hex = () => h.digest('hex');
  return t;
}
