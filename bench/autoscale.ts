/**
 * make bench-autoscale: a load step on a 3-node cluster of the multi-node harness. The example app autoscales from 1
 * to 6 replicas at 10 req/s each; the load (through one node's proxy, open loop, bounded) runs at 8 req/s, then steps
 * to 40 req/s (4 replicas' worth). Prints the seconds from the step to the first new replica serving and to the
 * desired count serving, the error rate during the step (goal 0), then scales the app to zero and times its first
 * request (cold start); writes bench/out/autoscale.png (load, replicas and p99 latency over time) and ends with
 * `scale_up_s=X` (step to desired count; goal <= 10). BENCH_STEP_S (default 40) is how long the step lasts.
 */
import { mkdirSync } from 'node:fs';
import { startCluster, waitFor, type ClusterNode } from '../test/helpers/cluster.js';
import { CLUSTER_APP_ENV, noContainersOf, runningSlots, send, serveApp } from '../test/helpers/cluster-app.js';
import { percentile, startLoad, type LoadRecord } from '../test/helpers/load.js';
import { getWithHost } from '../test/helpers/net.js';
import { tempDir } from '../test/helpers/tmp.js';
import { writeTimeSeriesPng } from './chart.js';

const APP = 'asb-web';
const BASE_RPS = 8;
const STEP_RPS = 40;
const TARGET = 10;
const STEP_S = Math.max(20, Number(process.env.BENCH_STEP_S ?? 40));
const OUT = new URL('./out/', new URL('../../bench/', import.meta.url));

interface Sample { t: number; replicas: number; desired: number }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function replicasOf(n: ClusterNode): Promise<{ running: number; desired: number }> {
  const [slots, as] = await Promise.all([runningSlots(n, APP).catch(() => []), n.json<{ replicas: number }>(`/v1/apps/${APP}/autoscale`).catch(() => ({ replicas: -1 }))]);
  return { running: slots.length, desired: as.replicas };
}

async function main(): Promise<void> {
  const tmp = tempDir('pleaco-asb-');
  const cl = await startCluster({ nodes: 3, name: 'pleaco-asb', subnet: '10.212.19.0/24', env: CLUSTER_APP_ENV });
  try {
    const app = await serveApp(cl, tmp.dir, APP, 'autoscale bench');
    const [a, b, c] = cl.nodes as [ClusterNode, ClusterNode, ClusterNode];
    await send(a, `/v1/apps/${APP}/autoscale`, { min: 1, max: 6, targetRps: TARGET, windowS: 30 }, 'PUT');
    await waitFor('the idle app down to 1 replica', async () => ((await replicasOf(b)).running === 1 ? true : null), 120_000, 1000);
    console.log(`cluster up, ${APP} autoscaled 1..6 at ${TARGET} req/s per replica, idle at 1 replica`);

    const samples: Sample[] = [];
    const t0 = performance.now();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const started = performance.now();
        const r = await replicasOf(b);
        samples.push({ t: (started - t0) / 1000, replicas: r.running, desired: r.desired });
        await sleep(Math.max(0, 1000 - (performance.now() - started)));
      }
    })();
    const load = startLoad(async () => (await getWithHost(a.ip, 80, app.host, 10_000)).status === 200, { rps: BASE_RPS, maxRequests: 20_000, maxMs: (STEP_S + 60) * 1000 });
    await sleep(15_000);
    const stepAt = (performance.now() - t0) / 1000;
    load.setRate(STEP_RPS);
    console.log(`t=${stepAt.toFixed(1)} s: load ${BASE_RPS} -> ${STEP_RPS} req/s (${Math.ceil(STEP_RPS / TARGET)} replicas needed)`);
    const need = Math.ceil(STEP_RPS / TARGET);
    let firstNew: number | null = null;
    let reached: number | null = null;
    const stepEnd = performance.now() + STEP_S * 1000;
    while (performance.now() < stepEnd) {
      const s = samples.at(-1);
      if (s && s.t > stepAt) {
        if (firstNew === null && s.replicas > 1) firstNew = s.t - stepAt;
        if (reached === null && s.replicas >= need) reached = s.t - stepAt;
      }
      await sleep(200);
    }
    load.setRate(0);
    await sleep(10_000);
    const records = await load.stop();
    sampling = false;
    await sampler;

    const during = records.filter((r) => r.at / 1000 >= stepAt && r.at / 1000 < stepAt + STEP_S);
    const errors = during.filter((r) => !r.ok);
    console.log(`step: first new replica serving after ${firstNew === null ? 'never' : `${firstNew.toFixed(1)} s`}; ${need} replicas serving after ${reached === null ? 'never' : `${reached.toFixed(1)} s`}`);
    console.log(`step: ${errors.length} of ${during.length} requests failed (${((errors.length / Math.max(1, during.length)) * 100).toFixed(2)} %)${errors[0] ? `, first: ${errors[0].error}` : ''}; p99 ${percentile(during, 99)?.toFixed(0)} ms`);

    await writeChart(samples, records);

    // Cold start: min 0, a short window; once no container of the app is left, one request through another node.
    await send(a, `/v1/apps/${APP}/autoscale`, { min: 0, max: 6, targetRps: TARGET, windowS: 10 }, 'PUT');
    await waitFor('the app at zero, no container left', async () => {
      return (await replicasOf(b)).desired === 0 && (await noContainersOf(cl, APP)) ? true : null;
    }, 180_000, 1000);
    const tc = performance.now();
    const cold = await getWithHost(c.ip, 80, app.host, 120_000);
    const coldS = (performance.now() - tc) / 1000;
    console.log(`cold start: the first request to the app at zero answered ${cold.status} after ${coldS.toFixed(2)} s`);
    await app.daemon.stop();
    console.log(`first_replica_s=${firstNew === null ? 'never' : firstNew.toFixed(1)}`);
    console.log(`step_error_rate=${(errors.length / Math.max(1, during.length)).toFixed(4)}`);
    console.log(`cold_start_s=${cold.status === 200 ? coldS.toFixed(2) : `failed(${cold.status})`}`);
    console.log(`scale_up_s=${reached === null ? 'never' : reached.toFixed(1)}`);
  } finally {
    await cl.stop();
    tmp.cleanup();
  }
}

/** bench/out/autoscale.png: load sent, replicas serving, p99 per second. */
async function writeChart(samples: Sample[], records: LoadRecord[]): Promise<void> {
  const end = Math.ceil(Math.max(...samples.map((s) => s.t), ...records.map((r) => r.at / 1000)));
  const t = Array.from({ length: end + 1 }, (_, i) => i);
  const bySecond = t.map((i) => records.filter((r) => Math.floor(r.at / 1000) === i));
  // A second the sampler missed (an API call that took longer) holds the count seen last.
  let seen: number | null = null;
  const replicas = t.map((i) => (seen = samples.filter((s) => Math.floor(s.t) === i).at(-1)?.replicas ?? seen));
  mkdirSync(OUT, { recursive: true });
  const path = new URL('autoscale.png', OUT).pathname;
  await writeTimeSeriesPng(path, {
    title: `pleaco autoscaling: a load step from ${BASE_RPS} to ${STEP_RPS} req/s on 3 nodes (target ${TARGET} req/s per replica)`,
    t,
    series: [
      { name: 'load', unit: 'req/s', values: bySecond.map((rs) => rs.length) },
      { name: 'replicas serving', unit: 'replicas', values: replicas, step: true },
      { name: 'p99 latency', unit: 'ms', values: bySecond.map((rs) => percentile(rs, 99)) },
    ],
  });
  console.log(`chart: ${path}`);
}

await main();
