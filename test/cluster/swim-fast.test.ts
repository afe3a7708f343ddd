/**
 * Where pleaco's core departs from memberlist to detect, spread and heal faster, through the pure core:
 * news is gossiped when it arrives (eagerGossip), a suspicion heard from others makes a few nodes probe
 * the suspect next and a node re-probes its own suspects (suspectRechecks), a refused fallback ping ends
 * its probe at once, and a member we hold dead that speaks to us is told so.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { suspicionTimeout, type CoreOutput, type SwimNode } from '../../src/cluster/index.js';
import { addr, ids, nodeKnowing, sent, stateOf } from './_core.js';

/** The minimum suspicion timeout in a 10-member cluster with the default timing. */
const MIN = suspicionTimeout(4, 10, 1000);

/** Ticks `n` until its next probe (a datagram ping; not the stream fallback) goes out (within `withinMs` of `from`); that output and its time. */
function nextProbe(n: SwimNode, from: number, withinMs = 3_000): { at: number; out: CoreOutput } | undefined {
  for (let t = Math.max(n.nextWakeAt(), from), g = 0; t <= from + withinMs && g < 10_000; t = n.nextWakeAt(), g++) {
    const out = n.tick(t);
    if (sent(out).some((s) => s.msg.t === 'ping' && s.channel === 'udp')) return { at: t, out };
  }
  return undefined;
}

test('eager gossip: news is passed on in the output of the datagram that brought it, not at the next gossip tick', () => {
  const n = nodeKnowing(ids(9));
  const news = { t: 'suspect' as const, node: 'n5', inc: 1, from: 'n3' };
  const now = n.nextWakeAt() + 1; // no tick since the join: the regular round is not due yet
  const before = n.stats().eager_rounds!;
  const out = n.receive(addr('n3'), news, now);
  const passed = sent(out).filter((s) => s.msg.t === 'suspect' && s.msg.node === 'n5');
  assert.is(passed.length, 3, 'sent to gossipNodes (3) members at once');
  assert.is(n.stats().eager_rounds, before + 1);

  const lazy = nodeKnowing(ids(9), { config: { eagerGossip: false } });
  const t = lazy.nextWakeAt() + 1;
  assert.equal(sent(lazy.receive(addr('n3'), news, t)).filter((s) => s.msg.t === 'suspect'), [], 'off: nothing until the tick');
});

test('eager gossip is rate-limited: news right after a round waits until a quarter gossip interval has passed', () => {
  const n = nodeKnowing(ids(9));
  const t0 = n.nextWakeAt() + 1;
  assert.ok(sent(n.receive(addr('n3'), { t: 'suspect', node: 'n5', inc: 1, from: 'n3' }, t0)).length > 0);
  const second = n.receive(addr('n3'), { t: 'suspect', node: 'n6', inc: 1, from: 'n3' }, t0 + 10);
  assert.equal(sent(second).filter((s) => s.msg.t === 'suspect'), [], 'not within 50 ms of the last round');
  assert.ok(n.nextWakeAt() <= t0 + 50, `woken by ${t0 + 50} to send it, not ${n.nextWakeAt()}`);
  const later = n.tick(t0 + 50);
  assert.ok(sent(later).some((s) => s.msg.t === 'suspect' && s.msg.node === 'n6'), 'sent at the quarter interval');
});

test('a local broadcast (a state delta) is due at once: nextWakeAt is now, and the tick sends it', () => {
  const n = nodeKnowing(ids(9));
  const now = n.nextWakeAt() + 1;
  n.tick(now);
  n.broadcast('k', { v: 1 });
  assert.ok(n.nextWakeAt() <= now + 50, 'due within the eager gap, long before the 200 ms tick');
  const out = n.tick(Math.max(now, n.nextWakeAt()));
  assert.ok(sent(out).some((s) => s.msg.t === 'user' && s.msg.key === 'k'));
});

