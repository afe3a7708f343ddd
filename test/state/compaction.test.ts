/**
 * Compaction and loading at scale: the snapshot is written without holding the event loop for the whole state,
 * and read line by line, so a state larger than V8's longest string still loads.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, existsSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { constants } from 'node:buffer';
import { join } from 'node:path';
import { Store, type WriteOp } from '../../src/state/index.js';
import { tempDir } from '../helpers/tmp.js';

const opts = (dir: string, compactAfterEntries: number) => ({ dir, nodeId: 'n1', tombstoneTtlMs: 7 * 86_400_000, compactAfterEntries });

test('a snapshot larger than the longest string V8 can hold loads (it is read line by line)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const value = 'v'.repeat(1_000_000);
    const lines = Math.ceil(constants.MAX_STRING_LENGTH / 1_000_000) + 2;
    const fd = openSync(join(dir, 'state.snapshot'), 'w');
    for (let i = 0; i < lines; i++) writeSync(fd, JSON.stringify({ key: `blobs/${i}`, value, ts: { wall: 1_700_000_000_000, counter: i, node: 'n1' } }) + '\n');
    closeSync(fd);
    assert.ok(statSync(join(dir, 'state.snapshot')).size > constants.MAX_STRING_LENGTH);
    const s = Store.open(opts(dir, 1_000_000));
    try {
      assert.is(s.list('blobs/').length, lines);
      assert.is((s.get<string>(`blobs/${lines - 1}`) ?? '').length, 1_000_000);
    } finally {
      s.close();
    }
  } finally {
    cleanup();
  }
});

test('the event loop keeps running while a large state is compacted, and everything is in the new snapshot', async () => {
  const { dir, cleanup } = tempDir();
  try {
    mkdirSync(dir, { recursive: true });
    const n = 4000;
    const s = Store.open(opts(dir, n));
    const pad = 'p'.repeat(20_000);
    for (let i = 0; i < n - 100; i += 100) {
      const ops: WriteOp[] = Array.from({ length: 100 }, (_, j) => ({ key: `scans/app/${i + j}`, value: { i: i + j, pad } }));
      await s.batch(ops);
    }
    const snap = join(dir, 'state.snapshot');
    const before = existsSync(snap) ? statSync(snap).ino : -1;
    // Count turns of the event loop between the write that starts compaction and the new snapshot's arrival.
    let turns = 0;
    let replaced = false;
    const done = new Promise<void>((resolve) => {
      const turn = (): void => {
        if (existsSync(snap) && statSync(snap).ino !== before) {
          replaced = true;
          resolve();
          return;
        }
        turns++;
        if (turns > 1_000_000) return resolve();
        setImmediate(turn);
      };
      setImmediate(turn);
    });
    await s.batch(Array.from({ length: 200 }, (_, j) => ({ key: `scans/app/${n - 100 + j}`, value: { i: n - 100 + j, pad } })));
    await done;
    assert.ok(replaced, 'no new snapshot');
    assert.ok(turns >= 20, `the event loop turned only ${turns} times while ${Math.round((n * 20_000) / 1e6)} MB were compacted`);
    s.close();
    const again = Store.open(opts(dir, 1_000_000));
    assert.is(again.list('scans/app/').length, n + 100);
    again.close();
  } finally {
    cleanup();
  }
});

test.run();
