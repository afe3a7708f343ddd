/**
 * Small clusters of the real SWIM core on the FakeNetwork (bench/sim/network.ts: virtual clock,
 * seeded, every message JSON-serialized as on the wire): what an operator would check: members
 * converge, a blocked link alone accuses nobody, leave is not a failure, a crashed node that comes
 * back is alive again, broadcasts reach everyone once, determinism.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CoreOutput } from '../../src/cluster/index.js';
import { FakeNetwork, type Host } from '../../bench/sim/network.js';
import { ViewTracker } from '../../bench/sim/tracker.js';

interface Sim {
  net: FakeNetwork;
  tracker: ViewTracker;
  hosts: Host[];
  outputs: { host: string; at: number; out: CoreOutput }[];
}

/** `n` nodes; node 0 starts, the others join through it one by one; runs until all see all alive. */
function cluster(n: number, seed = 1, swim = {}, record = false): Sim {
  const outputs: Sim['outputs'] = [];
  let tracker: ViewTracker | undefined;
  const net = new FakeNetwork({
    seed, wire: 'json', swim,
    onOutput: (h, out, now) => {
      tracker!.observe(h, out, now);
      if (record) outputs.push({ host: h.id, at: now, out });
    },
  });
  tracker = new ViewTracker(net);
  const hosts = Array.from({ length: n }, (_, i) => net.add(`n${i}`, `127.0.0.${i + 1}:7946`));
  net.start(hosts[0]!);
  hosts.slice(1).forEach((h, i) => {
    net.run(net.now + 50 * (i + 1));
    net.start(h, [hosts[0]!.addr]);
  });
  assert.ok(net.run(60_000, () => tracker.allSeeAllAlive()), 'cluster converged');
  return { net, tracker, hosts, outputs };
}

test('members converge: every node probes, every probe is acked, nobody is suspected', () => {
  const { net, tracker, hosts } = cluster(5);
  net.run(net.now + 20_000);
  for (const h of hosts) {
    const s = h.node.stats();
    assert.ok(s.probes! >= 15, `${h.id} probed ${s.probes} times`);
    assert.ok(s.acks! >= s.probes! - 1, `${h.id}: ${s.acks} acks for ${s.probes} probes`);
    assert.equal(s.probe_failures, 0);
    assert.equal(h.node.members().filter((m) => m.state === 'alive').length, 5);
  }
  assert.equal(tracker.fpMarks, 0);
});

test('a link that drops everything between two nodes: probes go through relays, nobody is suspected', () => {
  for (const tcpPings of [false, true]) {
    const { net, tracker, hosts } = cluster(5, 2, { tcpPings });
    net.blockLink(hosts[1]!.addr, hosts[2]!.addr);
    net.run(net.now + 60_000);
    assert.equal(tracker.fpMarks, 0, `tcpPings ${tcpPings}`);
    const [a, b] = [hosts[1]!.node.stats(), hosts[2]!.node.stats()];
    assert.ok(a.indirect_probes! + b.indirect_probes! > 0, 'the blocked pair fell back to indirect probes');
    assert.equal(a.probe_failures! + b.probe_failures!, 0);
    assert.ok(hosts.some((h) => h.node.stats().relays! > 0));
  }
});

test('graceful leave is "left" everywhere and no failure; a crash is "dead"', () => {
  const { net, tracker, hosts } = cluster(6);
  const [leaver, victim] = [hosts[4]!, hosts[5]!];
  net.call(leaver, (n) => n.leave(net.now));
  assert.ok(net.run(net.now + 10_000, () => leaver.node.leaveBroadcastDone()), 'leave message fully sent');
  assert.ok(net.run(net.now + 10_000, () => tracker.countNotSeeing(leaver.id, 'left') === 0));
  net.crash(leaver);
  net.crash(victim);
  assert.ok(net.run(net.now + 60_000, () => tracker.countNotSeeing(victim.id, 'dead') === 0), 'crash detected');
  for (const h of hosts.slice(0, 4)) {
    assert.equal(h.node.members().find((m) => m.id === leaver.id)!.state, 'left');
    assert.equal(h.node.members().find((m) => m.id === victim.id)!.state, 'dead');
  }
  assert.equal(tracker.fpDead.size, 0);
});

