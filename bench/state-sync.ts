/**
 * Anti-entropy figures for the replicated store (node dist/bench/state-sync.js; BENCH_SYNC_SIZES=10000,100000).
 * Two real Stores on temp dirs (real WAL, fsync) talk through directExchange (JSON on the wire, no
 * network). For each size: full sync of an empty node, steady-state push-pull (median of 15), and
 * push-pull after N differences on both sides; bytes both ways, messages, rounds and wall time.
 * Beside them, the size of the naive alternative (every key with its stamp) for the same store.
 */
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { Replica, Store, directExchange, encodeDelta } from '../src/state/index.js';
import { tempDir } from '../test/helpers/tmp.js';

const SIZES = (process.env.BENCH_SYNC_SIZES ?? '10000,100000').split(',').map(Number);
const DIFFS = [1, 10, 100, 1000];

function open(dir: string, nodeId: string): { store: Store; replica: Replica } {
  const store = Store.open({ dir, nodeId, tombstoneTtlMs: 7 * 86_400_000, compactAfterEntries: 1_000_000 });
  return { store, replica: new Replica(store) };
}

const value = (i: number) => ({ replicas: 1 + (i % 5), image: `sha256:${(i * 2654435761 >>> 0).toString(16).padStart(8, '0')}e3b0c44298fc1c149afbf4c8996fb924`, port: 8080, updatedBy: 'node-a' });
const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function size(n: number): Promise<void> {
  const tmp = tempDir('pleaco-bench-sync-');
  try {
    const a = open(join(tmp.dir, 'a'), 'node-a');
    let t = performance.now();
    for (let i = 0; i < n; i += 5000) {
      await a.store.batch(Array.from({ length: Math.min(5000, n - i) }, (_, j) => ({ key: `apps/app-${i + j}/spec`, value: value(i + j) })));
    }
    const loadMs = performance.now() - t;
    a.store.close();
    t = performance.now();
    const a2 = open(join(tmp.dir, 'a'), 'node-a'); // reopen: load + digest index build + compaction
    const openMs = performance.now() - t;
    const b = open(join(tmp.dir, 'b'), 'node-b');

    let call = directExchange(a2.replica);
    t = performance.now();
    const full = await b.replica.pushPull(call);
    const fullMs = performance.now() - t;
    console.log(`keys=${n} write_all_ms=${loadMs.toFixed(0)} reopen_ms=${openMs.toFixed(0)}`);
    console.log(`keys=${n} full_sync_ms=${fullMs.toFixed(0)} bytes_out=${kb(call.stats.bytesOut)} bytes_in=${kb(call.stats.bytesIn)} messages=${call.stats.requests} rounds=${full.rounds} entries=${full.entriesIn} largest_message=${kb(Math.max(...Object.values(call.stats.largest)))}`);

    const steadyMs: number[] = [];
    let steadyBytes = 0;
    for (let i = 0; i < 15; i++) {
      call = directExchange(a2.replica);
      t = performance.now();
      const r = await b.replica.pushPull(call);
      steadyMs.push(performance.now() - t);
      if (!r.inSync) throw new Error('steady state not in sync');
      steadyBytes = call.stats.bytesOut + call.stats.bytesIn;
    }
    const naive = Buffer.byteLength(JSON.stringify(a2.store.allEntries().map((e) => [e.key, e.ts.wall, e.ts.counter, e.ts.node])));
    console.log(`keys=${n} steady_ms_median=${median(steadyMs).toFixed(2)} steady_bytes=${steadyBytes} messages=1 naive_key_list=${kb(naive)} ratio=${(naive / steadyBytes).toFixed(0)}x`);

    for (const d of DIFFS) {
      const ops = Array.from({ length: d }, (_, i) => ({ key: `apps/app-${(i * 7919 + d) % n}/spec`, value: i % 4 === 0 ? null : { ...value(i), rev: d } }));
      await a2.store.batch(ops);
      await b.store.batch(Array.from({ length: Math.ceil(d / 2) }, (_, i) => ({ key: `env/b-${d}-${i}`, value: `v${i}` })));
      call = directExchange(a2.replica);
      t = performance.now();
      const r = await b.replica.pushPull(call);
      const ms = performance.now() - t;
      const equal = a2.store.digest.top() === b.store.digest.top();
      console.log(`keys=${n} diffs=${d}+${Math.ceil(d / 2)} ms=${ms.toFixed(1)} bytes=${kb(call.stats.bytesOut + call.stats.bytesIn)} messages=${call.stats.requests} buckets=${r.buckets} in=${r.entriesIn} out=${r.entriesOut} converged=${equal}`);
    }
    a2.store.close();
    b.store.close();
  } finally {
    tmp.cleanup();
  }
}

async function main(): Promise<void> {
  const delta = encodeDelta({ key: 'apps/web/spec', value: value(1), ts: { wall: Date.now(), counter: 0, node: 'node-a' } });
  console.log(`delta_bytes_typical=${Buffer.byteLength(JSON.stringify(delta))}`);
  for (const n of SIZES) await size(n);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
