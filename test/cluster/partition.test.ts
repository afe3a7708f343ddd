/**
 * A network partition with five real pleaco agents, one per network namespace (bench/gossip's NetnsLab and
 * PleacoCluster): split 3/2 by iptables DROP, acknowledged writes on both sides (own keys, and one key written
 * on both sides), heal. Each side must see the other side's nodes fail or turn suspect during the split; after
 * the heal every node is alive again, and all five hold the same state: no acknowledged write lost, the
 * conflicting key resolved by LWW identically everywhere, within two anti-entropy intervals of the rejoin.
 *
 * The split lasts PLEACO_PARTITION_SPLIT_S seconds (default 12; `make partition` runs the issue's 30 s).
 * Prints the measured times (heal → all alive, heal → converged). Skipped, saying why, without root,
 * network namespaces or iptables.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NetnsLab, benchNamespaces, labUnavailable } from '../../bench/gossip/netns.js';
import { splitHosts, withPartition } from '../../bench/gossip/partition.js';
import { PleacoCluster } from '../../bench/gossip/pleaco.js';
import { nowMs } from '../../bench/gossip/proc.js';
import { wins, type Entry } from '../../src/state/index.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from './_agents.js';
import { pathOf, ROUTES } from '../../src/link/index.js';

const SPLIT_MS = Number(process.env.PLEACO_PARTITION_SPLIT_S ?? 12) * 1000;
const AE_MS = 2_000;
const REJOIN_BOUND_MS = 60_000; // Serf-style reconnect of failed members runs every 30 s
// Lifeguard slows the probing of a node whose probes keep failing (up to 8×), so the small side may take a while.
const MEMBERSHIP_BOUND_MS = 30_000;
const A = [0, 1, 2];
const B = [3, 4];

/** An acknowledged write: what the API answered (key, value and its HLC stamp). */
async function write(cl: PleacoCluster, node: number, key: string, value: unknown): Promise<Entry> {
  const res = await cl.client(node).request<{ entries: Entry[] }>(ROUTES.state.method, pathOf(ROUTES.state), { body: { ops: [{ key, value }] } });
  const e = res.entries[0];
  assert.ok(e && e.key === key && e.ts, `the write of ${key} on node ${node} was acknowledged with a stamp`);
  return e;
}

/** Node `i`'s view of node `j`'s state as `GET /v1/cluster` shows it. */
async function stateOf(cl: PleacoCluster, i: number, j: number): Promise<string> {
  const m = (await cl.members(i)).find((x) => x.id === `n${j + 1}`);
  return m?.state ?? 'absent';
}

/** True when every node in `from` shows every node in `about` in one of `states`. */
async function allSee(cl: PleacoCluster, from: number[], about: number[], states: string[]): Promise<boolean> {
  for (const i of from) for (const j of about) if (i !== j && !states.includes(await stateOf(cl, i, j))) return false;
  return true;
}

/** Keys whose value on node `i` (latest from its watch stream) differs from `expected`; [] when equal. */
function differences(cl: PleacoCluster, i: number, expected: Map<string, Entry>): string[] {
  const got = cl.entries(i);
  const diff = [...expected.keys()].filter((k) => JSON.stringify(got.get(k)?.value) !== JSON.stringify(expected.get(k)!.value));
  for (const k of got.keys()) if (!expected.has(k)) diff.push(k);
  return diff;
}

/** Node `i`'s entries under the cluster's prefix, read afresh: a new watch stream up to its `synced` line. */
async function snapshot(cl: PleacoCluster, i: number): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  const ac = new AbortController();
  const onEvent = (ev: unknown): void => {
    const e = ev as { type: string; entry?: Entry };
    if (e.type === 'entry' && e.entry) out.set(e.entry.key, e.entry);
    if (e.type === 'synced') ac.abort();
  };
  await cl.client(i).stream(pathOf(ROUTES.watch, {}, { prefix: cl.prefix }), onEvent, { signal: ac.signal }).catch((err: unknown) => {
    if (!ac.signal.aborted) throw err;
  });
  return out;
}

