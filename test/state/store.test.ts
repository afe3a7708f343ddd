import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store } from '../../src/state/index.js';
import { PleacoError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

const opts = (dir: string) => ({ dir, nodeId: 'n1', tombstoneTtlMs: 7 * 86_400_000, compactAfterEntries: 50 });

test('writes survive a close and reopen, including deletes and compaction', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const s = Store.open(opts(dir));
    for (let i = 0; i < 120; i++) await s.put(`apps/a${i}`, { i }); // crosses the compaction bound twice
    await s.delete('apps/a5');
    s.close();
    const again = Store.open(opts(dir));
    assert.is(again.list('apps/').length, 119);
    assert.equal(again.get('apps/a119'), { i: 119 });
    assert.is(again.get('apps/a5'), undefined);
    const stamp = again.getEntry('apps/a119')!.ts;
    const next = await again.put('apps/new', 1);
    assert.ok(next.ts.wall > stamp.wall || next.ts.counter > stamp.counter, 'clock resumes after the persisted history');
    again.close();
  } finally {
    cleanup();
  }
});

test('a torn last line (crash mid-write) is skipped and everything before it loads', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const s = Store.open({ ...opts(dir), compactAfterEntries: 1000 });
    await s.put('apps/x', { ok: 1 });
    s.close();
    appendFileSync(join(dir, 'state.wal'), '{"key":"apps/y","value":{"ok":2},"ts":{"wal');
    const again = Store.open(opts(dir));
    assert.equal(again.get('apps/x'), { ok: 1 });
    assert.is(again.get('apps/y'), undefined);
    assert.is(again.skippedOnLoad, 1);
    again.close();
  } finally {
    cleanup();
  }
});

test('a write after a torn last line starts a line of its own and survives the next restart', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const s = Store.open({ ...opts(dir), compactAfterEntries: 1000 });
    await s.put('apps/x', { ok: 1 });
    s.close();
    appendFileSync(join(dir, 'state.wal'), '[{"key":"apps/y","value":{"ok":2},"ts":{"wal');
    const again = Store.open({ ...opts(dir), compactAfterEntries: 1000 });
    await again.put('apps/z', { ok: 3 });
    again.close();
    const third = Store.open({ ...opts(dir), compactAfterEntries: 1000 });
    assert.equal([third.get('apps/x'), third.get('apps/y'), third.get('apps/z')], [{ ok: 1 }, undefined, { ok: 3 }], 'the acknowledged write after the torn line was lost');
    third.close();
  } finally {
    cleanup();
  }
});

test('observed state of another node cannot be written here; bad keys are refused', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const s = Store.open(opts(dir));
    await s.put('obs/n1/node', { ok: true });
    try {
      await s.put('obs/n2/node', { ok: true });
      assert.unreachable('wrote another node\'s observed state');
    } catch (err) {
      assert.instance(err, PleacoError);
      assert.is((err as PleacoError).code, 'forbidden');
    }
    try {
      await s.put('../etc/passwd', 1);
      assert.unreachable('accepted a bad key');
    } catch (err) {
      assert.is((err as PleacoError).code, 'bad_request');
    }
    s.close();
  } finally {
    cleanup();
  }
});

test('merge keeps the newest write per key and ignores stale and duplicate entries', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const s = Store.open(opts(dir));
    const mine = await s.put('apps/web', { v: 'local' });
    const stale = { key: 'apps/web', value: { v: 'old' }, ts: { ...mine.ts, wall: mine.ts.wall - 1, node: 'n2' } };
    const newer = { key: 'apps/web', value: { v: 'remote' }, ts: { wall: mine.ts.wall + 5, counter: 0, node: 'n2' } };
    assert.is((await s.merge([stale])).length, 0);
    assert.is((await s.merge([newer, newer])).length, 1);
    assert.equal(s.get('apps/web'), { v: 'remote' });
    const after = await s.put('apps/other', 1);
    assert.ok(after.ts.wall >= newer.ts.wall, 'local clock moved past the remote stamp');
    s.close();
  } finally {
    cleanup();
  }
});

