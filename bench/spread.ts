/**
 * make bench-spread: a new release of the example app on 3 nodes of the multi-node harness, an app with 3 replicas
 * (one per node). A one-line change is pushed; prints the seconds from the build done to the image present on all 3
 * nodes, the bytes that crossed between nodes for it (the agents' image-transfer counters), the seconds from the push
 * to the new page served by all 3 replicas through every node's proxy, beside a bare `docker build` + `docker run` of
 * the same change on one node (source already there, as in make bench-deploy), and last `cluster_deploy_ratio=X`
 * (cluster push-to-serving / bare; goal <= 1.5). BENCH_ROUNDS (default 2) one-line changes; medians.
 */
import { execFileSync } from 'node:child_process';
import { startCluster, waitFor, type ClusterNode } from '../test/helpers/cluster.js';
import { CLUSTER_APP_ENV, send, serveApp } from '../test/helpers/cluster-app.js';
import { getWithHost } from '../test/helpers/net.js';
import { tempDir } from '../test/helpers/tmp.js';

const APP = 'sp-web';
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2));

interface Counters { bytes: number; wireBytes: number; layersFetched: number }

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function received(nodes: ClusterNode[]): Promise<Counters> {
  const all = await Promise.all(nodes.map((n) => n.json<{ counters: Counters }>('/v1/internal/images')));
  return all.reduce((s, x) => ({ bytes: s.bytes + x.counters.bytes, wireBytes: s.wireBytes + x.counters.wireBytes, layersFetched: s.layersFetched + x.counters.layersFetched }), { bytes: 0, wireBytes: 0, layersFetched: 0 });
}

/** A bare docker build + run of the source in `dir` inside node `n`, until its page shows `marker`: ms. */
async function bare(n: ClusterNode, dir: string, marker: string, round: number): Promise<number> {
  const tag = `pleaco-bench/bare:${round}`;
  const labels = ['--label', 'io.pleaco.managed=true', '--label', 'io.pleaco.role=bench'];
  const t0 = performance.now();
  const b = await n.exec(['docker', 'build', '-q', ...labels, '-t', tag, dir], { timeoutMs: 300_000 });
  if (b.code !== 0) throw new Error(`docker build failed: ${b.stderr}`);
  const run = await n.exec(['docker', 'run', '-d', ...labels, '-e', 'PORT=5000', '-p', `${n.ip}::5000`, tag]);
  const id = run.stdout.trim();
  try {
    const port = Number((await n.exec(['docker', 'port', id, '5000/tcp'])).stdout.split('\n')[0]!.split(':').pop());
    await waitFor('the bare container to answer', async () => ((await getWithHost(n.ip, port, 'bare', 2000).catch(() => null))?.body.includes(marker) ? true : null), 60_000, 20);
    return performance.now() - t0;
  } finally {
    await n.exec(['docker', 'rm', '-f', id]);
    await n.exec(['docker', 'rmi', tag]);
  }
}

async function main(): Promise<void> {
  const tmp = tempDir('pleaco-spread-');
  // PLEACO_WARM_START=false compares the deploy path without warm starts (passed to the nodes).
  const warm = process.env.PLEACO_WARM_START;
  const cl = await startCluster({ nodes: 3, name: 'pleaco-spread', subnet: '10.212.17.0/24', env: { ...CLUSTER_APP_ENV, ...(warm ? { PLEACO_WARM_START: warm } : {}) } });
  try {
    const { host, repo, daemon } = await serveApp(cl, tmp.dir, APP, 'spread v0');
    const b = cl.nodes[1]!;
    const spreadS: number[] = [];
    const servingS: number[] = [];
    const bareS: number[] = [];
    const bytes: number[] = [];
    const wire: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const marker = `spread v${round}`;
      const before = await received(cl.nodes);
      const t0 = performance.now();
      repo.commit({ 'index.html': `<h1>${marker}</h1>\n` }, `v${round}`);
      const { build } = await send<{ build: { id: string } }>(b, `/v1/apps/${APP}/deploys`, {});
      const done = await waitFor('the build to finish', async () => {
        const r = await b.json<{ build: { status: string; imageId?: string; node?: string; durations?: Record<string, number> } }>(`/v1/apps/${APP}/builds/${build.id}`).catch(() => null);
        return r && r.build.status !== 'queued' && r.build.status !== 'running' ? r.build : null;
      }, 300_000, 100);
      if (done.status !== 'succeeded' || !done.imageId) throw new Error(`build ${build.id} ${done.status}`);
      const tBuilt = performance.now();
      await waitFor('the image on every node', async () => {
        for (const n of cl.nodes) if ((await n.exec(['docker', 'image', 'inspect', '--format', '{{.Id}}', done.imageId!])).stdout.trim() !== done.imageId) return null;
        return true;
      }, 300_000, 100);
      spreadS.push((performance.now() - tBuilt) / 1000);
      // Served means: every replica runs the new release (no slot still on the old one or pending) and every node's
      // proxy answers with the new page.
      const release = (await b.json<{ build: { release?: number } }>(`/v1/apps/${APP}/builds/${build.id}`)).build.release;
      await waitFor('every replica on the new release, the new page through every node\'s proxy', async () => {
        const ps = (await b.json<{ processes: { release: number; state: string; next?: unknown }[] }>(`/v1/apps/${APP}/ps`).catch(() => null))?.processes ?? [];
        if (ps.length !== 3 || ps.some((p) => p.release !== release || p.state !== 'running' || p.next)) return null;
        for (const n of cl.nodes) if (!(await getWithHost(n.ip, 80, host, 2000).catch(() => null))?.body.includes(marker)) return null;
        return true;
      }, 300_000, 50);
      servingS.push((performance.now() - t0) / 1000);
      const after = await received(cl.nodes);
      bytes.push(after.bytes - before.bytes);
      wire.push(after.wireBytes - before.wireBytes);
      // The bare baseline: the same change built and run by hand on one node, its source copied there first.
      const src = `/tmp/bare-${round}`;
      execFileSync('docker', ['cp', repo.work, `${cl.nodes[0]!.name}:${src}`]);
      bareS.push((await bare(cl.nodes[0]!, src, marker, round)) / 1000);
      const stages = Object.entries(done.durations ?? {}).map(([k, v]) => `${k} ${(v / 1000).toFixed(2)} s`).join(', ');
      console.log(`round ${round}: build ${((tBuilt - t0) / 1000).toFixed(2)} s after the push (${stages})`);
      console.log(`round ${round}: image on all 3 nodes ${spreadS.at(-1)!.toFixed(2)} s after the build, ${bytes.at(-1)} bytes received (${wire.at(-1)} on the wire); push to serving on 3 nodes ${servingS.at(-1)!.toFixed(2)} s; bare build+run on one node ${bareS.at(-1)!.toFixed(2)} s`);
    }
    await daemon.stop();
    const ratio = median(servingS) / median(bareS);
    console.log(`medians over ${ROUNDS}: build done -> image on every node ${median(spreadS).toFixed(2)} s; bytes for a one-line change ${median(bytes)} (${median(wire)} on the wire); push -> serving on 3 nodes ${median(servingS).toFixed(2)} s; bare ${median(bareS).toFixed(2)} s`);
    console.log(`spread_s=${median(spreadS).toFixed(2)}`);
    console.log(`spread_bytes=${median(bytes)}`);
    console.log(`cluster_deploy_ratio=${ratio.toFixed(2)}`);
  } finally {
    await cl.stop();
    tmp.cleanup();
  }
}

await main();
