/**
 * Autoscaling across three nodes (the multi-node harness): an app with a policy of 1 to 3 replicas at 5 req/s each
 * goes down to its minimum when idle, rises across the nodes under bounded load sent through one node's proxy, and
 * falls back after the (short) window once the load stops; every node shows the owner's decisions with their reasons.
 * With min 0 an idle app goes to zero replicas, and its first request, through any node's proxy, is held by that
 * node's activator until a replica is up, then answered.
 * Skipped without root/Docker.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { clusterUnavailable, startCluster, waitFor, type Cluster, type ClusterNode } from '../helpers/cluster.js';
import { CLUSTER_APP_ENV, noContainersOf, runningSlots, send, serveApp, type ClusterApp } from '../helpers/cluster-app.js';
import { startLoad } from '../helpers/load.js';
import { getWithHost } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

const APP = 'as-web';
const WINDOW_S = 20;

interface Status { desired: number; metric: number; decisions: { current: number; desired: number; reason: string }[] }
interface Ctx { cl: Cluster; tmp: ReturnType<typeof tempDir>; app: ClusterApp }

const m = suite<Ctx>('autoscaling across nodes');

/** A request whose status the test checks (send() throws on anything but 2xx). */
async function call(n: ClusterNode, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await n.api(path, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  return { status: res.status, body: await res.json().catch(() => null) };
}

const replicas = async (n: ClusterNode): Promise<number> => (await n.json<{ replicas: number }>(`/v1/apps/${APP}/autoscale`)).replicas;
const status = async (n: ClusterNode): Promise<Status | null> => (await n.json<{ status: Status | null }>(`/v1/apps/${APP}/autoscale`)).status;

const why = clusterUnavailable();
if (why) {
  console.log(`autoscaling across nodes skipped: ${why}`);
  m.skip('an app autoscaled on three nodes: idle to min, up under load, down after the window', () => undefined);
} else {
  m.before(async (ctx) => {
    ctx.cl = await startCluster({ nodes: 3, name: 'pleaco-as', subnet: '10.212.15.0/24', env: CLUSTER_APP_ENV });
    ctx.tmp = tempDir('pleaco-as-');
    ctx.app = await serveApp(ctx.cl, ctx.tmp.dir, APP, 'autoscaled');
  });
  m.after(async (ctx) => {
    await ctx.app?.daemon.stop();
    await ctx.cl?.stop();
    ctx.tmp?.cleanup();
  });

  m('a policy: ps:scale is refused, and an idle app goes down to its minimum after the window', async ({ cl }) => {
    const [a, b] = cl.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const set = await send<{ policy: { min: number; max: number; targetRps: number; windowS: number } }>(a, `/v1/apps/${APP}/autoscale`, { min: 1, max: 3, targetRps: 5, windowS: WINDOW_S }, 'PUT');
    assert.equal(set.policy, { min: 1, max: 3, targetRps: 5, windowS: WINDOW_S });
    const refused = await call(b, 'PUT', `/v1/apps/${APP}/scale`, { replicas: 2 });
    assert.is(refused.status, 409, 'ps:scale is refused while autoscaled');
    assert.match(JSON.stringify(refused.body), /autoscale/);
    await waitFor('the idle app down to 1 replica', async () => ((await replicas(b)) === 1 ? true : null), (WINDOW_S + 40) * 1000, 1000);
    // The owner's record reaches every node by replication: another node shows the scale-down with its reason.
    const st = await waitFor('the scale-down shown on another node', async () => {
      const s = await status(cl.nodes[2]!);
      return s?.decisions.some((d) => d.desired < d.current) ? s : null;
    }, 30_000, 500);
    assert.ok(st.decisions.some((d) => d.desired < d.current && d.reason.length > 10), `a scale-down with its reason: ${JSON.stringify(st.decisions)}`);
  });

  m('under bounded load through one proxy: replicas rise across the nodes; the load stops: they fall after the window', async ({ cl, app }) => {
    const [a, b] = cl.nodes as [ClusterNode, ClusterNode, ClusterNode];
    // 25 req/s against a target of 5 per replica: 3 replicas (the max) are needed. At most 60 s, 1500 requests.
    const load = startLoad(async () => (await getWithHost(a.ip, 80, app.host, 5000)).status === 200, { rps: 25, maxRequests: 1500, maxMs: 60_000 });
    let spread: number;
    try {
      const slots = await waitFor('3 replicas running, one per node', async () => {
        const r = await runningSlots(b, APP).catch(() => []);
        return r.length === 3 && new Set(r.map((s) => s.node)).size === 3 ? r : null;
      }, 55_000, 1000);
      spread = new Set(slots.map((s) => s.node)).size;
    } finally {
      await load.stop();
    }
    assert.is(spread, 3);
    const errors = load.records.filter((r) => !r.ok);
    assert.ok(errors.length <= load.records.length * 0.01, `at most 1% errors while scaling up: ${errors.length} of ${load.records.length} (${errors[0]?.error ?? ''})`);
    const st = await waitFor('the scale-up shown on another node', async () => {
      const s = await status(cl.nodes[2]!);
      return s?.decisions.some((d) => d.desired > d.current) ? s : null;
    }, 30_000, 500);
    assert.ok(st.decisions.some((d) => d.desired > d.current && d.reason.length > 10), `a scale-up decision with its reason: ${JSON.stringify(st.decisions)}`);
    const log = await (await b.api(`/v1/apps/${APP}/logs?tail=0`)).text();
    assert.match(log, /"slot":"autoscale".*replicas: /, 'the decisions are events of the app\'s log (pleaco logs)');
    await waitFor('back to 1 replica after the window', async () => ((await replicas(a)) === 1 ? true : null), (WINDOW_S + 40) * 1000, 1000);
    assert.is(await replicas(b), 1, 'the same count from every node');
  });

  m('min 0: idle, the app goes to zero replicas; its first request through any node wakes it and succeeds', async ({ cl, app }) => {
    const [a, , c] = cl.nodes as [ClusterNode, ClusterNode, ClusterNode];
    await send(a, `/v1/apps/${APP}/autoscale`, { min: 0, max: 3, targetRps: 5, windowS: 10 }, 'PUT');
    await waitFor('the idle app at zero replicas, no container of it on any node', async () => {
      return (await replicas(a)) === 0 && (await noContainersOf(cl, APP)) ? true : null;
    }, 120_000, 1000);
    const t0 = performance.now();
    const res = await getWithHost(c.ip, 80, app.host, 90_000);
    const coldS = (performance.now() - t0) / 1000;
    assert.is(res.status, 200, `the first request is answered (${coldS.toFixed(1)} s): ${res.body.slice(0, 200)}`);
    assert.match(res.body, 'autoscaled');
    console.log(`  cold start through ${c.name}'s proxy: ${coldS.toFixed(2)} s`);
    assert.ok((await replicas(a)) >= 1, 'one replica runs again');
    const warm = await getWithHost(a.ip, 80, app.host, 10_000);
    assert.is(warm.status, 200, 'and serves the next requests through the other proxies');
  });

  m('off: the count stays and ps:scale works again', async ({ cl }) => {
    const [a, b] = cl.nodes as [ClusterNode, ClusterNode, ClusterNode];
    assert.is((await call(b, 'DELETE', `/v1/apps/${APP}/autoscale`)).status, 200);
    // Through another node: the owner decides, and the policy is gone there too once replicated.
    const r = await call(a, 'PUT', `/v1/apps/${APP}/scale`, { replicas: 2 });
    assert.is(r.status, 200, JSON.stringify(r.body));
    await waitFor('the policy gone on every node', async () => {
      for (const n of cl.nodes) if ((await n.json<{ policy: unknown }>(`/v1/apps/${APP}/autoscale`)).policy !== null) return null;
      return true;
    }, 15_000, 250);
  });
}

m.run();
