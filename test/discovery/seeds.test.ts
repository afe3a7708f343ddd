/**
 * Joining by seeds with multicast blocked, between real agent processes in network namespaces (bench/join/fleet.ts):
 * a DNS seed that resolves to every node's address, seeds that are down at first (retried with backoff), a node with
 * another key that stays out, and 3 nodes started together by mDNS alone.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { labUnavailable } from '../../bench/gossip/netns.js';
import { Fleet } from '../../bench/join/fleet.js';

const why = labUnavailable();

interface ClusterBody {
  members: { id: string; state: string; address: string }[];
  discovery: { seeds: { seed: string; addrs: string[] }[]; candidates: { addr: string; tries: number; member: boolean }[]; foreign: { total: number; otherCluster: number } };
}

const alive = (b: ClusterBody): string[] => b.members.filter((m) => m.state === 'alive').map((m) => m.address).sort();

if (why) {
  test(`seeds and mDNS between namespaces (skipped: ${why})`, () => {
    console.log(`SKIP: ${why}`);
  });
} else {
  test('multicast blocked: a DNS seed of several addresses, down at first, joins 3 nodes; a node with another key stays out', async () => {
    const fleet = await Fleet.create(4, { env: () => ({ PLEACO_SEEDS: 'seeds.pleaco.test' }), otherKey: [4] });
    try {
      for (const n of fleet.nodes) {
        fleet.hostsFile(n.host, fleet.nodes.map((x) => `${x.host.addr} seeds.pleaco.test`));
        await fleet.blockMdns(n.host);
      }
      // Nodes 2, 3 and 4 first: node 1, one of the seed's addresses, is down for the first 4 s.
      fleet.start([2, 3, 4]);
      await fleet.waitFull(60_000, [2, 3]);
      await new Promise((r) => setTimeout(r, 4000));
      const c2 = await fleet.client(2);
      const early = await c2.request<ClusterBody>('GET', '/v1/cluster');
      assert.equal([...early.discovery.seeds[0]!.addrs].sort(), ['10.231.0.1:7946', '10.231.0.2:7946', '10.231.0.3:7946', '10.231.0.4:7946']);
      const down = early.discovery.candidates.find((c) => c.addr === '10.231.0.1:7946')!;
      // Asked again with backoff (at 0, ~1, ~3 s, ...), not in a tight loop and not given up.
      assert.ok(down.tries >= 2 && down.tries <= 6, `tries of the down seed: ${down.tries}`);
      assert.is(down.member, false);
      fleet.start([1]);
      await fleet.waitFull(60_000, [1, 2, 3]);
      const c1 = await fleet.client(1);
      const one = await c1.request<ClusterBody>('GET', '/v1/cluster');
      assert.equal(alive(one), ['10.231.0.1:7946', '10.231.0.2:7946', '10.231.0.3:7946']);
      // The node with another key: alone, and nobody lists it.
      const c4 = await fleet.client(4);
      assert.equal(alive(await c4.request<ClusterBody>('GET', '/v1/cluster')), ['10.231.0.4:7946']);
      assert.not.ok(alive(await c2.request<ClusterBody>('GET', '/v1/cluster')).includes('10.231.0.4:7946'));
      // mDNS was really blocked: nothing was heard.
      assert.is(one.discovery.foreign.total, 0);
    } finally {
      await fleet.stop();
    }
  });

  test('3 nodes started together with no seeds find each other by mDNS; a node of another cluster is counted, not joined', async () => {
    const fleet = await Fleet.create(4, { otherKey: [4] });
    try {
      fleet.start();
      await fleet.waitFull(60_000, [1, 2, 3]);
      const c1 = await fleet.client(1);
      await new Promise((r) => setTimeout(r, 1500));
      const b = await c1.request<ClusterBody>('GET', '/v1/cluster');
      assert.equal(alive(b), ['10.231.0.1:7946', '10.231.0.2:7946', '10.231.0.3:7946']);
      assert.ok(b.discovery.foreign.otherCluster >= 1, `foreign announcements: ${JSON.stringify(b.discovery.foreign)}`);
      const c4 = await fleet.client(4);
      assert.equal(alive(await c4.request<ClusterBody>('GET', '/v1/cluster')), ['10.231.0.4:7946']);
    } finally {
      await fleet.stop();
    }
  });
}

test.run();