test('suspect rechecks: a node that hears of a suspicion probes the suspect next, with the accusation attached', () => {
  // suspectRechecks >= n-2 makes the recheck certain; the default (3) makes about 3 nodes of any size recheck.
  const n = nodeKnowing(ids(9), { config: { suspectRechecks: 100 } });
  const t = n.nextWakeAt() + 1;
  n.receive(addr('n3'), { t: 'suspect', node: 'n7', inc: 1, from: 'n3' }, t);
  const p = nextProbe(n, t);
  assert.ok(p, 'a probe went out');
  const ping = sent(p.out).find((s) => s.msg.t === 'ping');
  assert.is(ping!.to, addr('n7'), 'the suspect is probed, out of round-robin order');
  assert.ok(sent(p.out).some((s) => s.to === addr('n7') && s.msg.t === 'suspect' && s.msg.node === 'n7'), 'the accusation goes with it, so it can refute');
  assert.is(n.stats().rechecks, 1);
  // Unanswered, the recheck is an independent confirmation from us: gossiped with us as its source.
  let confirmed = false;
  for (let tt = n.nextWakeAt(), g = 0; tt <= p.at + 1_200 && g < 1_000 && !confirmed; tt = n.nextWakeAt(), g++) {
    confirmed = sent(n.tick(tt)).some((s) => s.msg.t === 'suspect' && s.msg.node === 'n7' && s.msg.from === 'n1');
  }
  assert.ok(confirmed, 'our own suspicion of n7 gossiped as a confirmation');
});

test('suspect rechecks off, or our own suspicion: no recheck', () => {
  const off = nodeKnowing(ids(9), { config: { suspectRechecks: 0 } });
  for (const id of ['n4', 'n5', 'n6', 'n7', 'n8', 'n9', 'n10']) off.receive(addr('n3'), { t: 'suspect', node: id, inc: 1, from: 'n3' }, 6_000);
  nextProbe(off, 6_000);
  assert.is(off.stats().rechecks, 0, 'seven suspicions heard, none rechecked');
  const own = nodeKnowing(ids(9), { config: { suspectRechecks: 100 } });
  own.receive(addr('n3'), { t: 'suspect', node: 'n7', inc: 1, from: 'n1' }, 6_000); // our own accusation coming back
  nextProbe(own, 6_000);
  assert.is(own.stats().rechecks, 0);
});

test('a suspicion unconfirmed past the minimum timeout: its holder probes the suspect every other tick, the accusation attached', () => {
  const n = nodeKnowing(ids(9));
  n.receive(addr('n3'), { t: 'suspect', node: 'n7', inc: 1, from: 'n1' }, 6_000); // our own suspicion (no recheck)
  // Nobody answers here, so probes fail, other members become suspects and Lifeguard stretches the probes.
  for (let t = n.nextWakeAt(), g = 0; t < 6_000 + MIN - 500 && g < 10_000; t = n.nextWakeAt(), g++) n.tick(Math.max(t, 6_000));
  assert.is(n.stats().reprobes, 0, 'not while the suspicion is younger than the minimum timeout');
  const targets: string[] = [];
  let at = 6_000 + MIN;
  for (let i = 0; i < 2; i++) {
    const p = nextProbe(n, at, 10_000)!;
    at = p.at + 1;
    const ping = sent(p.out).find((s) => s.msg.t === 'ping' && s.channel === 'udp')!;
    targets.push(ping.to);
    if (ping.to === addr('n7')) assert.ok(sent(p.out).some((s) => s.to === addr('n7') && s.msg.t === 'suspect'), 'accusation attached');
  }
  assert.ok(targets.includes(addr('n7')), `n7 probed in two ticks: ${targets.join(', ')}`);
  assert.is(n.stats().reprobes, 1);
  const off = nodeKnowing(ids(9), { config: { suspectRechecks: 0 } });
  off.receive(addr('n3'), { t: 'suspect', node: 'n7', inc: 1, from: 'n1' }, 6_000);
  nextProbe(off, nextProbe(off, 6_000 + MIN, 10_000)!.at + 1, 10_000);
  assert.is(off.stats().reprobes, 0);
});