test('concurrent writes committed together all survive a compaction (read back without a clean close)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const s = Store.open({ ...opts(dir), compactAfterEntries: 4 });
    const keys = Array.from({ length: 23 }, (_, i) => `k/${i}`);
    await Promise.all(keys.map((k, i) => s.put(k, { i })));
    await Promise.all([s.batch([{ key: 'apps/a', value: 1 }, { key: 'apps/b', value: 2 }]), s.put('apps/c', 3)]);
    // No close(): what is on disk now is what a kill -9 would leave.
    const disk = Store.open({ ...opts(dir), compactAfterEntries: 1000 });
    assert.equal(keys.filter((k) => disk.get(k) === undefined), [], 'acknowledged writes missing from disk');
    assert.equal([disk.get('apps/a'), disk.get('apps/b'), disk.get('apps/c')], [1, 2, 3]);
    disk.close();
    s.close();
    await Promise.all([disk.whenIdle(), s.whenIdle()]); // background compactions end before the dir is removed
  } finally {
    cleanup();
  }
});

test('a torn batch line loses the whole batch, never half of it', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const s = Store.open({ ...opts(dir), compactAfterEntries: 1000 });
    await s.put('apps/x', 1);
    s.close();
    const line = JSON.stringify([
      { key: 'releases/web/00000001', value: { n: 1 }, ts: { wall: Date.now() + 1000, counter: 0, node: 'n1' } },
      { key: 'current/web', value: { release: 1 }, ts: { wall: Date.now() + 1000, counter: 1, node: 'n1' } },
    ]);
    appendFileSync(join(dir, 'state.wal'), line.slice(0, line.length - 20)); // cut inside the second entry
    const again = Store.open(opts(dir));
    assert.equal([again.get('apps/x'), again.get('releases/web/00000001'), again.get('current/web')], [1, undefined, undefined]);
    again.close();
  } finally {
    cleanup();
  }
});

test('the event loop keeps turning while a write is synced to disk; a close syncs what is in flight', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const s = Store.open(opts(dir));
    const order: string[] = [];
    const put = s.put('apps/a', { v: 1 }).then(() => order.push('acknowledged'));
    setImmediate(() => order.push('loop turned')); // queued after the log's flush, in the same turn
    await put;
    // A sync on the event loop would acknowledge the write before any later turn of the loop.
    assert.equal(order, ['loop turned', 'acknowledged']);
    // Closed with a write whose sync is still on the thread pool: close finishes it, and it is there on reopen.
    const late = s.put('apps/b', { v: 2 });
    await new Promise((r) => setImmediate(r)); // written, sync in flight
    s.close();
    await late;
    const again = Store.open(opts(dir));
    assert.equal([again.get('apps/a'), again.get('apps/b')], [{ v: 1 }, { v: 2 }]);
    again.close();
  } finally {
    cleanup();
  }
});

test('every acknowledged write survives kill -9 of the writing process', async () => {
  const { dir, cleanup } = tempDir();
  const writer = join(fileURLToPath(new URL('.', import.meta.url)), 'fixtures', 'writer.js');
  try {
    for (const killAfter of [5, 60, 250]) {
      const sub = join(dir, `run-${killAfter}`);
      const child = spawn(process.execPath, [writer, sub], { stdio: ['ignore', 'pipe', 'inherit'] });
      const acked: number[] = [];
      await new Promise<void>((resolve) => {
        let buf = '';
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          const lines = buf.split('\n');
          buf = lines.pop()!;
          for (const l of lines) acked.push(Number(l));
          if (acked.length >= killAfter && !child.killed) child.kill('SIGKILL');
        });
        child.on('close', () => resolve());
      });
      assert.ok(acked.length >= killAfter, `writer acknowledged ${acked.length}`);
      const s = Store.open(opts(sub));
      const missing = acked.filter((i) => s.get(`builds/app/${i}`) === undefined);
      assert.equal(missing, [], `acknowledged writes lost after kill -9 at ${killAfter}`);
      s.close();
    }
  } finally {
    cleanup();
  }
});

test.run();
