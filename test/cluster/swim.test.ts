/**
 * The pure SWIM/Lifeguard core fed by hand: messages in, messages and events out, time only through
 * `now`. Cluster-level behaviour (many nodes, loss, crashes) is in swim-cluster.test.ts on the
 * FakeNetwork.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SwimNode, seededRandom, type CoreOutput, type Outgoing, type PushPullMember, type SwimMessage } from '../../src/cluster/index.js';

const addr = (id: string) => `127.0.0.${id.replace(/\D/g, '') || '99'}:7946`;

function node(id: string, config = {}): SwimNode {
  return new SwimNode({ id, addr: addr(id), random: seededRandom(42), config });
}

/** Teaches `n` about alive members `ids` through a push-pull reply, as after a join. */
function know(n: SwimNode, ids: string[], now = 0): CoreOutput {
  const members: PushPullMember[] = ids.map((id) => ({ id, addr: addr(id), state: 'alive', inc: 1, meta: {} }));
  return n.receive(addr(ids[0]!), { t: 'push-pull', from: ids[0]!, addr: addr(ids[0]!), join: false, reply: true, members }, now);
}

/** Every message in `out` (compound parts unpacked), with where it goes. */
function sent(out: CoreOutput): { to: string; channel: string; msg: SwimMessage }[] {
  const r: { to: string; channel: string; msg: SwimMessage }[] = [];
  for (const o of out.send) {
    if (o.msg.t === 'compound') for (const p of o.msg.parts) r.push({ to: o.to, channel: o.channel, msg: p });
    else r.push({ to: o.to, channel: o.channel, msg: o.msg });
  }
  return r;
}

/**
 * Ticks `n` at each wake-up until `until`, handing each sent message to `respond` (whose answers are
 * delivered 1 ms later). Returns every output in order with its time.
 */
function drive(n: SwimNode, from: number, until: number, respond: (o: Outgoing, now: number) => SwimMessage[] = () => []): { at: number; out: CoreOutput }[] {
  const log: { at: number; out: CoreOutput }[] = [];
  let now = from;
  const inbox: { at: number; msg: SwimMessage; from: string }[] = [];
  const handle = (out: CoreOutput) => {
    log.push({ at: now, out });
    for (const o of out.send) for (const m of respond(o, now)) inbox.push({ at: now + 1, msg: m, from: o.to });
  };
  for (let guard = 0; guard < 100_000; guard++) {
    inbox.sort((a, b) => a.at - b.at);
    const next = Math.min(n.nextWakeAt(), inbox[0]?.at ?? Infinity);
    if (next > until) break;
    now = Math.max(now, next);
    if (inbox[0] && inbox[0].at <= now) {
      const m = inbox.shift()!;
      handle(n.receive(m.from, m.msg, now));
    } else handle(n.tick(now));
  }
  return log;
}

const pingsOf = (o: Outgoing) => (o.msg.t === 'compound' ? o.msg.parts : [o.msg]).filter((m) => m.t === 'ping');

test('a ping is answered with an ack to the sender; a ping meant for another node id is dropped and counted', () => {
  const b = node('n2');
  b.start(0);
  const out = b.receive(addr('n1'), { t: 'ping', seq: 7, node: 'n2', from: 'n1', addr: addr('n1') }, 10);
  const acks = sent(out).filter((s) => s.msg.t === 'ack');
  assert.equal(acks.length, 1);
  assert.equal(acks[0]!.to, addr('n1'));
  assert.equal(acks[0]!.msg, { t: 'ack', seq: 7, from: 'n2' });
  const wrong = b.receive(addr('n1'), { t: 'ping', seq: 8, node: 'n9', from: 'n1', addr: addr('n1') }, 11);
  assert.equal(wrong.send.length, 0);
  assert.equal(b.stats().dropped_unexpected, 1);
});

