/**
 * Discovery in the multi-node harness (node containers on a bridge of their own, each with its own Docker Engine;
 * multicast between them is real):
 *  - 3 nodes started together with no seeds form one cluster by mDNS; a 4th node with another key stays out, and
 *    `pleaco nodes` on the others counts its announcements;
 *  - two nodes started apart (their link cut) each bootstrap alone and deploy an app; when the link comes up they
 *    find each other by mDNS and merge: both apps kept and served by both proxies, and an app name made on both
 *    sides is reported, the one written last kept.
 * Blocked multicast with seeds, DNS seeds and backoff are in test/discovery/seeds.test.ts. Skipped without root/Docker.
 */
import { mkdirSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { webApp } from '../helpers/apps.js';
import { clusterUnavailable, startCluster, waitFor, type Cluster, type ClusterNode } from '../helpers/cluster.js';
import { CLUSTER_APP_ENV, CLUSTER_DOMAIN, gitDaemonFor, runningSlots, send } from '../helpers/cluster-app.js';
import { TestRepo, type Daemon } from '../helpers/gitrepo.js';
import { getWithHost } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

const why = clusterUnavailable();
const alive = async (n: ClusterNode): Promise<string[]> => (await n.members()).filter((m) => m.state === 'alive').map((m) => m.id).sort();

const found = suite<{ cl: Cluster }>('3 nodes by mDNS, a 4th with another key');
const merge = suite<{ cl: Cluster; tmp: ReturnType<typeof tempDir>; daemon: Daemon }>('two single nodes merge');

if (why) {
  console.log(`discovery in the multi-node harness skipped: ${why}`);
  found.skip('3 nodes started together with no seeds form one cluster by mDNS', () => undefined);
  merge.skip('two bootstrapped single nodes with apps merge when their link comes up', () => undefined);
} else {
  found.before(async (ctx) => {
    // `up` itself waits until nodes 1-3 see each other alive and node 4 sees only itself.
    ctx.cl = await startCluster({ nodes: 4, name: 'pleaco-disc', subnet: '10.212.22.0/24', discover: true, otherKey: [4] });
  });
  found.after(async (ctx) => void (await ctx.cl?.stop()));

  found('no seeds: one cluster of the three; the node with another key is alone and counted as foreign', async ({ cl }) => {
    const [a, b, c, d] = cl.nodes as [ClusterNode, ClusterNode, ClusterNode, ClusterNode];
    const env = (await a.exec(['sh', '-c', 'printf %s "${PLEACO_JOIN-unset}"'])).stdout;
    assert.is(env, '', 'started without seeds');
    const three = [a.id, b.id, c.id].sort();
    for (const n of [a, b, c]) assert.equal(await alive(n), three);
    assert.equal(await alive(d), [d.id]);
    const nodes = await waitFor('node 4 counted as foreign on node 1', async () => {
      const r = await a.exec(['pleaco', 'nodes']);
      return /foreign announcements: [1-9]\d* ignored \(another cluster: [1-9]/.test(r.stdout) ? r.stdout : null;
    }, 60_000, 1000);
    assert.match(nodes, new RegExp(`${d.id} at ${d.ip.replace(/\./g, '\\.')}: cluster c-`));
    assert.match(nodes, /mDNS on eth0/);
  });

  merge.before(async (ctx) => {
    ctx.cl = await startCluster({ nodes: 2, name: 'pleaco-merge', subnet: '10.212.23.0/24', discover: true, apart: true, env: CLUSTER_APP_ENV });
    ctx.tmp = tempDir('pleaco-merge-');
    mkdirSync(`${ctx.tmp.dir}/server`, { recursive: true });
    ctx.daemon = await gitDaemonFor(ctx.cl, `${ctx.tmp.dir}/server`);
  });
  merge.after(async (ctx) => {
    await ctx.daemon?.stop();
    await ctx.cl?.stop();
    ctx.tmp?.cleanup();
  });

  /** Creates app `name` on node n from a new repository showing `body`, one replica, deployed; waits until it runs. */
  async function deployOn(ctx: { tmp: ReturnType<typeof tempDir>; daemon: Daemon }, n: ClusterNode, name: string, repoName: string, body: string): Promise<void> {
    const repo = new TestRepo(ctx.tmp.dir, repoName);
    repo.commit(webApp(body), 'v0');
    await send(n, '/v1/apps', { name, repo: ctx.daemon.url(`${repoName}.git`) });
    await send(n, `/v1/apps/${name}/deploys`, {});
    await waitFor(`${name} running on ${n.name}`, async () => ((await runningSlots(n, name).catch(() => [])).length === 1 ? true : null), 300_000, 1000);
  }

  const page = (n: ClusterNode, app: string) => getWithHost(n.ip, 80, `${app}.${CLUSTER_DOMAIN}`, 5000).then((r) => (r.status === 200 ? r.body : `${r.status}`), (e: Error) => e.message);

  merge('apart, each node is a cluster of one with its own apps; linked, they merge and both serve every app', async (ctx) => {
    const [a, b] = ctx.cl.nodes as [ClusterNode, ClusterNode];
    assert.equal(await alive(a), [a.id]);
    assert.equal(await alive(b), [b.id]);
    await deployOn(ctx, a, 'left', 'left', 'left app');
    await deployOn(ctx, b, 'right', 'right', 'right app');
    await deployOn(ctx, a, 'both', 'both-a', 'both from a');
    await deployOn(ctx, b, 'both', 'both-b', 'both from b'); // made last: LWW keeps this one
    assert.match(await page(a, 'left'), /left app/);
    assert.match(await page(a, 'right'), /^503|^404/, 'node 1 does not know the app of node 2 yet');

    await a.link(b);
    await waitFor('one cluster of two', async () => ((await alive(a)).length === 2 && (await alive(b)).length === 2 ? true : null), 90_000, 1000);
    for (const n of [a, b]) {
      for (const [app, body] of [['left', 'left app'], ['right', 'right app'], ['both', 'both from b']] as const) {
        await waitFor(`${app} served by ${n.name}'s proxy`, async () => {
          const got = await page(n, app);
          if (!got.includes(body)) throw new Error(`it answers ${JSON.stringify(got.slice(0, 80))}`);
          return true;
        }, 180_000, 1000);
      }
    }
    const apps = (await a.json<{ apps: { name: string }[] }>('/v1/apps')).apps.map((x) => x.name).sort();
    assert.equal(apps, ['both', 'left', 'right']);
    const report = await waitFor('the name made on both sides reported', async () => {
      const r = await b.exec(['pleaco', 'nodes']);
      return r.stdout.includes('app both was made on both sides of a merge') ? r.stdout : null;
    }, 60_000, 1000);
    assert.match(report, /kept the one of .*both-b\.git.*dropped the one of .*both-a\.git/);
  });
}

found.run();
merge.run();
