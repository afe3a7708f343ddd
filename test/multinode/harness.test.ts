/**
 * The multi-node harness itself (scripts/cluster.sh through test/helpers/cluster.ts): three nodes on this machine as
 * separate hosts form one cluster, each with its own Docker Engine; multicast crosses between them (discovery needs
 * it); a killed node is seen dead by the others and rejoins when started again; an isolated node is cut off and
 * comes back after heal; stop() leaves nothing. Prints the times it measures. Skipped, saying why, without root or
 * a Docker Engine. The node image is built when missing (minutes on a fresh machine, seconds after a code change).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { clusterResources, clusterUnavailable, startCluster, waitFor, TEST_CLUSTER, type Cluster, type ClusterNode, type MemberView } from '../helpers/cluster.js';

const DEAD_BOUND_MS = 45_000;
const REJOIN_BOUND_MS = 90_000;
const STALE = `${TEST_CLUSTER}-stale`;

const h = suite<{ cl: Cluster; startedS: number }>('multinode harness');

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** True when the node's API answers within 2 s. */
const answers = (n: ClusterNode): Promise<boolean> => n.api('/v1/health', { signal: AbortSignal.timeout(2000) }).then(() => true, () => false);

/** `who`'s view of `about` ('absent' when it does not list it). */
async function stateOf(who: ClusterNode, about: ClusterNode): Promise<string> {
  const m = (await who.members()).find((x: MemberView) => x.id === about.id);
  return m?.state ?? 'absent';
}

/** Waits until every node in `observers` sees `about` in one of `states`; returns the ms since `t0`. */
async function allSee(observers: ClusterNode[], about: ClusterNode, states: string[], boundMs: number, t0 = Date.now()): Promise<number> {
  await waitFor(`${observers.map((o) => o.name).join(', ')} to see ${about.name} ${states.join(' or ')}`, async () => {
    for (const o of observers) if (!states.includes(await stateOf(o, about))) return null;
    return true;
  }, boundMs, 250);
  return Date.now() - t0;
}

/** Waits until every node sees every node alive; returns the time it took. */
async function allAlive(cl: Cluster, boundMs: number): Promise<number> {
  const t0 = Date.now();
  await waitFor('every node to see every node alive', async () => {
    for (const o of cl.nodes) {
      const ms = await o.members();
      if (cl.nodes.some((n) => ms.find((m) => m.id === n.id)?.state !== 'alive')) return null;
    }
    return true;
  }, boundMs, 500);
  return Date.now() - t0;
}

