import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DAY, TestCluster } from './sync-harness.js';

/**
 * The history every test here replays: a, b, c in sync; a leaves; b deletes apps/old1; b and c sync
 * daily for 11 days (the tombstone passes the 7-day bound and is reaped); meanwhile a (cut off) writes
 * apps/early on day 1, deletes apps/old2 on day 2, updates apps/keep on day 3 and writes apps/recent an
 * hour before it returns.
 */
async function history(c: TestCluster): Promise<void> {
  for (const id of ['a', 'b', 'c']) c.add(id);
  const a = c.get('a');
  await a.store.batch([{ key: 'apps/old1', value: { v: 1 } }, { key: 'apps/old2', value: { v: 2 } }, { key: 'apps/keep', value: { v: 3 } }]);
  await c.pushPull('a', 'b');
  await c.pushPull('c', 'b');
  c.time += 3_600_000;
  await c.get('b').store.delete('apps/old1');
  for (let day = 1; day <= 11; day++) {
    c.time += DAY;
    if (day === 1) await a.store.put('apps/early', { during: 'absence' });
    if (day === 2) await a.store.delete('apps/old2');
    if (day === 3) await a.store.put('apps/keep', { v: 4 });
    await c.pushPull('b', 'c');
  }
  c.time -= 3_600_000;
  await a.store.put('apps/recent', { during: 'absence' });
  c.time += 3_600_000;
}

test('a node away longer than the tombstone bound does not resurrect a reaped delete; its recent writes and its deletes survive', async () => {
  const c = new TestCluster({ ttl: 7 * DAY });
  try {
    await history(c);
    const [a, b] = [c.get('a'), c.get('b')];
    assert.is(b.store.getEntry('apps/old1'), undefined, 'precondition: the tombstone was reaped on b');
    assert.ok(b.store.syncMeta().reapedBefore > a.store.getEntry('apps/old1')!.ts.wall, 'precondition: b reaped past the old write');
    assert.equal([a.replica.info().status, a.replica.needsFullSync(), b.replica.info().status], ['away', true, 'current']);

    const rep = await c.pushPull('a', 'b'); // the returning node's full sync
    assert.equal([rep.statusBefore, rep.statusAfter], ['away', 'current']);
    await c.pushPull('c', 'a');
    for (const id of ['a', 'b', 'c']) {
      const s = c.get(id).store;
      assert.is(s.get('apps/old1'), undefined, `${id}: deleted key came back`);
      assert.is(s.get('apps/old2'), undefined, `${id}: the delete a made while away was lost`);
      assert.equal(s.get('apps/recent'), { during: 'absence' }, `${id}: a write within the bound was lost`);
      assert.equal(s.get('apps/keep'), { v: 4 }, `${id}: an update a made while away to a key the cluster holds was lost`);
      // Documented limit: a write made while cut off, more than the bound before the return, is
      // indistinguishable from a reaped delete and gives way.
      assert.is(s.get('apps/early'), undefined, `${id}: a write older than the bound survived`);
    }
    assert.is(c.dump('a'), c.dump('b'));
    assert.is(c.dump('c'), c.dump('b'));
    assert.ok((await c.pushPull('a', 'b')).inSync, 'the derived tombstones were reaped on both sides');
    // The re-issued delete is a fresh tombstone: it outlives the bound's worth of syncs among the others.
    c.time += 6 * DAY;
    await c.pushPull('b', 'c');
    await c.pushPull('c', 'a');
    for (const id of ['a', 'b', 'c']) assert.is(c.get(id).store.get('apps/old2'), undefined);
  } finally {
    c.close();
  }
});

test('the same holds when the current node starts the exchange with the returning one', async () => {
  const c = new TestCluster({ ttl: 7 * DAY });
  try {
    await history(c);
    await c.pushPull('b', 'a');
    for (const id of ['a', 'b']) {
      assert.is(c.get(id).store.get('apps/old1'), undefined, `${id}: deleted key came back`);
      assert.equal(c.get(id).store.get('apps/recent'), { during: 'absence' });
    }
    assert.is(c.dump('a'), c.dump('b'));
    assert.is(c.get('a').replica.info().status, 'current');
  } finally {
    c.close();
  }
});

