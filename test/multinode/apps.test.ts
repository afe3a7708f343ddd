/**
 * Apps across three nodes (the multi-node harness: own address, state and Docker Engine each): an app scaled to 3
 * runs one replica per node, every node shows the same placement, each node that runs a slot holds the release's
 * image by its digest (it came from the building node, only its missing layers), and every node's proxy reaches
 * the app. A node killed: its slots start on the survivors while the proxy of another node keeps serving; back, it
 * takes its slots again and no duplicate is left. A drain moves a node's slots off first. A partition, then a heal:
 * one placement again. Concurrent deploys through two nodes get unique release numbers. Skipped without root/Docker.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { clusterUnavailable, startCluster, waitFor, type Cluster, type ClusterNode } from '../helpers/cluster.js';
import { CLUSTER_APP_ENV, CLUSTER_DOMAIN, gitDaemonFor, runningSlots, send, type Slot } from '../helpers/cluster-app.js';
import { webApp } from '../helpers/apps.js';
import { TestRepo, type Daemon } from '../helpers/gitrepo.js';
import { getWithHost } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

const APP = 'mn-web';
const HOST = `${APP}.${CLUSTER_DOMAIN}`;

interface Ctx { cl: Cluster; tmp: ReturnType<typeof tempDir>; daemon: Daemon; repo: TestRepo; byId: Map<string, ClusterNode> }

const m = suite<Ctx>('apps across nodes');

/** Waits until every node in `from` shows `n` running slots, one per slot index, on the `on` nodes, the same everywhere. */
async function placed(from: ClusterNode[], on: ClusterNode[], n: number, boundMs: number): Promise<Slot[]> {
  const ids = new Set(on.map((x) => x.id));
  return waitFor(`${n} replicas on ${on.map((x) => x.name).join(', ')} as ${from.map((x) => x.name).join(', ')} show them`, async () => {
    let first: string | null = null;
    let slots: Slot[] = [];
    for (const f of from) {
      slots = await runningSlots(f, APP).catch(() => []);
      const key = JSON.stringify(slots.map((s) => [s.slot, s.node, s.containerId]));
      if (slots.length !== n || new Set(slots.map((s) => s.slot)).size !== n || !slots.every((s) => ids.has(s.node))) return null;
      if (first !== null && key !== first) return null;
      first = key;
    }
    return slots;
  }, boundMs, 1000);
}

/** The app's containers in each node's own Engine (`docker ps` inside the node). */
async function containersPerNode(cl: Cluster): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const n of cl.nodes) {
    const r = await n.exec(['docker', 'ps', '-q', '--filter', `label=io.pleaco.app=${APP}`]);
    out[n.name] = r.code === 0 ? r.stdout.split('\n').filter(Boolean).length : -1;
  }
  return out;
}

async function get(node: ClusterNode): Promise<string> {
  const res = await getWithHost(node.ip, 80, HOST);
  if (res.status !== 200) throw new Error(`${node.name}: ${res.status}`);
  return res.body;
}

