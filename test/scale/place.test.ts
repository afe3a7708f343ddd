import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { candidate, ownerOf, placeApp, placementPass, schedulable, winner, type Candidate } from '../../src/scale/index.js';
import { keys, type ClusterMember, type NodeStatus, type SlotStatus, type StateReader } from '../../src/model/index.js';

const nodes = (n: number, prefix = 'node-'): Candidate[] => Array.from({ length: n }, (_, i) => candidate(`${prefix}${i}`));

function counts(p: (string | null)[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of p) if (id !== null) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

/** Slots placed differently by two placements of the same apps. */
function moved(apps: number, replicas: number, a: Candidate[], b: Candidate[]): { moved: number; toOrFrom: number } {
  const aIds = new Set(a.map((c) => c.id));
  const bIds = new Set(b.map((c) => c.id));
  let m = 0;
  let must = 0;
  for (let i = 0; i < apps; i++) {
    const p = placeApp(`app${i}`, replicas, a);
    const q = placeApp(`app${i}`, replicas, b);
    for (let s = 0; s < replicas; s++) {
      if (p[s] !== q[s]) m++;
      // A slot must move when its node left, or when it lands on the node that joined.
      if (!bIds.has(p[s]!) || !aIds.has(q[s]!)) must++;
    }
  }
  return { moved: m, toOrFrom: must };
}

test('every node computes the same placement, whatever order it lists the nodes in', () => {
  const list = nodes(7);
  const shuffled = [list[3]!, list[0]!, list[6]!, list[1]!, list[5]!, list[2]!, list[4]!];
  for (const app of ['web', 'api', 'worker-2']) assert.equal(placeApp(app, 5, shuffled), placeApp(app, 5, list));
  assert.is(winner('apps/web', shuffled), winner('apps/web', list));
});

test('replicas spread across nodes first: at most ceil(replicas / nodes) on any node', () => {
  for (const [n, r] of [[3, 3], [3, 6], [5, 2], [3, 7], [4, 1], [1, 4]] as const) {
    for (let a = 0; a < 50; a++) {
      const p = placeApp(`app${a}`, r, nodes(n));
      assert.ok(p.every((id) => id !== null), 'every slot placed');
      const c = counts(p);
      assert.ok(Math.max(...c.values()) <= Math.ceil(r / n), `app${a} ${r} on ${n}: ${JSON.stringify([...c])}`);
      assert.is(c.size, Math.min(n, r), 'as many nodes used as can be');
    }
  }
  assert.equal(placeApp('web', 3, []), [null, null, null], 'no node: nothing placed');
});

test('a node of twice the weight wins about twice the slots', () => {
  const list = [candidate('small-a', 1), candidate('small-b', 1), candidate('big', 2)];
  let big = 0;
  let small = 0;
  for (let a = 0; a < 20_000; a++) {
    const w = winner(`app${a}#0`, list);
    if (w === 'big') big++;
    else small++;
  }
  // Expected shares: big 2/4, each small 1/4.
  assert.ok(Math.abs(big / 20_000 - 0.5) < 0.02, `big won ${big} of 20000`);
  assert.ok(Math.abs(small / 20_000 - 0.5) < 0.02);
});

test('a node joining or leaving moves about the slots that must move (about 1/N), not the rest', () => {
  const ten = nodes(10);
  const eleven = [...ten, candidate('node-new')];
  const nine = ten.slice(1);
  for (const [from, to, what] of [[ten, eleven, 'join'], [ten, nine, 'leave']] as const) {
    const r = moved(200, 5, [...from], [...to]);
    // 1,000 slots over 10 nodes: about 100 must move; the spread rule may displace a few more, never most.
    assert.ok(r.toOrFrom > 50 && r.toOrFrom < 150, `${what}: ${r.toOrFrom} slots on the node that came or went`);
    assert.ok(r.moved <= r.toOrFrom * 1.35, `${what}: moved ${r.moved}, must ${r.toOrFrom}`);
  }
});

test('the owner of a decision is one live member, the same for every order; dead and departed members own nothing', () => {
  const members: ClusterMember[] = [{ id: 'a', state: 'alive' }, { id: 'b', state: 'suspect' }, { id: 'c', state: 'dead' }, { id: 'd', state: 'left' }];
  const owners = new Set<string | null>();
  for (let i = 0; i < 200; i++) owners.add(ownerOf(`app${i}`, members));
  assert.equal([...owners].sort(), ['a', 'b'], 'suspected members still own (a slow node keeps its decisions until it is declared dead)');
  assert.is(ownerOf('web', [...members].reverse()), ownerOf('web', members));
  assert.is(ownerOf('web', []), null);
});

/** A fake of the replicated state for the pure placement pass (a Map behind StateReader). */
function fakeState(entries: Record<string, unknown>): StateReader {
  const m = new Map(Object.entries(entries));
  return {
    get: <T>(k: string) => m.get(k) as T | undefined,
    list: <T>(prefix: string) => [...m].filter(([k]) => k.startsWith(prefix)).map(([key, value]) => ({ key, value: value as T })),
  };
}

const status = (id: string, ok = true): NodeStatus => ({ id, address: '127.0.0.1', version: 't', startedAt: '', docker: { ok }, cpus: 2, memoryBytes: 8 * 1024 ** 3 });
const slot = (node: string, app: string, i: number, state: SlotStatus['state']): SlotStatus => ({ app, slot: `${app}#${i}`, node, release: 1, containerId: 'c', state, host: '127.0.0.1', hostPort: 1, restarts: 0, since: '' });
const alive = (...ids: string[]): ClusterMember[] => ids.map((id) => ({ id, state: 'alive' }));

test('schedulable: live members with a working Engine, not drained', () => {
  const state = fakeState({
    [keys.node('a')]: status('a'), [keys.node('b')]: status('b', false), [keys.node('c')]: status('c'), [keys.node('e')]: status('e'),
    [keys.nodeSpec('c')]: { drain: true, at: '' },
  });
  const got = schedulable(state, [...alive('a', 'b', 'c', 'd'), { id: 'e', state: 'dead' }]).map((c) => c.id);
  assert.equal(got, ['a'], 'b: Docker down, c: drained, d: no status yet, e: dead');
});

test('hand-over: a slot that moves keeps running here until its new node runs it', () => {
  const base = { [keys.node('a')]: status('a'), [keys.node('b')]: status('b') };
  const pass0 = placementPass('a', fakeState(base), alive('a', 'b'));
  // Find a slot that b wins, and pretend a ran it before b joined.
  let i = 0;
  while (pass0.nodeOf('web', i, 8) !== 'b') i++;
  const mine = { ...base, [keys.slot('a', 'web', i)]: slot('a', 'web', i, 'running') };
  assert.ok(placementPass('a', fakeState(mine), alive('a', 'b')).wins('web', i, 8), 'kept while b has not started it');
  const starting = { ...mine, [keys.slot('b', 'web', i)]: slot('b', 'web', i, 'starting') };
  assert.ok(placementPass('a', fakeState(starting), alive('a', 'b')).wins('web', i, 8), 'kept while b starts it');
  const running = { ...mine, [keys.slot('b', 'web', i)]: slot('b', 'web', i, 'running') };
  assert.not.ok(placementPass('a', fakeState(running), alive('a', 'b')).wins('web', i, 8), 'given up once b runs it');
  assert.ok(placementPass('b', fakeState(running), alive('a', 'b')).wins('web', i, 8));
  const drained = { ...mine, [keys.nodeSpec('a')]: { drain: true, at: '' } };
  assert.ok(placementPass('a', fakeState(drained), alive('a', 'b')).wins('web', i, 8), 'a drained node stops only after the new one runs');
  const j = [...Array(8).keys()].find((x) => x !== i)!;
  assert.not.ok(placementPass('a', fakeState(drained), alive('a', 'b')).wins('web', j, 8), 'a drained node starts nothing new');
});

test.run();
