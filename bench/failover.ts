/**
 * make bench-failover: 3 nodes of the multi-node harness (own address, state and Docker Engine each), an app with 3
 * replicas, bounded load through a surviving node's proxy (one request at a time, 5 s timeout each, for at most
 * BENCH_SECONDS), and one node killed (`docker kill`: the machine is gone with its containers). Prints the seconds from
 * the kill until every slot runs again on the survivors, the requests answered and failed meanwhile, and last
 * `failover_s=X` (goal <= 10; failed requests goal 0).
 */
import { startCluster, waitFor, type ClusterNode } from '../test/helpers/cluster.js';
import { CLUSTER_APP_ENV, runningSlots, serveApp } from '../test/helpers/cluster-app.js';
import { getWithHost } from '../test/helpers/net.js';
import { tempDir } from '../test/helpers/tmp.js';

const APP = 'fo-web';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);

async function main(): Promise<void> {
  const tmp = tempDir('pleaco-failover-');
  const cl = await startCluster({ nodes: 3, name: 'pleaco-bench', subnet: '10.212.16.0/24', env: CLUSTER_APP_ENV });
  try {
    const { host, daemon } = await serveApp(cl, tmp.dir, APP, 'failover');
    const [a, , c] = cl.nodes as [ClusterNode, ClusterNode, ClusterNode];
    // The survivor whose proxy takes the load, and the node to kill: one that runs a replica, not the survivor.
    const victim = c;
    let ok = 0;
    let failed = 0;
    let stop = false;
    const until = Date.now() + SECONDS * 1000;
    const load = (async () => {
      while (!stop && Date.now() < until) {
        try {
          const res = await getWithHost(a.ip, 80, host);
          if (res.status === 200) ok++;
          else failed++;
        } catch {
          failed++;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await new Promise((r) => setTimeout(r, 3000));
    const before = { ok, failed };
    const t0 = Date.now();
    await victim.kill();
    await waitFor('every slot running on the survivors', async () => {
      const r = await runningSlots(a, APP).catch(() => []);
      return r.length === 3 && r.every((s) => s.node !== victim.id) ? r : null;
    }, 120_000, 250);
    const failoverS = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 3000));
    stop = true;
    await load;
    await daemon.stop();
    console.log(`3 nodes, ${APP} with 3 replicas, load through ${a.name}'s proxy; ${victim.name} killed`);
    console.log(`every slot running again on the survivors after ${failoverS.toFixed(1)} s`);
    console.log(`requests from the kill until 3 s after: ${ok - before.ok} answered, ${failed - before.failed} failed (before the kill: ${before.ok} answered, ${before.failed} failed)`);
    console.log(`failed_requests=${failed - before.failed}`);
    console.log(`failover_s=${failoverS.toFixed(1)}`);
  } finally {
    await cl.stop();
    tmp.cleanup();
  }
}

await main();
