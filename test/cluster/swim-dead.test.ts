/**
 * News of a death declared by another node, through the pure core: about a member seen alive (or
 * suspected only moments ago) it is a suspicion the member can refute, as with the stale deaths a
 * healed partition brings; about a member suspected for a while (the crash path) it kills at once,
 * and so does a graceful leave. A death older than the alive we know goes back to its declarer.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { suspicionTimeout, type CoreOutput, type SwimNode } from '../../src/cluster/index.js';
import { addr, ids, nodeKnowing, parts, stateOf } from './_core.js';

/** The minimum suspicion timeout in an 11-member cluster with the default timing. */
const MIN = suspicionTimeout(4, 11, 1000);

/** A node `id` (push-pull and reconnects off, seed 11) that knows `others` alive at incarnation 1. */
const knowing = (others: string[], id = 'n1'): SwimNode => nodeKnowing(others, { id, seed: 11 });

/** Ticks `n` through its wake-ups from `from` to `until` (nobody answers) and returns every output. */
function ticks(n: SwimNode, from: number, until: number): CoreOutput[] {
  const outs: CoreOutput[] = [];
  for (let t = n.nextWakeAt(), guard = 0; t <= until && guard < 100_000; t = n.nextWakeAt(), guard++) outs.push(n.tick(Math.max(t, from)));
  return outs;
}

const evs = (out: CoreOutput) => out.events.map((e) => [e.type, e.member.id]);

test('a death about a member seen alive is a suspicion: suspect event, suspect gossip, and the member refutes it', () => {
  const n1 = knowing(ids(10));
  const out = n1.receive(addr('n3'), { t: 'dead', node: 'n2', inc: 1, from: 'n3' }, 1000);
  assert.equal(evs(out), [['suspect', 'n2']]);
  assert.equal(stateOf(n1, 'n2'), 'suspect');
  assert.equal(n1.stats().deaths, 0);
  // n1 spreads a suspicion (from the declarer), not the death.
  const gossip = parts([out, ...ticks(n1, 1000, 1400)]).filter((p) => 'node' in p && p.node === 'n2');
  const suspect = gossip.find((p) => p.t === 'suspect');
  assert.ok(suspect && suspect.t === 'suspect' && suspect.from === 'n3' && suspect.inc === 1, 'suspect n2 gossiped');
  assert.not.ok(gossip.some((p) => p.t === 'dead'), 'the death is not passed on');

  // n2 hears the suspicion, refutes with a higher incarnation, and its alive message revives it at n1.
  const n2 = knowing(['n1', ...ids(10).slice(1)], 'n2');
  const heard = n2.receive(addr('n1'), suspect, 1500);
  assert.equal(n2.stats().refutations, 1);
  const alive = parts([heard, ...ticks(n2, 1500, 2000)]).find((p) => p.t === 'alive' && p.node === 'n2');
  assert.ok(alive && alive.t === 'alive' && alive.inc === 2, 'refutation gossiped');
  const back = n1.receive(addr('n2'), alive, 2000);
  assert.equal(back.events.map((e) => [e.type, e.member.id, e.member.incarnation]), [['alive', 'n2', 2]]);
  // The stale death, arriving again later, is older than the refutation and changes nothing.
  assert.equal(n1.receive(addr('n4'), { t: 'dead', node: 'n2', inc: 1, from: 'n4' }, 2100).events, []);
  assert.equal(stateOf(n1, 'n2'), 'alive');
});

test('unrefuted, the suspicion a death started runs out like any other: dead after the minimum timeout, not before', () => {
  const n = knowing(ids(10));
  n.receive(addr('n3'), { t: 'dead', node: 'n2', inc: 1, from: 'n3' }, 1000);
  let deadAt: number | undefined;
  for (let t = n.nextWakeAt(), guard = 0; t <= 200_000 && deadAt === undefined && guard < 100_000; t = n.nextWakeAt(), guard++) {
    if (n.tick(t).events.some((e) => e.type === 'dead' && e.member.id === 'n2')) deadAt = t;
  }
  assert.ok(deadAt !== undefined, 'never declared dead');
  assert.ok(deadAt >= 1000 + MIN && deadAt <= 1000 + 6 * MIN, `dead at ${deadAt}, expected within [${1000 + MIN}, ${1000 + 6 * MIN}]`);
});

