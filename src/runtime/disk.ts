/**
 * The disk watch: free space of the file systems pleaco writes to (its state dir, the engine's data root). Below the
 * minimum (PLEACO_MIN_FREE_DISK) the builder removes old images first and then refuses builds, and the API refuses
 * deploys, with `insufficient_storage` (507) naming the path and the figures.
 */
import { statfs } from 'node:fs/promises';
import { PleacoError } from '../errors.js';
import { formatSize } from '../model/index.js';

export interface DiskSpace {
  path: string;
  freeBytes: number;
  totalBytes: number;
}

/** Free space (for an unprivileged writer) and size of the file system holding `path`. */
export async function diskSpace(path: string): Promise<DiskSpace> {
  const s = await statfs(path);
  return { path, freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
}

/** The paths (null and unreadable ones skipped) whose file system has less than `minFreeBytes` free. */
export async function lowDisks(paths: Array<string | null>, minFreeBytes: number): Promise<DiskSpace[]> {
  const out: DiskSpace[] = [];
  for (const p of new Set(paths.filter((x): x is string => typeof x === 'string'))) {
    const d = await diskSpace(p).catch(() => null);
    if (d && d.freeBytes < minFreeBytes) out.push(d);
  }
  return out;
}

/** The error a refused build or deploy carries. */
export function diskFull(low: DiskSpace[], minFreeBytes: number, what: string, imagesRemoved = false): PleacoError {
  const where = low.map((d) => `${d.path} has ${formatSize(d.freeBytes)} free of ${formatSize(d.totalBytes)}`).join('; ');
  const done = imagesRemoved ? ' even after removing old images' : '';
  return new PleacoError('insufficient_storage', `${what}: ${where}, below the ${formatSize(minFreeBytes)} pleaco keeps free (PLEACO_MIN_FREE_DISK)${done}; free some space and try again`, {
    details: { disks: low },
  });
}