test('a refused fallback ping fails the probe at once (suspect before the probe interval ends), local health unharmed', () => {
  const n = nodeKnowing(ids(9));
  const p = nextProbe(n, 6_000)!;
  const target = sent(p.out).find((s) => s.msg.t === 'ping')!;
  const id = (target.msg as { node: string }).node;
  // Past probeTimeout: ping-reqs and the stream ping go out.
  const indirectAt = p.at + 500;
  const ind = n.tick(indirectAt);
  const streamPing = ind.send.find((s) => s.channel === 'stream');
  assert.ok(streamPing, 'stream ping sent');
  const out = n.streamRefused(streamPing.to, streamPing.msg, indirectAt + 2);
  assert.equal(out.events.map((e) => [e.type, e.member.id]), [['suspect', id]]);
  assert.is(stateOf(n, id), 'suspect');
  assert.is(n.stats().stream_refusals, 1);
  assert.is(n.localHealth(), 0, 'a refusal is an answer from the network: not our fault');
  // Anything else that fails on a stream is not a refusal of the running probe.
  assert.equal(n.streamRefused(streamPing.to, { t: 'ping', seq: 999_999, stream: true }, indirectAt + 3).events, []);
});

test('a member we hold dead that sends us a datagram is told so, at most once per probe interval', () => {
  const n = nodeKnowing(ids(9));
  n.receive(addr('n3'), { t: 'dead', node: 'n4', inc: 1, from: 'n4' }, 6_000); // a leave: taken at once
  assert.is(stateOf(n, 'n4'), 'left');
  assert.equal(sent(n.receive(addr('n4'), { t: 'nack', seq: 1, from: 'n4' }, 6_010, 'n4')).filter((s) => s.msg.t === 'dead'), [], 'left is not dead');
  // A crash: n5 suspected long enough, then dead.
  n.receive(addr('n3'), { t: 'suspect', node: 'n5', inc: 1, from: 'n3' }, 6_000);
  n.receive(addr('n3'), { t: 'dead', node: 'n5', inc: 1, from: 'n3' }, 60_000);
  assert.is(stateOf(n, 'n5'), 'dead');
  const told = sent(n.receive(addr('n5'), { t: 'nack', seq: 1, from: 'n5' }, 60_100, 'n5')).filter((s) => s.msg.t === 'dead');
  assert.equal(told, [{ to: addr('n5'), channel: 'udp', msg: { t: 'dead', node: 'n5', inc: 1, from: 'n1' } }]);
  assert.equal(sent(n.receive(addr('n5'), { t: 'nack', seq: 2, from: 'n5' }, 60_600, 'n5')).filter((s) => s.msg.t === 'dead'), [], 'not again within 1 s');
  assert.is(sent(n.receive(addr('n5'), { t: 'nack', seq: 3, from: 'n5' }, 61_200, 'n5')).filter((s) => s.msg.t === 'dead').length, 1);

  // n5, alive all along, refutes the notice; its alive revives it at n1.
  const n5 = nodeKnowing(['n1', ...ids(9).filter((x) => x !== 'n5')], { id: 'n5' });
  const answer = n5.receive(addr('n1'), told[0]!.msg, 60_101, 'n1');
  assert.is(n5.stats().refutations, 1);
  const alive = [...sent(answer), ...sent(n5.tick(60_200))].find((s) => s.msg.t === 'alive' && s.msg.node === 'n5' && s.msg.inc === 2);
  assert.ok(alive, 'refutation gossiped');
  assert.equal(n.receive(addr('n5'), alive.msg, 61_300, 'n5').events.map((e) => [e.type, e.member.id]), [['join', 'n5']]);
});

test.run();