test('control: without the away rule the same history resurrects the deleted key (so the test above can fail)', async () => {
  const c = new TestCluster({ ttl: 7 * DAY, replica: { awayAfterMs: 365 * DAY } });
  try {
    await history(c);
    await c.pushPull('a', 'b');
    assert.equal(c.get('b').store.get('apps/old1'), { v: 1 });
  } finally {
    c.close();
  }
});

test('a fresh node that syncs only with an away node turns away too and cannot carry the stale key into the cluster', async () => {
  const c = new TestCluster({ ttl: 7 * DAY });
  try {
    await history(c);
    const f = c.add('f');
    await c.pushPull('f', 'a');
    assert.equal(f.store.get('apps/old1'), { v: 1 }, 'f took a\'s stale copy');
    assert.is(f.replica.info().status, 'away');
    await c.pushPull('f', 'b');
    await c.pushPull('a', 'c');
    for (const id of ['a', 'b', 'c', 'f']) assert.is(c.get(id).store.get('apps/old1'), undefined, `${id}: deleted key came back`);
    assert.is(c.dump('f'), c.dump('b'));
  } finally {
    c.close();
  }
});

test('an away node whose first peer is a cluster founded empty while it was gone keeps its older data (union, no mass delete)', async () => {
  const c = new TestCluster({ ttl: 7 * DAY });
  try {
    const [a, b] = [c.add('a'), c.add('b')];
    await a.store.batch(Array.from({ length: 20 }, (_, i) => ({ key: `apps/old${i}`, value: i })));
    await c.pushPull('a', 'b');
    c.time += 10 * DAY; // a and b are switched off; two new machines start and found a cluster
    const y = c.add('y');
    c.add('z');
    await c.pushPull('y', 'z');
    await y.store.put('apps/new', 1);
    c.time += DAY;
    await c.pushPull('z', 'y');
    assert.equal([a.replica.info().status, y.replica.info().status], ['away', 'current']);
    assert.ok(y.store.syncMeta().reapedBefore > a.store.getEntry('apps/old0')!.ts.wall, 'precondition: y\'s horizon is past a\'s data');
    await c.pushPull('a', 'y');
    for (const id of ['a', 'y']) {
      assert.is(c.get(id).store.list('apps/old').length, 20, `${id}: the returning node's data was dropped`);
      assert.is(c.get(id).store.get('apps/new'), 1);
    }
    assert.is(c.dump('a'), c.dump('y'));
    assert.is(b.store.list('apps/').length, 20);
  } finally {
    c.close();
  }
});

test('two nodes that never synced merge as a union, however old their data (no mass delete)', async () => {
  const c = new TestCluster({ ttl: 7 * DAY });
  try {
    const [a, b] = [c.add('a'), c.add('b')];
    await a.store.put('apps/from-a', 1);
    await b.store.put('apps/from-b', 2);
    await a.store.delete('apps/gone-a');
    c.time += 30 * DAY;
    assert.is(a.store.reapNow(), 1);
    await c.pushPull('a', 'b');
    assert.equal([a.store.get('apps/from-b'), b.store.get('apps/from-a')], [2, 1]);
    assert.is(c.dump('a'), c.dump('b'));
  } finally {
    c.close();
  }
});

test('a node away for less than the bound loses nothing, and keeps its own deletes until it has passed them on', async () => {
  const c = new TestCluster({ ttl: 7 * DAY });
  try {
    const [a, b] = [c.add('a'), c.add('b')];
    await a.store.put('apps/x', 1);
    await c.pushPull('a', 'b');
    c.time += DAY;
    await a.store.put('apps/y', 2);
    await a.store.delete('apps/x');
    c.time += 9 * DAY; // a is cut off: its tombstone passes the age bound but a has not passed it on
    assert.is(a.store.reapNow(), 0, 'a reaped a delete nobody else has seen');
    c.restart('a');
    assert.ok(c.get('a').store.getEntry('apps/x'), 'the tombstone survived the restart');
    await c.pushPull('b', 'a');
    assert.equal([b.store.get('apps/x'), b.store.get('apps/y')], [undefined, 2]);
  } finally {
    c.close();
  }
});

test.run();
