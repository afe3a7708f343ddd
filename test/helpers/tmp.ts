import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temp dir under the OS temp dir; remove it with the returned function. */
export function tempDir(prefix = 'pleaco-test-'): { dir: string; cleanup: () => void } {
  mkdirSync(tmpdir(), { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // Retries: a store closed just before may still be ending a background compaction in the dir.
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }) };
}