test('probe: a member that acks stays alive and the probe counts as acked; one that never answers gets ping-reqs, a stream ping, then is suspected', () => {
  const a = node('n1');
  a.start(0);
  know(a, ['n2', 'n3', 'n4', 'n5'], 0);
  // n2 answers everything; the others are silent.
  const log = drive(a, 0, 2_500, (o) => pingsOf(o).filter((p) => p.node === 'n2').map((p) => ({ t: 'ack', seq: p.seq, from: 'n2' })));
  const all = log.flatMap((l) => sent(l.out).map((s) => ({ ...s, at: l.at })));
  const pings = all.filter((s) => s.msg.t === 'ping' && s.channel === 'udp');
  assert.ok(pings.length >= 2, 'probes once per interval');
  const silent = pings.find((p) => p.to !== addr('n2'))!;
  const target = (silent.msg as { node: string }).node;
  const reqs = all.filter((s) => s.msg.t === 'ping-req' && s.at === silent.at + 500);
  assert.equal(reqs.length, 3, 'indirectChecks peers asked after probeTimeout');
  assert.ok(reqs.every((r) => (r.msg as { node: string }).node === target && r.to !== addr(target)));
  assert.ok(all.some((s) => s.channel === 'stream' && s.msg.t === 'ping' && s.to === addr(target) && s.at === silent.at + 500), 'TCP fallback ping');
  const events = log.flatMap((l) => l.out.events);
  assert.ok(events.some((e) => e.type === 'suspect' && e.member.id === target));
  assert.not.ok(events.some((e) => e.type === 'suspect' && e.member.id === 'n2'));
  assert.ok(a.stats().acks! >= 1);
});

test('indirect probe: an ack relayed by a peer ends the probe without suspicion', () => {
  const a = node('n1');
  a.start(0);
  know(a, ['n2', 'n3', 'n4'], 0);
  // Direct pings get nothing; a ping-req is answered with an ack for the probe's seq, as a relay would.
  const log = drive(a, 0, 5_000, (o) => (o.msg.t === 'ping-req' ? [{ t: 'ack', seq: o.msg.seq, from: 'relay' }] : []));
  assert.ok(a.stats().indirect_probes! > 0);
  assert.equal(a.stats().probe_failures, 0);
  assert.not.ok(log.some((l) => l.out.events.some((e) => e.type === 'suspect')));
});

test('relay: pings the target for the asker, forwards its ack, and sends a nack when none came within probeTimeout', () => {
  const c = node('n3');
  c.start(0);
  const req = { t: 'ping-req' as const, seq: 41, node: 'n9', target: addr('n9'), from: 'n1', addr: addr('n1'), nack: true };
  const out = sent(c.receive(addr('n1'), req, 100));
  const ping = out.find((s) => s.msg.t === 'ping')!;
  assert.equal(ping.to, addr('n9'));
  assert.equal(sent(c.tick(599)).filter((s) => s.msg.t === 'nack').length, 0);
  const nack = sent(c.tick(600)).filter((s) => s.msg.t === 'nack');
  assert.equal(nack.map((s) => [s.to, s.msg]), [[addr('n1'), { t: 'nack', seq: 41, from: 'n3' }]]);
  // A second request whose target answers: the ack is forwarded under the asker's seq, and no nack follows.
  const out2 = sent(c.receive(addr('n1'), { ...req, seq: 42 }, 1000));
  const seq = (out2.find((s) => s.msg.t === 'ping')!.msg as { seq: number }).seq;
  const fwd = sent(c.receive(addr('n9'), { t: 'ack', seq, from: 'n9' }, 1010)).filter((s) => s.msg.t === 'ack');
  assert.equal(fwd.map((s) => [s.to, s.msg]), [[addr('n1'), { t: 'ack', seq: 42, from: 'n3' }]]);
  assert.equal(sent(c.tick(1600)).filter((s) => s.msg.t === 'nack').length, 0);
});

