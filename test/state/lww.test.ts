import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LwwMap, type Entry } from '../../src/state/index.js';

/** A small seeded PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomHistory(rand: () => number, n: number): Entry[] {
  const nodes = ['n1', 'n2', 'n3'];
  const out: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const key = `k/${Math.floor(rand() * 8)}`;
    const del = rand() < 0.2;
    out.push({ key, value: del ? null : { v: i }, ts: { wall: 1000 + Math.floor(rand() * 40), counter: Math.floor(rand() * 3), node: nodes[Math.floor(rand() * 3)]! } });
  }
  return out;
}

function dump(m: LwwMap): string {
  return JSON.stringify([...m.all()].sort((a, b) => (a.key < b.key ? -1 : 1)));
}

test('property: any order and duplication of the same entries converges to the same map', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rand = rng(seed);
    const history = randomHistory(rand, 40);
    const reference = new LwwMap();
    for (const e of history) reference.apply(e);
    for (let replica = 0; replica < 5; replica++) {
      const delivered = [...history, ...history.filter(() => rand() < 0.5)];
      for (let i = delivered.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [delivered[i], delivered[j]] = [delivered[j]!, delivered[i]!];
      }
      const m = new LwwMap();
      for (const e of delivered) m.apply(e);
      assert.is(dump(m), dump(reference), `seed ${seed} replica ${replica} diverged`);
    }
  }
});

test('a tombstone beats an older write that arrives after it, and loses to a newer one', () => {
  const m = new LwwMap();
  m.apply({ key: 'apps/web', value: null, ts: { wall: 10, counter: 0, node: 'a' } });
  assert.is(m.apply({ key: 'apps/web', value: { old: true }, ts: { wall: 9, counter: 5, node: 'b' } }), false);
  assert.is(m.get('apps/web'), undefined);
  assert.is(m.apply({ key: 'apps/web', value: { new: true }, ts: { wall: 11, counter: 0, node: 'b' } }), true);
  assert.equal(m.get('apps/web'), { new: true });
});

test('list skips tombstones; reap removes only tombstones older than the bound', () => {
  const m = new LwwMap();
  m.apply({ key: 'a/1', value: 1, ts: { wall: 1, counter: 0, node: 'a' } });
  m.apply({ key: 'a/2', value: null, ts: { wall: 1, counter: 0, node: 'a' } });
  m.apply({ key: 'a/3', value: null, ts: { wall: 100, counter: 0, node: 'a' } });
  assert.equal(m.list('a/').map((e) => e.key), ['a/1']);
  assert.is(m.reap(50), 1);
  assert.is(m.size, 2);
  assert.ok(m.getEntry('a/3'));
});

test('reap finds every old tombstone whatever the order they came in (a peer\'s older delete after a newer one)', () => {
  const m = new LwwMap();
  const ts = (wall: number) => ({ wall, counter: 0, node: 'b' });
  m.apply({ key: 'k/new', value: null, ts: ts(100) });
  assert.is(m.reap(50), 0, 'nothing old enough yet');
  m.apply({ key: 'k/old', value: null, ts: ts(10) });
  m.apply({ key: 'k/back', value: null, ts: ts(5) });
  m.apply({ key: 'k/back', value: 'alive again', ts: ts(6) });
  assert.is(m.reap(50), 1);
  assert.equal([m.getEntry('k/old'), m.get('k/back')], [undefined, 'alive again']);
  assert.is(m.reap(101), 1);
  assert.is(m.getEntry('k/new'), undefined);
  m.apply({ key: 'k/late', value: null, ts: ts(20) });
  assert.is(m.reap(101), 1, 'a tombstone older than the last reap\'s bound, arriving after it');
});

test.run();