const why = clusterUnavailable();
if (why) {
  console.log(`apps across nodes skipped: ${why}`);
  m.skip('an app on three nodes: placement, images, routing, failover, drain, partition', () => undefined);
} else {
  m.before(async (ctx) => {
    ctx.cl = await startCluster({ nodes: 3, name: 'pleaco-mn', subnet: '10.212.14.0/24', env: CLUSTER_APP_ENV });
    ctx.byId = new Map(ctx.cl.nodes.map((n) => [n.id, n]));
    ctx.tmp = tempDir('pleaco-mn-');
    ctx.repo = new TestRepo(ctx.tmp.dir, 'web');
    ctx.repo.commit(webApp('version one'), 'v1');
    // The node containers reach this host at their bridge's gateway, an address the harness created.
    ctx.daemon = await gitDaemonFor(ctx.cl, `${ctx.tmp.dir}/server`);
  });
  m.after(async (ctx) => {
    await ctx.daemon?.stop();
    await ctx.cl?.stop();
    ctx.tmp?.cleanup();
  });

  m('scaled to 3: one replica per node, the same placement from every node, the image on each by its digest', async ({ cl, daemon }) => {
    const [a, b] = cl.nodes as [ClusterNode, ClusterNode, ClusterNode];
    await send(a, '/v1/apps', { name: APP, repo: daemon.url('web.git') });
    await send(b, `/v1/apps/${APP}/scale`, { replicas: 3 }, 'PUT');
    const { build } = await send<{ build: { id: string } }>(b, `/v1/apps/${APP}/deploys`, {});
    const done = await waitFor('the build to finish', async () => {
      const r = await b.json<{ build: { status: string; node?: string; error?: unknown } }>(`/v1/apps/${APP}/builds/${build.id}`).catch(() => null);
      return r && ['succeeded', 'failed', 'superseded'].includes(r.build.status) ? r.build : null;
    }, 300_000, 1000);
    assert.is(done.status, 'succeeded', JSON.stringify(done.error));
    const slots = await placed(cl.nodes, cl.nodes, 3, 180_000);
    assert.is(new Set(slots.map((s) => s.node)).size, 3, 'one per node');
    const { app } = await a.json<{ app: { currentRelease: { imageId: string } } }>(`/v1/apps/${APP}`);
    for (const n of cl.nodes) {
      const r = await n.exec(['docker', 'image', 'inspect', '--format', '{{.Id}}', app.currentRelease.imageId]);
      assert.is(r.stdout.trim(), app.currentRelease.imageId, `${n.name} holds the release's image by its digest`);
    }
  });

  m('a request through every node\'s proxy reaches the app', async ({ cl }) => {
    for (const n of cl.nodes) assert.match(await waitFor(`${n.name}'s proxy to route ${HOST}`, () => get(n).catch(() => null), 60_000), 'version one');
  });

  m('a node killed: its slot starts on the survivors and the others keep serving; back, no duplicate is left', async ({ cl }) => {
    const [a, b, c] = cl.nodes as [ClusterNode, ClusterNode, ClusterNode];
    let ok = 0;
    let failed = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        await get(a).then(() => ok++, () => failed++);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const t0 = Date.now();
    await c.kill();
    await placed([a, b], [a, b], 3, 120_000);
    const healedS = (Date.now() - t0) / 1000;
    stop = true;
    await load;
    console.log(`  node killed: 3 replicas running on the survivors after ${healedS.toFixed(1)} s; through ${a.name}'s proxy ${ok} requests answered, ${failed} failed`);
    assert.ok(ok > 0, 'the app was served while the node was gone');
    assert.match(await get(a), 'version one');
    await c.start();
    await placed(cl.nodes, cl.nodes, 3, 180_000);
    await waitFor('one container per slot, cluster-wide', async () => {
      const per = await containersPerNode(cl);
      return Object.values(per).every((x) => x === 1) ? per : null;
    }, 120_000, 2000);
  });

  m('drain: a node\'s slots move off it, started elsewhere first; undrain brings them back', async ({ cl }) => {
    const [a, b, c] = cl.nodes as [ClusterNode, ClusterNode, ClusterNode];
    await a.json(`/v1/nodes/${encodeURIComponent(b.id)}/drain`, { method: 'POST' });
    await placed(cl.nodes, [a, c], 3, 120_000);
    await waitFor(`${b.name} runs none of the app`, async () => ((await containersPerNode(cl))[b.name] === 0 ? true : null), 60_000, 2000);
    const nodes = await a.json<{ nodes: { id: string; drained: boolean }[] }>('/v1/nodes');
    assert.ok(nodes.nodes.find((n) => n.id === b.id)?.drained);
    await a.json(`/v1/nodes/${encodeURIComponent(b.id)}/undrain`, { method: 'POST' });
    await placed(cl.nodes, cl.nodes, 3, 120_000);
  });

  m('a partition and its heal: the majority runs every slot meanwhile, one placement again after', async ({ cl }) => {
    const [a, b, c] = cl.nodes as [ClusterNode, ClusterNode, ClusterNode];
    await c.isolate();
    try {
      await placed([a, b], [a, b], 3, 120_000);
    } finally {
      await c.heal();
    }
    await placed(cl.nodes, cl.nodes, 3, 180_000);
    await waitFor('one container per slot after the heal', async () => {
      const per = await containersPerNode(cl);
      return Object.values(per).every((x) => x === 1) ? per : null;
    }, 120_000, 2000);
  });

  m('concurrent deploys through two nodes: unique release numbers, every node holds the same releases', async ({ cl, repo }) => {
    const [a, b, c] = cl.nodes as [ClusterNode, ClusterNode, ClusterNode];
    repo.commit({ 'index.html': '<h1>version two</h1>\n' }, 'v2');
    const post = (n: ClusterNode) => send<{ build: { id: string } }>(n, `/v1/apps/${APP}/deploys`, {});
    const builds = await Promise.all([post(a), post(b)]);
    for (const { build } of builds) {
      await waitFor(`build ${build.id} to end`, async () => {
        const r = await c.json<{ build: { status: string } }>(`/v1/apps/${APP}/builds/${build.id}`).catch(() => null);
        return r && ['succeeded', 'failed', 'superseded'].includes(r.build.status) ? true : null;
      }, 300_000, 1000);
    }
    const lists = await waitFor('the same releases on every node', async () => {
      const all = await Promise.all(cl.nodes.map((n) => n.json<{ releases: { number: number; build: string | null }[] }>(`/v1/apps/${APP}/releases`)));
      const keys = all.map((l) => JSON.stringify(l.releases.map((r) => [r.number, r.build]).sort()));
      return keys.every((k) => k === keys[0]) ? all[0]!.releases : null;
    }, 60_000, 1000);
    assert.is(new Set(lists.map((r) => r.number)).size, lists.length, 'unique numbers');
    assert.ok(lists.length >= 2, 'the new commit was released');
    for (const n of cl.nodes) assert.match(await waitFor(`${n.name} serves version two`, async () => ((await get(n).catch(() => '')).includes('version two') ? 'version two' : null), 180_000), 'version two');
  });
}

m.run();