const why = clusterUnavailable();
if (why) {
  console.log(`multinode harness skipped: ${why}`);
  h.skip('three nodes form one cluster, each with its own Engine; kill, start, isolate, heal', () => undefined);
} else {
  h.before(async (ctx) => {
    // What a SIGKILLed earlier run would leave: a labelled resource of the test cluster. The next start removes it.
    execFileSync('docker', ['volume', 'create', '--label', `io.pleaco.cluster=${TEST_CLUSTER}`, '--label', 'io.pleaco.role=cluster-volume', STALE], { stdio: 'ignore' });
    const t0 = Date.now();
    ctx.cl = await startCluster({ nodes: 3 });
    ctx.startedS = (Date.now() - t0) / 1000;
    console.log(`  cluster of 3 started and joined in ${ctx.startedS.toFixed(1)} s (image ${ctx.cl.image}, subnet ${ctx.cl.subnet})`);
  });
  h.after(async (ctx) => {
    await ctx.cl?.stop();
  });

  h('a leftover of an earlier run is gone; 3 nodes with their own addresses, reachable from the host', async ({ cl }) => {
    assert.not.ok((await clusterResources()).includes(`volume ${STALE}`), 'the stale volume was removed at start');
    assert.is(cl.nodes.length, 3);
    assert.is(new Set(cl.nodes.map((n) => n.ip)).size, 3, 'three addresses');
    assert.is(new Set(cl.nodes.map((n) => n.id)).size, 3, 'three node ids');
    for (const n of cl.nodes) {
      const health = await n.api('/v1/health');
      assert.is(health.status, 200, `${n.name} answers on ${n.apiUrl}`);
      const denied = await fetch(`${n.apiUrl}/v1/cluster`, { signal: AbortSignal.timeout(10_000) });
      assert.is(denied.status, 401, 'the API wants the token');
    }
  });

  h('the three form one cluster, as every node sees it', async ({ cl }) => {
    const ids = cl.nodes.map((n) => n.id).sort();
    for (const n of cl.nodes) {
      const view = await n.json<{ enabled: boolean; self: string; address: string; members: MemberView[] }>('/v1/cluster');
      assert.ok(view.enabled, `${n.name}: cluster enabled`);
      assert.is(view.self, n.id);
      assert.is(view.address, `${n.ip}:7946`, `${n.name} advertises its own address`);
      assert.equal(view.members.map((m) => m.id).sort(), ids, `${n.name} lists all three`);
      assert.ok(view.members.every((m) => m.state === 'alive'), `${n.name} sees all alive: ${JSON.stringify(view.members.map((m) => [m.id, m.state]))}`);
    }
  });

  h('each node has its own Docker Engine: a container on node 1 is not on node 2 (nor on the host)', async ({ cl }) => {
    const [n1, n2] = cl.nodes as [ClusterNode, ClusterNode];
    const probe = `harness-probe-${randomBytes(3).toString('hex')}`;
    const ids = await Promise.all(cl.nodes.map(async (n) => (await n.exec(['docker', 'info', '--format', '{{.ID}}'])).stdout.trim()));
    assert.is(new Set(ids).size, 3, `three Engines: ${ids.join(', ')}`);
    const run = await n1.exec(['docker', 'run', '-d', '--name', probe, '--label', 'io.pleaco.test=harness', 'busybox:latest', 'sleep', '300']);
    assert.is(run.code, 0, run.stderr);
    try {
      const on = async (n: ClusterNode) => (await n.exec(['docker', 'ps', '-q', '--filter', `name=^${probe}$`])).stdout.trim();
      assert.ok((await on(n1)) !== '', 'running on node 1');
      assert.is(await on(n2), '', 'absent from node 2');
      assert.is(execFileSync('docker', ['ps', '-aq', '--filter', `name=^${probe}$`], { encoding: 'utf8' }).trim(), '', 'absent from the host Engine');
      assert.ok((await n2.exec(['docker', 'image', 'inspect', 'debian:bookworm-slim'])).code === 0, 'node 2 has the base images loaded');
    } finally {
      await n1.exec(['docker', 'rm', '-f', probe]);
    }
  });

  // argv: group, port, own address. Prints the first datagram as JSON and exits, or exits 1 after 20 s.
  const RECV = `const d=require('node:dgram');const [g,p,ip]=process.argv.slice(1);const s=d.createSocket({type:'udp4',reuseAddr:true});
setTimeout(()=>{console.log('{"got":null}');process.exit(1)},20000);
s.on('message',(m,r)=>{console.log(JSON.stringify({got:String(m),from:r.address}));process.exit(0)});s.bind(+p,()=>s.addMembership(g,ip));`;
  // argv: group, port, own address, message. Sends it every 200 ms for 8 s on the node's interface.
  const SEND = `const d=require('node:dgram');const [g,p,ip,msg]=process.argv.slice(1);const s=d.createSocket('udp4');
s.bind(0,ip,()=>{s.setMulticastInterface(ip);s.setMulticastTTL(1);let k=0;const t=setInterval(()=>{s.send(msg,+p,g);if(++k>=40){clearInterval(t);s.close()}},200)});`;

  h('a multicast datagram sent on node 1 is received on nodes 2 and 3 (239.255.12.12 on the bridge)', async ({ cl }) => {
    const [n1, n2, n3] = cl.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const msg = `pleaco-mc-${randomBytes(4).toString('hex')}`;
    const receivers = [n2, n3].map((n) => n.exec(['node', '-e', RECV, '239.255.12.12', '5012', n.ip], { timeoutMs: 30_000 }));
    await new Promise((r) => setTimeout(r, 1000)); // the receivers join; the sender repeats for 8 s anyway
    const sent = await n1.exec(['node', '-e', SEND, '239.255.12.12', '5012', n1.ip, msg], { timeoutMs: 30_000 });
    assert.is(sent.code, 0, sent.stderr);
    for (const [i, r] of (await Promise.all(receivers)).entries()) {
      assert.is(r.code, 0, `node ${i + 2} received nothing: ${r.stdout} ${r.stderr}`);
      assert.equal(JSON.parse(r.stdout.trim()), { got: msg, from: n1.ip });
    }
  });

  h('kill a node: the others see it suspect or dead, then dead; start it: it rejoins with the same id', async ({ cl }) => {
    const [n1, n2, n3] = cl.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const id = n3.id;
    const killedAt = Date.now();
    await n3.kill();
    const gone = await allSee([n1, n2], n3, ['suspect', 'dead'], DEAD_BOUND_MS, killedAt);
    const dead = await allSee([n1, n2], n3, ['dead'], DEAD_BOUND_MS, killedAt);
    assert.not.ok(await answers(n3), 'a killed node answers nothing');
    const t0 = Date.now();
    await n3.start();
    const ready = Date.now() - t0;
    assert.is(n3.id, id, 'same node id after the restart (state volume kept)');
    const rejoined = await allAlive(cl, REJOIN_BOUND_MS);
    console.log(`  kill: suspect/dead ${seconds(gone)} after docker kill began, dead after ${seconds(dead)}; start: ready after ${seconds(ready)}, all alive ${seconds(rejoined)} later`);
  });

  h('isolate a node: it is cut off both ways while it runs; heal: every node sees every node alive again', async ({ cl }) => {
    const [n1, n2, n3] = cl.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const cutAt = Date.now();
    await n2.isolate();
    try {
      const cut = await allSee([n1, n3], n2, ['suspect', 'dead'], DEAD_BOUND_MS, cutAt);
      assert.not.ok(await answers(n2), 'the host cannot reach it either');
      const ping = await n2.exec(['node', '-e', `require('node:net').connect(7070,'${n1.ip}').on('connect',()=>process.exit(0)).on('error',()=>process.exit(2));setTimeout(()=>process.exit(3),1500)`]);
      assert.is(ping.code, 3, 'from inside it, a connection to node 1 hangs (dropped, not refused)');
      assert.is((await n2.exec(['true'])).code, 0, 'the node itself runs on');
      console.log(`  isolate: the others saw it suspect/dead ${seconds(cut)} after the isolation began`);
    } finally {
      await n2.heal();
    }
    const back = await allAlive(cl, REJOIN_BOUND_MS);
    console.log(`  heal: all alive again after ${seconds(back)}`);
  });

  h('stop() removes the containers, volumes and network of the cluster', async ({ cl }) => {
    assert.ok((await clusterResources()).length >= 7, 'before: 3 containers, 6 volumes, 1 network');
    await cl.stop();
    assert.equal(await clusterResources(), [], 'nothing labelled with the cluster is left');
  });
}

h.run();
