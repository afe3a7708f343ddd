/**
 * The harness's shapes for the discovery tests (issue #14), on one cluster of three nodes started `apart`,
 * `blockMdns` and with node 3 on a key of its own: every node runs on its own, cut off from the others (the host
 * still reaches each) with udp 5353 dropped; linking nodes 1 and 2 lets their seeds bring them together, linking
 * nodes 1 and 3 does not bring node 3 in (its key is not theirs); cutting 1 and 2 again parts them. (`discover`
 * needs mDNS discovery in the code: the discovery tests cover it.) Skipped without root/Docker.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { clusterUnavailable, startCluster, waitFor, type Cluster, type ClusterNode } from '../helpers/cluster.js';

const s = suite<{ cl: Cluster }>('multinode harness shapes');

/** The ids `who` sees in one of `states`. */
async function seen(who: ClusterNode, states = ['alive']): Promise<string[]> {
  return (await who.members()).filter((m) => states.includes(m.state)).map((m) => m.id).sort();
}

/** The node's iptables rules tagged `tag`. */
async function rules(n: ClusterNode, tag: string): Promise<string[]> {
  const r = await n.exec(['iptables', '-w', '-S']);
  assert.is(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l.includes(`--comment ${tag}`));
}

const why = clusterUnavailable();
if (why) {
  console.log(`multinode harness shapes skipped: ${why}`);
  s.skip('apart, block-mdns and other-key: cut off, link, cut; a node on another key stays out', () => undefined);
} else {
  s.before(async (ctx) => {
    const t0 = Date.now();
    ctx.cl = await startCluster({ nodes: 3, name: 'pleaco-shapes', subnet: '10.212.24.0/24', apart: true, blockMdns: true, otherKey: [3] });
    console.log(`  3 nodes apart, ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
  s.after(async (ctx) => {
    await ctx.cl?.stop();
  });

  s('apart: each node sees only itself, cut from both others by rules in place from the start; udp 5353 dropped', async ({ cl }) => {
    for (const n of cl.nodes) {
      assert.equal(await seen(n, ['alive', 'suspect', 'dead', 'left']), [n.id], `${n.name} knows only itself`);
      const apart = await rules(n, 'pleaco-apart');
      for (const o of cl.nodes.filter((x) => x !== n)) {
        assert.is(apart.filter((l) => l.includes(` ${o.ip}/32 `)).length, 4, `${n.name} is cut from ${o.name}: ${apart.join('; ')}`);
      }
      assert.is((await rules(n, 'pleaco-mdns')).length, 4, `${n.name} drops udp 5353 (sport and dport, in and out)`);
    }
  });

  s('link 1-2: their seeds bring them together; link 1-3: node 3, on a key of its own, stays out', async ({ cl }) => {
    const [a, b, c] = cl.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const t0 = Date.now();
    await a.link(b);
    await a.link(c);
    assert.is((await rules(a, 'pleaco-apart')).length, 0, 'node 1 is linked to both');
    assert.is((await rules(b, 'pleaco-apart')).length, 4, 'node 2 is still cut from node 3');
    await waitFor('nodes 1 and 2 to see each other alive', async () => {
      const want = [a.id, b.id].sort().join();
      return (await seen(a)).join() === want && (await seen(b)).join() === want ? true : null;
    }, 60_000, 500);
    console.log(`  linked: 1 and 2 together after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await new Promise((r) => setTimeout(r, 5000)); // node 3 asks its seeds again meanwhile
    assert.equal(await seen(c, ['alive', 'suspect', 'dead', 'left']), [c.id], 'node 3 sees only itself');
    assert.not.ok((await a.members()).some((m) => m.id === c.id), 'node 1 does not list node 3');
  });

  s('cut 1-2: they see each other gone; a second cut changes nothing', async ({ cl }) => {
    const [a, b] = cl.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const t0 = Date.now();
    await a.cut(b);
    await b.cut(a);
    assert.is((await rules(a, 'pleaco-apart')).length, 4, 'node 1 cut from node 2 once (4 rules)');
    await waitFor('nodes 1 and 2 to see each other suspect or dead', async () => {
      const gone = async (who: ClusterNode, other: ClusterNode): Promise<boolean> => (await seen(who, ['suspect', 'dead'])).includes(other.id);
      return (await gone(a, b)) && (await gone(b, a)) ? true : null;
    }, 45_000, 500);
    console.log(`  cut: 1 and 2 saw each other gone after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
}

s.run();
