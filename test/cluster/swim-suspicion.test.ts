/**
 * Suspicion timing (Lifeguard's dogpile, memberlist's suspicion.go) through the pure core: a suspect
 * is declared dead when its timer runs out, independent confirmations shrink the timer, and a
 * refutation (a higher incarnation) cancels it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SwimNode, seededRandom, suspicionTimeout, type CoreOutput, type MemberEvent } from '../../src/cluster/index.js';
import { addr, ids, nodeKnowing } from './_core.js';
import { remainingSuspicionTime } from '../../src/cluster/suspicion.js';

/** Ticks through every wake-up up to `until` (nobody answers) and returns when `id` was declared dead. */
function deadAt(n: SwimNode, id: string, from: number, until: number, first?: CoreOutput): number | undefined {
  const isDead = (evs: MemberEvent[]) => evs.some((e) => e.type === 'dead' && e.member.id === id);
  if (first && isDead(first.events)) return from;
  for (let guard = 0; guard < 100_000; guard++) {
    const t = n.nextWakeAt();
    if (t > until) return undefined;
    if (isDead(n.tick(t).events)) return t;
  }
  return undefined;
}

test('the timer formula: starts at max, reaches min after k confirmations, never below min', () => {
  assert.equal(remainingSuspicionTime(0, 2, 4000, 24000), 24000);
  const one = Math.floor(24000 - (Math.log(2) / Math.log(3)) * 20000);
  assert.equal(remainingSuspicionTime(1, 2, 4000, 24000), one);
  assert.equal(remainingSuspicionTime(2, 2, 4000, 24000), 4000);
  assert.equal(remainingSuspicionTime(5, 2, 4000, 24000), 4000);
  // memberlist's minimum: suspicionMult * max(1, log10(n)) * probe interval.
  assert.equal(suspicionTimeout(4, 1000, 1000), 12000);
  assert.equal(suspicionTimeout(4, 5, 1000), 4000);
});

test('an unconfirmed suspicion turns into dead after suspicionMaxTimeoutMult x the minimum', () => {
  // 11 members: min = 4 * log10(11) * 1 s, max = 6 * min.
  const n = nodeKnowing(ids(10));
  const min = Math.floor(4 * Math.log10(11) * 1000);
  const out = n.receive(addr('n3'), { t: 'suspect', node: 'n2', inc: 1, from: 'n3' }, 1000);
  assert.equal(out.events.map((e) => [e.type, e.member.id]), [['suspect', 'n2']]);
  const t = deadAt(n, 'n2', 1000, 200_000);
  assert.ok(t !== undefined);
  // Never later than the maximum. n1's own failed probe of n2 is one confirmation (the only one
  // without peers), so never earlier than the one-confirmation time either.
  const noConfirm = 1000 + 6 * min;
  const selfConfirm = 1000 + remainingSuspicionTime(1, 2, min, 6 * min);
  assert.ok(t <= noConfirm && t >= selfConfirm, `dead at ${t}, expected within [${selfConfirm}, ${noConfirm}]`);
  assert.equal(n.members().find((m) => m.id === 'n2')!.state, 'dead');
});

test('independent confirmations shrink the timeout; repeated ones from the same peer do not', () => {
  const min = Math.floor(4 * Math.log10(11) * 1000);
  const max = 6 * min;
  const n = nodeKnowing(ids(10));
  n.receive(addr('n3'), { t: 'suspect', node: 'n2', inc: 1, from: 'n3' }, 1000);
  const c1 = n.receive(addr('n4'), { t: 'suspect', node: 'n2', inc: 1, from: 'n4' }, 1100);
  n.receive(addr('n4'), { t: 'suspect', node: 'n2', inc: 1, from: 'n4' }, 1200);
  n.receive(addr('n3'), { t: 'suspect', node: 'n2', inc: 1, from: 'n3' }, 1300);
  assert.equal(n.stats().suspect_confirmations, 1, 'the originator and a repeat are not confirmations');
  assert.ok(c1.events.length === 0, 'a confirmation is no new event');
  const oneConfirmation = 1000 + remainingSuspicionTime(1, 2, min, max);
  const t1 = deadAt(n, 'n2', 1300, 200_000);
  assert.ok(t1 !== undefined && t1 <= oneConfirmation && t1 < 1000 + max, `dead at ${t1}`);

  const m = nodeKnowing(ids(10));
  m.receive(addr('n3'), { t: 'suspect', node: 'n2', inc: 1, from: 'n3' }, 1000);
  m.receive(addr('n4'), { t: 'suspect', node: 'n2', inc: 1, from: 'n4' }, 1100);
  const last = m.receive(addr('n5'), { t: 'suspect', node: 'n2', inc: 1, from: 'n5' }, 1200);
  // k = suspicionMult - 2 = 2 confirmations reach the minimum, counted from the start of the suspicion.
  assert.equal(deadAt(m, 'n2', 1200, 200_000, last), 1000 + min);
});

test('in a cluster too small for k confirmations, the ones there can be: 3 members, one confirmation reaches the minimum', () => {
  // n1 knows n2 and n3: k = min(4 - 2, 3 - 2) = 1. Before, k was 0 there and the timer stayed at its maximum (24 s).
  const n = nodeKnowing(['n2', 'n3']);
  n.receive(addr('n3'), { t: 'suspect', node: 'n2', inc: 1, from: 'n3' }, 1000);
  const last = n.receive(addr('n4'), { t: 'suspect', node: 'n2', inc: 1, from: 'n4' }, 1100);
  assert.equal(n.stats().suspect_confirmations, 1);
  assert.is(deadAt(n, 'n2', 1100, 200_000, last), 1000 + suspicionTimeout(4, 3, 1000));
});

