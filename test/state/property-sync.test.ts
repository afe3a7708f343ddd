import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compareHlc, type DeltaPayload, type Entry, type Hlc } from '../../src/state/index.js';
import { DAY, TestCluster, pick, rng, shuffle } from './sync-harness.js';

const SEEDS = Number(process.env.PLEACO_PROPERTY_SEEDS || 16);
const KEYS = ['apps/web', 'apps/api', 'env/web/A', 'env/web/B', 'scale/web', 'builds/web/1', 'builds/web/2', 'domains/x'];

test('property: any order, duplication and loss of deltas plus push-pulls and restarts converge, losing no acknowledged write', async () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const rand = rng(seed);
    // One node's clock runs 10 min ahead in some seeds: within this cluster's drift bound (1 h), so it converges.
    const c = new TestCluster({ maxDriftMs: 3_600_000 });
    try {
      const ids = ['n1', 'n2', 'n3', 'n4'].slice(0, 3 + (seed % 2));
      for (const id of ids) c.add(id, Math.floor((rand() - 0.5) * 10_000) + (seed % 5 === 0 && id === 'n2' ? 600_000 : 0));
      const wire: { to: string; payload: DeltaPayload }[] = [];
      const sentSeen = new Map(ids.map((id) => [id, 0]));
      const acked: Entry[] = [];
      const collect = (): void => {
        for (const id of ids) {
          const n = c.get(id);
          for (const d of n.sent.slice(sentSeen.get(id))) for (const to of ids) if (to !== id) wire.push({ to, payload: d.payload });
          sentSeen.set(id, n.sent.length);
        }
      };
      for (let step = 0; step < 70; step++) {
        const r = rand();
        const id = pick(rand, ids);
        if (r < 0.45) {
          const own = rand() < 0.15;
          const key = own ? `obs/${id}/node` : pick(rand, KEYS);
          acked.push(await c.get(id).store.put(key, rand() < 0.25 ? null : { seed, step, by: id }));
        } else if (r < 0.6) {
          c.time += Math.floor(rand() * 2000);
        } else if (r < 0.8) {
          collect();
          shuffle(rand, wire);
          for (const m of wire.splice(0, Math.floor(rand() * wire.length))) {
            if (rand() < 0.1) continue; // lost
            await c.get(m.to).replica.receiveDelta(m.payload);
            if (rand() < 0.3) wire.push(m); // delivered again later
          }
        } else if (r < 0.92) {
          const other = pick(rand, ids.filter((x) => x !== id));
          await c.pushPull(id, other);
        } else {
          // Restart with writes in flight: close() flushes them, so those that resolve are acknowledged.
          const inflight = [c.get(id).store.put(pick(rand, KEYS), { inflight: step }), c.get(id).store.put(`obs/${id}/node`, { inflight: step })];
          c.restart(id);
          acked.push(...(await Promise.all(inflight))); // their deltas died with the process: push-pull repairs
        }
      }
      collect();
      for (const m of shuffle(rand, wire)) if (rand() < 0.5) await c.get(m.to).replica.receiveDelta(m.payload); // half lost: push-pull repairs
      // Each pair exchanges once, in a random direction: push-pull must carry both ways by itself.
      for (let i = 0; i < ids.length; i++) for (let j = i + 1; j < ids.length; j++) await (rand() < 0.5 ? c.pushPull(ids[i]!, ids[j]!) : c.pushPull(ids[j]!, ids[i]!));
      const ref = c.dump(ids[0]!);
      for (const id of ids) assert.is(c.dump(id), ref, `seed ${seed}: ${id} diverged from ${ids[0]}`);
      const store = c.get(ids[0]!).store;
      for (const w of acked) {
        const now = store.getEntry(w.key);
        assert.ok(now && compareHlc(now.ts, w.ts) >= 0, `seed ${seed}: acknowledged write of ${w.key} at ${JSON.stringify(w.ts)} lost`);
      }
    } finally {
      c.close();
    }
  }
});

test('property: deltas alone converge when each is delivered at least once, in any order, with duplicates', async () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const rand = rng(1000 + seed);
    const c = new TestCluster();
    try {
      const ids = ['a', 'b', 'c'];
      for (const id of ids) c.add(id, Math.floor((rand() - 0.5) * 4000));
      for (let i = 0; i < 40; i++) {
        c.time += Math.floor(rand() * 50);
        await c.get(pick(rand, ids)).store.put(pick(rand, KEYS), rand() < 0.3 ? null : { seed, i });
      }
      for (const to of ids) {
        const inbox = ids.filter((x) => x !== to).flatMap((from) => c.get(from).sent.map((d) => d.payload));
        const dup = inbox.filter(() => rand() < 0.5);
        for (const p of shuffle(rand, [...inbox, ...dup])) await c.get(to).replica.receiveDelta(p);
      }
      assert.is(c.dump('b'), c.dump('a'), `seed ${seed}`);
      assert.is(c.dump('c'), c.dump('a'), `seed ${seed}`);
    } finally {
      c.close();
    }
  }
});