test('a crashed node restarted with the same id rejoins: alive everywhere with a higher incarnation', () => {
  const { net, tracker, hosts } = cluster(5);
  const victim = hosts[3]!;
  net.crash(victim);
  assert.ok(net.run(net.now + 60_000, () => tracker.countNotSeeing(victim.id, 'dead') === 0));
  tracker.views.delete(victim.id);
  const back = net.restart(victim, [hosts[0]!.addr]);
  assert.ok(net.run(net.now + 30_000, () => tracker.allSeeAllAlive()), 'rejoined');
  for (const h of hosts.filter((x) => x !== victim)) {
    const m = h.node.members().find((x) => x.id === victim.id)!;
    assert.equal(m.state, 'alive');
    assert.ok(m.incarnation > 1, `incarnation ${m.incarnation}`);
  }
  assert.ok(back.node.stats().refutations! >= 1, 'the new process out-announced its old death');
});

test('a broadcast is delivered exactly once to every node; a newer payload under the key replaces it', () => {
  const { net, hosts, outputs } = cluster(10, 3, {}, true);
  net.call(hosts[2]!, (n) => n.broadcast('app/web', { v: 1 }));
  net.run(net.now + 5_000);
  net.call(hosts[7]!, (n) => n.broadcast('app/web', { v: 2 }));
  // Queued twice before any gossip round: only the newer one spreads.
  net.call(hosts[5]!, (n) => (n.broadcast('app/db', { v: 1 }), n.broadcast('app/db', { v: 2 })));
  net.run(net.now + 5_000);
  for (const h of hosts) {
    const got = outputs.filter((o) => o.host === h.id).flatMap((o) => o.out.user);
    assert.equal(got.filter((u) => u.key === 'app/web').map((u) => u.payload), [{ v: 1 }, { v: 2 }], h.id);
    const db = got.filter((u) => u.key === 'app/db').map((u) => u.payload);
    assert.equal(db, h === hosts[5] ? [{ v: 1 }, { v: 2 }] : [{ v: 2 }], h.id);
    assert.equal(got.find((u) => u.key === 'app/web')!.from, 'n2');
  }
});

test('a node that missed a broadcast gets it from the push-pull replay', () => {
  const { net, hosts, outputs } = cluster(4, 4, { pushPullIntervalMs: 5_000 }, true);
  net.crash(hosts[3]!);
  net.call(hosts[0]!, (n) => n.broadcast('k', 'v'));
  net.run(net.now + 3_000); // gossip is done (retransmit limit) while n3 is down
  const again = net.restart(hosts[3]!, [hosts[1]!.addr]);
  net.run(net.now + 15_000);
  const got = outputs.filter((o) => o.host === again.id).flatMap((o) => o.out.user);
  assert.equal(got.map((u) => [u.key, u.payload]), [['k', 'v']]);
});

test('malformed messages are dropped and counted, never thrown; valid parts of a compound still count', () => {
  const { hosts } = cluster(2);
  const n = hosts[0]!.node;
  const bad: unknown[] = [null, 'ping', 42, [], {}, { t: 'nope' }, { t: 'ping', seq: -1, node: 'n0', from: 'x', addr: 'a:1' },
    { t: 'alive', node: 'x', addr: 'noport', inc: 1, meta: {} }, { t: 'alive', node: 'x', addr: 'a:1', inc: 1, meta: { k: 5 } },
    { t: 'push-pull', from: 'x', addr: 'a:1', join: true, reply: false, members: [{ id: 'y' }] }, { t: 'compound', parts: 'x' },
    { t: 'user', key: 'k', ltime: 1.5, origin: 'x', payload: 1 }];
  const before = n.stats().dropped_malformed!;
  for (const m of bad) assert.not.throws(() => n.receive('127.0.0.9:1', m, 1e9));
  assert.equal(n.stats().dropped_malformed! - before, bad.length);
  const out = n.receive('127.0.0.9:1', { t: 'compound', parts: [{ t: 'bogus' }, { t: 'ping', seq: 3, node: 'n0', from: 'n9', addr: '127.0.0.9:7946' }] }, 1e9);
  assert.equal(n.stats().dropped_malformed! - before, bad.length + 1);
  assert.ok(out.send.some((o) => o.to === '127.0.0.9:7946'), 'the valid ping was answered');
});

test('determinism: the same seed gives the same trace; another seed does not', () => {
  const trace = (seed: number) => {
    const { net, hosts, outputs } = cluster(8, seed, {}, true);
    net.crash(hosts[5]!);
    net.call(hosts[1]!, (n) => n.broadcast('x', seed));
    net.run(net.now + 30_000);
    return JSON.stringify(outputs.map((o) => [o.host, o.at, o.out]));
  };
  const a = trace(11);
  assert.ok(a.length > 10_000);
  assert.equal(trace(11), a);
  assert.not.equal(trace(12), a);
});

test.run();