test('two members: no confirmation can come, the timer is the minimum from the start', () => {
  const m = nodeKnowing(['n2']);
  m.receive(addr('n9'), { t: 'suspect', node: 'n2', inc: 1, from: 'n9' }, 1000);
  assert.is(deadAt(m, 'n2', 1000, 200_000), 1000 + suspicionTimeout(4, 2, 1000));
});

test('a refutation (alive with a higher incarnation) cancels the suspicion: alive event, no death', () => {
  const n = nodeKnowing(ids(10));
  n.receive(addr('n3'), { t: 'suspect', node: 'n2', inc: 1, from: 'n3' }, 1000);
  const out = n.receive(addr('n2'), { t: 'alive', node: 'n2', addr: addr('n2'), inc: 2, meta: {} }, 2000);
  assert.equal(out.events.map((e) => [e.type, e.member.id, e.member.incarnation]), [['alive', 'n2', 2]]);
  // A stale suspicion (older incarnation) is ignored.
  n.receive(addr('n3'), { t: 'suspect', node: 'n2', inc: 1, from: 'n5' }, 2100);
  assert.equal(n.members().find((m) => m.id === 'n2')!.state, 'alive');
  // Nothing declares n2 dead until its own probes fail (it never answers here) and a new timer runs out.
  const t = deadAt(n, 'n2', 2100, 200_000);
  assert.ok(t === undefined || t > 2100 + Math.floor(4 * Math.log10(11) * 1000));
});

test('a dead message about a member suspected for a while kills at once, is re-gossiped, and an old incarnation cannot revive the member', () => {
  // Suspected since 1000; a death declared half the minimum suspicion timeout later is taken at once.
  const at = 1000 + suspicionTimeout(4, 5, 1000) / 2;
  const n = nodeKnowing(ids(4));
  n.receive(addr('n3'), { t: 'suspect', node: 'n2', inc: 1, from: 'n3' }, 1000);
  const out = n.receive(addr('n4'), { t: 'dead', node: 'n2', inc: 1, from: 'n4' }, at);
  assert.equal(out.events.map((e) => [e.type, e.member.id]), [['dead', 'n2']]);
  const stale = n.receive(addr('n4'), { t: 'alive', node: 'n2', addr: addr('n2'), inc: 1, meta: {} }, at + 100);
  assert.equal(stale.events, []);
  // A re-joined n2 (higher incarnation) comes back with a join event.
  const back = n.receive(addr('n2'), { t: 'alive', node: 'n2', addr: addr('n2'), inc: 2, meta: {} }, at + 200);
  assert.equal(back.events.map((e) => [e.type, e.member.id, e.member.state]), [['join', 'n2', 'alive']]);
  // The dead message went into the gossip queue: the next gossip rounds send it to others.
  const d = nodeKnowing(ids(4));
  d.receive(addr('n3'), { t: 'suspect', node: 'n2', inc: 1, from: 'n3' }, 1000);
  d.receive(addr('n4'), { t: 'dead', node: 'n2', inc: 1, from: 'n4' }, at);
  const sends = [];
  for (let t = d.nextWakeAt(); t <= at + 400; t = d.nextWakeAt()) sends.push(...d.tick(Math.max(t, at)).send);
  const parts = sends.flatMap((o) => (o.msg.t === 'compound' ? o.msg.parts.map((p) => ({ to: o.to, p })) : [{ to: o.to, p: o.msg }]));
  const deadSent = parts.filter((x) => x.p.t === 'dead' && x.p.node === 'n2');
  assert.ok(deadSent.length >= 1);
  assert.ok(deadSent.every((x) => x.to !== addr('n1')));
});

test('gossip to the dead: a member declared dead still gets gossip for gossipToTheDeadMs (so it can refute), then not', () => {
  const n = new SwimNode({ id: 'n1', addr: addr('n1'), random: seededRandom(3), config: { pushPullIntervalMs: 0, reconnectIntervalMs: 0 } });
  n.start(0);
  n.receive(addr('n2'), { t: 'alive', node: 'n2', addr: addr('n2'), inc: 1, meta: {} }, 0);
  n.receive(addr('n3'), { t: 'suspect', node: 'n2', inc: 1, from: 'n3' }, 1000);
  n.receive(addr('n3'), { t: 'dead', node: 'n2', inc: 1, from: 'n3' }, 3000);
  const sendsTo = (from: number, until: number) => {
    const to: string[] = [];
    for (let t = n.nextWakeAt(); t <= until; t = n.nextWakeAt()) to.push(...n.tick(Math.max(t, from)).send.map((o) => o.to));
    return to;
  };
  assert.equal(n.members().find((m) => m.id === 'n2')!.state, 'dead');
  assert.ok(sendsTo(3000, 5_000).includes(addr('n2')), 'gossip reaches the newly dead member');
  sendsTo(5_000, 34_000);
  n.broadcast('k', 'v'); // something to gossip, past the window
  assert.not.ok(sendsTo(34_000, 37_000).includes(addr('n2')));
});

test.run();