test('property: local stamps only grow (across restarts while the clock stays within the drift bound of them); remote stamps beyond the bound are refused and never followed', async () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const rand = rng(2000 + seed);
    const c = new TestCluster({ ttl: DAY, compactAfterEntries: 7 });
    try {
      const n = c.add('n1');
      let highest: Hlc = { wall: 0, counter: 0, node: '' };
      let farAhead = 0;
      for (let step = 0; step < 60; step++) {
        const r = rand();
        if (r < 0.45) {
          const e = await n.store.put(pick(rand, KEYS), rand() < 0.3 ? null : step);
          assert.ok(compareHlc(e.ts, highest) > 0, `seed ${seed} step ${step}: stamp ${JSON.stringify(e.ts)} not after ${JSON.stringify(highest)}`);
          highest = e.ts;
        } else if (r < 0.65) {
          const ahead = rand() < 0.2 ? 3_600_000 : Math.floor((rand() - 0.5) * 20_000);
          const ts = { wall: c.time + n.skew + ahead, counter: Math.floor(rand() * 3), node: 'peer' };
          const r = await n.store.applyRemote([{ key: pick(rand, KEYS), value: { step }, ts }]);
          if (ahead > 60_000) {
            farAhead++;
            assert.equal(r.reasons, { future: 1 }, `seed ${seed}: a stamp ${ahead} ms ahead was not refused`);
          } else if (compareHlc(ts, highest) > 0) highest = ts;
        } else if (r < 0.8) {
          n.skew -= Math.floor(rand() * 3_600_000); // NTP or a bad RTC steps the clock back
        } else if (r < 0.9) {
          c.time += Math.floor(rand() * 2 * DAY); // tombstones age past the bound and are reaped
          n.store.reapNow();
        } else {
          n.skew -= Math.floor(rand() * 3 * DAY);
          assert.is(n.store.skew.count, farAhead, `seed ${seed}: far-ahead stamps not all counted`);
          farAhead = 0; // the count is per process
          c.restart('n1');
          const bound = c.time + n.skew + 60_000;
          if (highest.wall > bound) {
            // History further ahead than the bound is not followed (it would make every later stamp unacceptable to peers).
            const next = await n.store.put(pick(rand, KEYS), step);
            assert.ok(next.ts.wall <= bound + 1, `seed ${seed}: clock followed history ${highest.wall - bound} ms past the bound`);
            highest = next.ts;
          }
        }
      }
      assert.is(n.store.skew.count, farAhead, `seed ${seed}: far-ahead stamps not all counted`);
    } finally {
      c.close();
    }
  }
});

test('property: a node away longer than the bound never brings back a key deleted meanwhile; its recent writes and deletes hold', async () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const rand = rng(3000 + seed);
    const c = new TestCluster({ ttl: 7 * DAY });
    try {
      for (const id of ['x', 'b', 'c']) c.add(id);
      const keys = Array.from({ length: 16 }, (_, i) => `apps/k${i}`);
      await c.get('b').store.batch(keys.map((k) => ({ key: k, value: { v: 0 } })));
      for (const [a, b] of [['x', 'b'], ['c', 'b'], ['x', 'c']] as const) await c.pushPull(a, b);
      // Last event per key on each side during the absence: [time, live].
      const cur = new Map<string, [number, boolean]>();
      const away = new Map<string, [number, boolean]>();
      const days = 8 + Math.floor(rand() * 12);
      const steps = days * 4;
      for (let s = 0; s < steps; s++) {
        c.time += DAY / 4;
        const key = pick(rand, keys);
        const live = rand() < 0.4;
        if (rand() < 0.5) {
          await c.get(pick(rand, ['b', 'c'])).store.put(key, live ? { s } : null);
          cur.set(key, [c.time, live]);
        } else {
          await c.get('x').store.put(key, live ? { s, away: true } : null);
          away.set(key, [c.time, live]);
        }
        if (s % 4 === 3) await (rand() < 0.5 ? c.pushPull('b', 'c') : c.pushPull('c', 'b')); // daily, among the current side
      }
      await c.pushPull('b', 'c');
      await c.pushPull('c', 'b');
      const horizon = c.get('b').replica.info().reapedBefore;
      const peer = pick(rand, ['b', 'c']);
      const rep = await (rand() < 0.5 ? c.pushPull('x', peer) : c.pushPull(peer, 'x')); // the return
      assert.is(c.get('x').replica.info().status, 'current', `seed ${seed}: ${JSON.stringify(rep)}`);
      for (const [a, b] of [['c', 'x'], ['b', 'c'], ['x', 'b'], ['c', 'b']] as const) await c.pushPull(a, b);
      assert.is(c.dump('x'), c.dump('b'), `seed ${seed}: x diverged`);
      assert.is(c.dump('c'), c.dump('b'), `seed ${seed}: c diverged`);
      const s = c.get('b').store;
      for (const key of keys) {
        const cu = cur.get(key);
        const aw = away.get(key);
        const live = s.get(key) !== undefined;
        if (cu && !cu[1] && (!aw || aw[0] < cu[0])) assert.is(live, false, `seed ${seed}: ${key} deleted meanwhile came back`);
        if (aw && !aw[1] && (!cu || cu[0] < aw[0])) assert.is(live, false, `seed ${seed}: ${key} deleted by the away node came back`);
        if (aw && aw[1] && aw[0] >= horizon && (!cu || cu[0] < aw[0])) assert.is(live, true, `seed ${seed}: recent write of ${key} by the away node lost`);
      }
    } finally {
      c.close();
    }
  }
});

test.run();