const why = labUnavailable();
if (why) {
  console.log(`partition test skipped: ${why}`);
  test.skip('a 3/2 partition of five agents heals to one state', () => undefined);
} else {
  test(`five agents split 3/2 for ${SPLIT_MS / 1000} s with writes on both sides converge after heal, LWW deciding the conflict`, async () => {
    const tmp = tempDir('pleaco-partition-');
    const lab = await NetnsLab.create(5);
    const cl = new PleacoCluster({ antiEntropyMs: AE_MS, prefix: 'bench/part-' });
    try {
      const nodes = lab.hosts.map((h) => ({ host: h, name: `n${h.index}` }));
      await cl.start(nodes, { lab, key: randomBytes(32), workDir: tmp.dir, timeoutMs: 60_000 });
      const acked = new Map<string, Entry>(); // key → the acknowledged write that must survive
      const before = await write(cl, 0, 'bench/part-before', { v: 0 });
      acked.set(before.key, before);
      await until('every node has the write made before the split', async () => (A.concat(B).every((i) => cl.entries(i).has('bench/part-before')) ? true : null), 10_000);

      const [ha, hb] = splitHosts(lab.hosts, [3, 2]) as [typeof lab.hosts, typeof lab.hosts];
      const conflict: Entry[] = [];
      let sawSplitMs = 0;
      let wave1Ms = 0;
      const splitAt = nowMs();
      await withPartition(lab, [ha, hb], SPLIT_MS, async () => {
        // Wave 1, right after the cut (the other side still looks alive): one key per node.
        for (const i of [...A, ...B]) acked.set(`bench/part-w1-n${i + 1}`, await write(cl, i, `bench/part-w1-n${i + 1}`, { side: A.includes(i) ? 'A' : 'B', node: `n${i + 1}` }));
        conflict.push(await write(cl, 1, 'bench/part-conflict', { side: 'A', node: 'n2' }));
        wave1Ms = nowMs() - splitAt;
        // Membership sees the partition: each side marks the other side's nodes suspect or failed.
        await until('each side marks the other side suspect or failed', async () => {
          const ok = (await allSee(cl, A, B, ['suspect', 'dead'])) && (await allSee(cl, B, A, ['suspect', 'dead']));
          return ok ? true : null;
        }, MEMBERSHIP_BOUND_MS);
        sawSplitMs = nowMs() - splitAt;
        for (const i of A) for (const j of A) if (i !== j) assert.is(await stateOf(cl, i, j), 'alive', `n${i + 1} still sees its own side's n${j + 1} alive`);
        // Wave 2, with the other side known down; the later write of the conflicting key is on side B.
        for (const i of [...A, ...B]) acked.set(`bench/part-w2-n${i + 1}`, await write(cl, i, `bench/part-w2-n${i + 1}`, { side: A.includes(i) ? 'A' : 'B', node: `n${i + 1}`, wave: 2 }));
        conflict.push(await write(cl, 3, 'bench/part-conflict', { side: 'B', node: 'n4' }));
        // Each side's writes spread within the side (gossip, else the next anti-entropy round with a live peer)...
        const sideKeys = (side: number[]): string[] => [...acked.keys()].filter((k) => side.some((i) => k.endsWith(`-n${i + 1}`)));
        await until('each side holds its own side\'s writes and its latest conflicting write', async () => {
          const ok = A.every((i) => sideKeys(A).every((k) => cl.entries(i).has(k)) && (cl.entries(i).get('bench/part-conflict')?.value as { side?: string })?.side === 'A') &&
            B.every((i) => sideKeys(B).every((k) => cl.entries(i).has(k)) && (cl.entries(i).get('bench/part-conflict')?.value as { side?: string })?.side === 'B');
          return ok ? true : null;
        }, 3 * AE_MS + 5_000);
        // ...and the cut is real: no write crossed it.
        for (const i of A) assert.not.ok([...cl.entries(i).keys()].some((k) => /n[45]$/.test(k)), `side A node n${i + 1} got none of side B's writes`);
        for (const i of B) assert.not.ok([...cl.entries(i).keys()].some((k) => /n[123]$/.test(k)), `side B node n${i + 1} got none of side A's writes`);
        assert.equal(cl.entries(0).get('bench/part-conflict')?.value, { side: 'A', node: 'n2' });
        assert.equal(cl.entries(4).get('bench/part-conflict')?.value, { side: 'B', node: 'n4' });
      });
      const healAt = nowMs();
      console.log(`  split held ${((healAt - splitAt) / 1000).toFixed(1)} s; first writes acknowledged after ${(wave1Ms / 1000).toFixed(1)} s;` +
        ` both sides saw each other suspect/failed after ${(sawSplitMs / 1000).toFixed(1)} s`);

      const [ca, cb] = conflict as [Entry, Entry];
      const winner = wins(cb, ca) ? cb : ca;
      assert.equal(winner.value, { side: 'B', node: 'n4' }, 'the later write (larger HLC stamp) wins');
      acked.set('bench/part-conflict', winner);

      await until('every node sees all five alive again', async () => ((await allSee(cl, [...A, ...B], [...A, ...B], ['alive'])) ? true : null), REJOIN_BOUND_MS);
      const rejoinAt = nowMs();
      const converged = await cl.log.waitUntil(() => [...A, ...B].every((i) => differences(cl, i, acked).length === 0), 2 * AE_MS + 30_000);
      const convergedAt = Math.max(...[...A, ...B].flatMap((i) => [...acked.keys()].map((k) => cl.entries(i).get(k)?.at ?? Infinity)));
      assert.ok(converged, `all nodes hold every acknowledged write: ${[...A, ...B].map((i) => `n${i + 1} differs in [${differences(cl, i, acked).join(', ')}]`).join('; ')}`);
      const rejoinMs = rejoinAt - healAt;
      const healToSyncMs = convergedAt - healAt;
      console.log(`  after heal: all alive after ${(rejoinMs / 1000).toFixed(1)} s, all five converged after ${(healToSyncMs / 1000).toFixed(1)} s` +
        ` (anti-entropy interval ${AE_MS / 1000} s; ${acked.size} acknowledged keys)`);
      assert.ok(healToSyncMs <= rejoinMs + 2 * AE_MS, `converged ${healToSyncMs.toFixed(0)} ms after heal, bound: rejoin ${rejoinMs.toFixed(0)} ms + 2 × ${AE_MS} ms`);

      // The same state everywhere, read afresh from each node's API: same keys, values and stamps.
      const snaps = await Promise.all([...A, ...B].map((i) => snapshot(cl, i)));
      for (const [k, e] of acked) {
        for (const [n, s] of snaps.entries()) assert.equal([s.get(k)?.value, s.get(k)?.ts], [e.value, e.ts], `n${n + 1} has ${k} as acknowledged (value and stamp)`);
      }
      for (const [n, s] of snaps.entries()) assert.equal([...s.values()].sort((x, y) => x.key.localeCompare(y.key)), [...snaps[0]!.values()].sort((x, y) => x.key.localeCompare(y.key)), `n${n + 1} holds the same entries as n1`);
      assert.is(snaps[0]!.size, acked.size);
    } finally {
      await cl.stop();
      lab.cleanup();
      tmp.cleanup();
    }
    assert.equal(benchNamespaces(process.pid), [], 'no namespace left');
    assert.equal(cl.pids(), [], 'no agent left running');
    assert.not.ok(existsSync(cl.workDir()), 'the state dirs (keys, tokens) are removed');
  });
}

test.run();
