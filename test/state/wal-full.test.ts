import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, openSync, closeSync, writeSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../../src/state/index.js';
import { PleacoError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

const isRoot = process.getuid?.() === 0;

/** Mounts a small tmpfs (a real filesystem that fills up) for the body, unmounted and removed after. */
async function withSmallFs(sizeKb: number, body: (dir: string, open: (dir: string) => Store) => Promise<void>): Promise<void> {
  const tmp = tempDir('pleaco-fullfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k,mode=0700`, 'tmpfs', tmp.dir]);
  const stores: Store[] = [];
  try {
    await body(tmp.dir, (dir) => {
      const s = Store.open(opts(dir));
      stores.push(s);
      return s;
    });
  } finally {
    for (const s of stores) s.close();
    execFileSync('umount', ['-l', tmp.dir]);
    tmp.cleanup();
  }
}

/** Writes a filler file until the filesystem is full; returns its path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return path;
}

const opts = (dir: string) => ({ dir, nodeId: 'n1', tombstoneTtlMs: 7 * 86_400_000, compactAfterEntries: 100_000 });

const run = isRoot ? test : test.skip;
const title = 'a write refused on a full filesystem leaves no fragment: the next acknowledged write survives a restart' + (isRoot ? '' : ' (skipped: mounting a tmpfs needs root)');

run(title, async () => {
  await withSmallFs(512, async (root, open) => {
    const dir = join(root, 'state');
    mkdirSync(dir);
    const s = open(dir);
    await s.put('apps/before', { ok: 1 });
    const filler = fill(root);
    // Larger than the free room left in the log's last page: part of it is written, then ENOSPC.
    let refused: unknown = null;
    try {
      await s.put('apps/big', { blob: 'x'.repeat(20_000) });
    } catch (err) {
      refused = err;
    }
    assert.ok(refused, 'a write was acknowledged on a full filesystem');
    unlinkSync(filler); // room again
    const acked = await s.put('apps/after', { ok: 2 });
    assert.ok(acked);
    s.close();
    const again = open(dir);
    assert.equal(again.get('apps/before'), { ok: 1 });
    assert.equal(again.get('apps/after'), { ok: 2 }, 'the acknowledged write after the failed one was lost');
    assert.is(again.get('apps/big'), undefined, 'the refused write is not there either');
    assert.is(again.skippedOnLoad, 0, 'no garbage line in the log');
    assert.instance(refused, PleacoError, `a plain error reached the writer: ${String(refused)}`);
    assert.is((refused as PleacoError).code, 'unavailable');
    assert.is((refused as PleacoError).status, 503);
  });
});

run('while the log cannot be repaired, writes are refused with unavailable; once there is room they are accepted again' + (isRoot ? '' : ' (skipped: needs root)'), async () => {
  await withSmallFs(512, async (root, open) => {
    const dir = join(root, 'state');
    mkdirSync(dir);
    const s = open(dir);
    await s.put('apps/before', { ok: 1 });
    const filler = fill(root);
    for (let i = 0; i < 3; i++) {
      try {
        await s.put(`apps/big${i}`, { blob: 'x'.repeat(20_000) });
        assert.unreachable('a write was acknowledged on a full filesystem');
      } catch (err) {
        assert.is((err as PleacoError).code, 'unavailable', String(err));
      }
    }
    unlinkSync(filler);
    await s.put('apps/after', { ok: 2 });
    s.close();
    const again = open(dir);
    assert.equal([again.get('apps/before'), again.get('apps/after'), again.get('apps/big0')], [{ ok: 1 }, { ok: 2 }, undefined]);
    assert.is(again.skippedOnLoad, 0);
  });
});

test.run();
