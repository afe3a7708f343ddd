import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Entry } from '../../src/state/index.js';
import { TestCluster } from './sync-harness.js';

// The poison of issue #11: a stamp at the very end of the valid range (wall 2^47, counter 2^40).
const POISON = { wall: 2 ** 47, counter: 2 ** 40, node: 'evil' };

/** True when every entry is accepted by a fresh peer whose wall clock reads `now` (what every other node would do). */
async function peerAccepts(c: TestCluster, entries: Entry[]): Promise<{ rejected: number; reasons: unknown }> {
  const peer = c.nodes.get('peer') ?? c.add('peer');
  const r = await peer.store.applyRemote(entries);
  return { rejected: r.rejected, reasons: r.reasons };
}

test('a remote stamp beyond now + the drift bound is refused and counted; the clock does not follow it; local writes still replicate', async () => {
  const c = new TestCluster();
  try {
    const a = c.add('a');
    const r = await a.store.applyRemote([{ key: 'apps/web', value: { evil: true }, ts: POISON }, { key: 'apps/api', value: 1, ts: { wall: c.time + 30_000, counter: 0, node: 'b' } }]);
    assert.equal(r.reasons, { future: 1 }, 'the far-future entry is refused as such');
    assert.is(a.store.get('apps/web'), undefined);
    assert.is(a.store.get('apps/api'), 1, 'a stamp within the bound (30 s ahead) is merged as before');
    const health = a.replica.health();
    assert.is(health.skew.count, 1, 'the refusal is visible in sync health');
    assert.is(health.skew.node, 'evil');
    const mine = await a.store.put('apps/web', { ok: true });
    assert.ok(mine.ts.wall <= c.time + 60_000 + 1, `local stamp followed the poison: ${JSON.stringify(mine.ts)}`);
    assert.equal(await peerAccepts(c, [mine]), { rejected: 0, reasons: {} });
  } finally {
    c.close();
  }
});

test('the logical counter stays far from its limit even after a remote stamp with the largest valid counter', async () => {
  const c = new TestCluster();
  try {
    const a = c.add('a');
    const r = await a.store.applyRemote([{ key: 'apps/web', value: 1, ts: { wall: c.time + 1000, counter: 2 ** 40, node: 'b' } }]);
    assert.is(r.rejected, 0);
    const mine = [await a.store.put('apps/web', 2), await a.store.put('apps/web', 3), await a.store.put('apps/api', 1)];
    for (const e of mine) assert.ok(e.ts.counter < 2 ** 32, `counter ${e.ts.counter} near the limit`);
    assert.is(a.store.get('apps/web'), 3, 'local writes after the remote one still win');
    assert.equal(await peerAccepts(c, mine), { rejected: 0, reasons: {} });
  } finally {
    c.close();
  }
});

test('a far-future stamp persisted before the fix does not poison the clock after a restart; the key is kept with a sane stamp', async () => {
  const c = new TestCluster();
  try {
    const a = c.add('a');
    await a.store.put('apps/api', { v: 1 });
    a.replica.close();
    a.store.close();
    // What an agent before the fix left on disk: the poisoned entry, a local write that followed it, and the clock's high-water.
    const followed = { wall: POISON.wall, counter: POISON.counter + 1, node: 'a' };
    appendFileSync(join(a.dir, 'state.wal'), JSON.stringify([{ key: 'apps/web', value: { evil: true }, ts: POISON }]) + '\n' + JSON.stringify([{ key: 'apps/db', value: { v: 2 }, ts: followed }]) + '\n');
    writeFileSync(join(a.dir, 'sync.json'), JSON.stringify({ syncedAt: 0, reapedBefore: 0, since: null, hlc: followed }));
    c.restart('a');
    const mine = await a.store.put('apps/next', 1);
    assert.ok(mine.ts.wall <= c.time + 60_000 + 1, `clock restored to the poison: ${JSON.stringify(mine.ts)}`);
    assert.is(a.store.get('apps/web'), undefined, 'the far-future entry from another node is dropped, as it would be refused if it arrived now');
    assert.equal(a.store.get('apps/db'), { v: 2 }, 'our own write is kept');
    assert.ok(a.store.getEntry('apps/db')!.ts.wall <= c.time + 60_000, 'and carries a stamp peers accept');
    const up = await a.store.put('apps/db', { v: 3 });
    assert.equal(a.store.get('apps/db'), { v: 3 }, 'a new local write to a key that held a far-future stamp takes effect');
    assert.equal(await peerAccepts(c, [...a.store.allEntries()]), { rejected: 0, reasons: {} }, 'every entry held is acceptable to peers');
    assert.ok(up.ts.counter < 2 ** 32);
    c.restart('a');
    const again = await a.store.put('apps/next', 2);
    assert.ok(again.ts.wall <= c.time + 60_000 + 1, 'and not after a second restart either');
  } finally {
    c.close();
  }
});

test('a stamp persisted by a clock that ran up to the drift bound ahead still keeps local stamps monotonic after a restart', async () => {
  const c = new TestCluster();
  try {
    const a = c.add('a');
    a.skew = 50_000;
    const last = await a.store.put('apps/web', 1);
    a.skew = 0; // NTP steps the clock back 50 s
    c.restart('a');
    const next = await a.store.put('apps/web', 2);
    assert.ok(next.ts.wall > last.ts.wall || (next.ts.wall === last.ts.wall && next.ts.counter > last.ts.counter));
    assert.is(a.store.get('apps/web'), 2);
  } finally {
    c.close();
  }
});

test.run();