test('Lifeguard awareness: failed probes without nacks raise local health, nacks spare it, acks lower it', () => {
  const a = node('n1', { tcpPings: false });
  a.start(0);
  know(a, ['n2', 'n3', 'n4', 'n5'], 0);
  // Nobody answers: each failed probe costs the 3 missing nacks.
  drive(a, 0, 1_600);
  assert.equal(a.stats().probe_failures, 1);
  assert.equal(a.localHealth(), 3);
  // Members now answer (directly, or through the relays for a probe already past its direct ping):
  // each acked probe lowers the score by one.
  drive(a, 1_600, 6_000, (o) => (o.msg.t === 'ping-req' ? [{ t: 'ack', seq: o.msg.seq, from: 'relay' }] : pingsOf(o).map((p) => ({ t: 'ack', seq: p.seq, from: p.node }))));
  assert.ok(a.stats().acks! >= 3);
  assert.equal(a.localHealth(), 0);
  // The score is capped at awarenessMaxMultiplier - 1.
  const c = node('n1', { tcpPings: false });
  c.start(0);
  know(c, ['n2', 'n3', 'n4', 'n5'], 0);
  drive(c, 0, 30_000);
  assert.equal(c.localHealth(), 7);
  // Relays that answer with nacks show the problem is not ours: a failed probe with all nacks costs nothing.
  // (Only while relays are left: once every member is suspect there is no one to ask, and a failure costs 1.)
  const b = node('n1', { tcpPings: false });
  b.start(0);
  know(b, ['n2', 'n3', 'n4', 'n5'], 0);
  drive(b, 0, 2_100, (o) => (o.msg.t === 'ping-req' ? [{ t: 'nack', seq: o.msg.seq, from: 'relay' }] : []));
  assert.ok(b.stats().probe_failures! > 0);
  assert.ok(b.stats().nacks_received! >= 3 * b.stats().probe_failures!);
  assert.equal(b.localHealth(), 0);
});

test('awareness stretches the probe: an unhealthy node waits (score+1) probe intervals before suspecting', () => {
  const a = node('n1', { tcpPings: false });
  a.start(0);
  know(a, ['n2', 'n3', 'n4', 'n5'], 0);
  drive(a, 0, 30_000);
  assert.equal(a.localHealth(), 7);
  const log = drive(a, 30_000, 60_000);
  const probeAt = log.find((l) => l.out.send.some((o) => pingsOf(o).length && o.channel === 'udp'))!.at;
  const suspectAt = log.find((l) => l.at > probeAt && l.out.events.some((e) => e.type === 'suspect'))?.at;
  const nextProbe = log.find((l) => l.at > probeAt && l.out.send.some((o) => pingsOf(o).length && o.channel === 'udp'))!.at;
  assert.ok(nextProbe - probeAt >= 8_000, `next probe ${nextProbe - probeAt} ms later`);
  if (suspectAt !== undefined) assert.ok(suspectAt - probeAt >= 8_000);
});

test('a suspected node refutes with a higher incarnation and gossips it; an alive about itself with a newer incarnation is out-announced', () => {
  const b = node('n2');
  b.start(0);
  know(b, ['n1', 'n3'], 0);
  assert.equal(b.stats().incarnation, 1);
  b.receive(addr('n3'), { t: 'suspect', node: 'n2', inc: 1, from: 'n3' }, 100);
  assert.equal(b.stats().refutations, 1);
  assert.equal(b.stats().incarnation, 2);
  assert.ok(b.localHealth() >= 1, 'being accused counts against our own health');
  const gossip = drive(b, 100, 1_000).flatMap((l) => sent(l.out));
  assert.ok(gossip.some((s) => s.msg.t === 'alive' && s.msg.node === 'n2' && s.msg.inc === 2));
  b.receive(addr('n3'), { t: 'dead', node: 'n2', inc: 5, from: 'n3' }, 1_100);
  assert.equal(b.stats().incarnation, 6);
  assert.equal(b.members().find((m) => m.id === 'n2')!.state, 'alive');
});
test.run();