test('a second death right after the first only confirms the young suspicion', () => {
  const n = knowing(ids(10));
  n.receive(addr('n3'), { t: 'dead', node: 'n2', inc: 1, from: 'n3' }, 1000);
  const again = n.receive(addr('n4'), { t: 'dead', node: 'n2', inc: 1, from: 'n4' }, 1200);
  assert.equal(again.events, []);
  assert.equal(stateOf(n, 'n2'), 'suspect');
  assert.equal(n.stats().suspect_confirmations, 1, 'the second declarer counts as an independent confirmation');
  // Nor does a death just after suspect gossip: the member has had no time to hear it and refute.
  const m = knowing(ids(10));
  m.receive(addr('n3'), { t: 'suspect', node: 'n2', inc: 1, from: 'n3' }, 1000);
  assert.equal(m.receive(addr('n4'), { t: 'dead', node: 'n2', inc: 1, from: 'n4' }, 1300).events, []);
  assert.equal(stateOf(m, 'n2'), 'suspect');
});

test('a death about a member suspected for half the minimum timeout is taken at once (the crash path)', () => {
  const n = knowing(ids(10));
  n.receive(addr('n3'), { t: 'suspect', node: 'n2', inc: 1, from: 'n3' }, 1000);
  const out = n.receive(addr('n4'), { t: 'dead', node: 'n2', inc: 1, from: 'n4' }, 1000 + MIN / 2);
  assert.equal(evs(out), [['dead', 'n2']]);
  assert.equal(stateOf(n, 'n2'), 'dead');
  assert.equal(n.stats().deaths, 1);
  // Passed on as a death.
  const sent = parts(ticks(n, 1000 + MIN / 2, 1000 + MIN / 2 + 400));
  assert.ok(sent.some((p) => p.t === 'dead' && p.node === 'n2'));
});

test('a graceful leave is taken at once, about a member seen alive or suspected', () => {
  const n = knowing(ids(10));
  const out = n.receive(addr('n2'), { t: 'dead', node: 'n2', inc: 1, from: 'n2' }, 1000);
  assert.equal(evs(out), [['leave', 'n2']]);
  assert.equal(stateOf(n, 'n2'), 'left');
  n.receive(addr('n4'), { t: 'suspect', node: 'n3', inc: 1, from: 'n4' }, 1000);
  assert.equal(evs(n.receive(addr('n3'), { t: 'dead', node: 'n3', inc: 1, from: 'n3' }, 1100)), [['leave', 'n3']]);
  assert.equal(n.stats().deaths, 0);
});

test('a death older than the alive we know is answered with that alive, straight to its declarer', () => {
  const n = knowing(ids(10));
  n.receive(addr('n2'), { t: 'alive', node: 'n2', addr: addr('n2'), inc: 2, meta: {} }, 1000);
  // n5 missed n2's refutation and declared it dead at the old incarnation.
  const out = n.receive(addr('n5'), { t: 'dead', node: 'n2', inc: 1, from: 'n5' }, 2000);
  assert.equal(out.events, []);
  assert.equal(stateOf(n, 'n2'), 'alive');
  const answers = parts([out]).filter((p) => p.t === 'alive' && p.node === 'n2');
  assert.equal(answers.length, 1);
  assert.equal(out.send.map((s) => s.to), [addr('n5')]);
  assert.equal(answers[0]!.t === 'alive' && answers[0]!.inc, 2);
  // The declarer takes it: n2 is alive again there.
  const n5 = knowing(['n1', 'n2', 'n3', 'n4', ...ids(10).slice(4)], 'n5');
  n5.receive(addr('n3'), { t: 'suspect', node: 'n2', inc: 1, from: 'n3' }, 0);
  const revived = n5.receive(addr('n1'), answers[0]!, 2001);
  assert.equal(revived.events.map((e) => [e.type, e.member.id, e.member.incarnation]), [['alive', 'n2', 2]]);
});

test.run();
