/**
 * Broadcasts: memberlist's transmit-limited queue, user payload ordering and limits, and node
 * metadata updates, through the pure core.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PleacoError } from '../../src/errors.js';
import { SwimNode, seededRandom, type AliveMsg, type CoreOutput, type UserMsg } from '../../src/cluster/index.js';
import { TransmitQueue } from '../../src/cluster/broadcast.js';

const addr = (id: string) => `127.0.0.${id.replace(/\D/g, '')}:7946`;
const alive = (node: string, inc = 1): AliveMsg => ({ t: 'alive', node, addr: addr(node), inc, meta: {} });

test('queue: each broadcast is sent retransmitMult * ceil(log10(n+1)) times, least-sent first, within the byte budget', () => {
  const count = (n: number) => {
    const q = new TransmitQueue(4);
    q.queue('m:a', alive('n1'), 50, n);
    let sends = 0;
    while (q.take(1000, 1, n).msgs.length) sends++;
    return sends;
  };
  assert.equal(count(10), 8);
  assert.equal(count(1000), 16);
  assert.equal(count(1), 4);
  const q = new TransmitQueue(4);
  q.queue('m:a', alive('n1'), 50, 10);
  q.take(1000, 1, 10);
  q.queue('m:b', alive('n2'), 50, 10);
  // b has never been sent, so it goes first; a budget for one message takes only b.
  assert.equal(q.take(51, 1, 10).msgs.map((m) => (m as AliveMsg).node), ['n2']);
  const both = q.take(102, 1, 10);
  assert.equal(both.msgs.length, 2);
  assert.equal(both.bytes, 102);
  assert.equal(q.take(50, 1, 10).msgs, [], 'nothing fits 50 bytes with 1 byte of overhead');
});

test('queue: a broadcast with the same name replaces the queued one (its transmit count restarts)', () => {
  const q = new TransmitQueue(4);
  q.queue('m:a', alive('n1', 1), 50, 10);
  for (let i = 0; i < 5; i++) q.take(1000, 1, 10);
  q.queue('m:a', alive('n1', 2), 50, 10);
  assert.equal(q.length, 1);
  const sent: number[] = [];
  for (let r = q.take(1000, 1, 10); r.msgs.length; r = q.take(1000, 1, 10)) sent.push((r.msgs[0] as AliveMsg).inc);
  assert.equal(sent, Array(8).fill(2));
});

test('broadcast limits: too large, bad key or a payload JSON cannot carry are refused with a PleacoError', () => {
  const n = new SwimNode({ id: 'n1', addr: addr('n1'), random: seededRandom(1) });
  n.start(0);
  const code = (f: () => void) => {
    try {
      f();
    } catch (err) {
      return err instanceof PleacoError ? err.code : 'not a PleacoError';
    }
    return 'no error';
  };
  assert.equal(code(() => n.broadcast('k', 'x'.repeat(1400))), 'payload_too_large');
  assert.equal(code(() => n.broadcast('', 1)), 'bad_request');
  assert.equal(code(() => n.broadcast('k'.repeat(513), 1)), 'bad_request');
  assert.equal(code(() => n.broadcast('k', undefined)), 'bad_request');
  assert.equal(code(() => n.broadcast('k', 10n)), 'bad_request');
  assert.equal(code(() => n.broadcast('k', 'x'.repeat(1200))), 'no error');
  assert.equal(code(() => new SwimNode({ id: 'n2', addr: addr('n2'), random: Math.random, meta: { big: 'x'.repeat(600) } })), 'payload_too_large');
  assert.equal(code(() => new SwimNode({ id: 'n2', addr: addr('n2'), random: Math.random, config: { probeIntervalMs: -1 } })), 'invalid_config');
});

test('user messages: the newest (ltime, origin) per key is delivered once; stale and repeated ones are not', () => {
  const n = new SwimNode({ id: 'n1', addr: addr('n1'), random: seededRandom(1) });
  n.start(0);
  const u = (ltime: number, origin: string, payload: unknown): UserMsg => ({ t: 'user', key: 'cfg', ltime, origin, payload });
  const got = (out: CoreOutput) => out.user.map((x) => [x.from, x.payload]);
  assert.equal(got(n.receive(addr('n2'), u(5, 'n2', 'a'), 1)), [['n2', 'a']]);
  assert.equal(got(n.receive(addr('n3'), u(5, 'n2', 'a'), 2)), [], 'duplicate');
  assert.equal(got(n.receive(addr('n3'), u(4, 'n3', 'old'), 3)), [], 'older ltime');
  assert.equal(got(n.receive(addr('n3'), u(5, 'n3', 'tie'), 4)), [['n3', 'tie']], 'same ltime: the greater origin wins');
  assert.equal(got(n.receive(addr('n2'), u(5, 'n2', 'a'), 5)), []);
  // A local broadcast is stamped after everything seen, so it wins everywhere; the origin gets it too.
  n.broadcast('cfg', 'mine');
  assert.equal(got(n.tick(6)), [['n1', 'mine']]);
  assert.equal(n.stats().user_duplicates, 3);
});

test('setMeta re-announces with a new incarnation: an update event here and on a peer', () => {
  const a = new SwimNode({ id: 'n1', addr: addr('n1'), meta: { role: 'web' }, random: seededRandom(1) });
  const b = new SwimNode({ id: 'n2', addr: addr('n2'), random: seededRandom(2) });
  a.start(0);
  b.start(0);
  b.receive(addr('n1'), alive('n1', 1), 1);
  a.receive(addr('n2'), alive('n2', 1), 1);
  a.setMeta({ role: 'db' });
  const out = a.tick(a.nextWakeAt());
  assert.equal(out.events.map((e) => [e.type, e.member.id, e.member.meta]), [['update', 'n1', { role: 'db' }]]);
  assert.equal(a.stats().incarnation, 2);
  // The next packets a sends to b carry the announcement.
  const sends = [...out.send];
  while (!sends.length && a.nextWakeAt() < 5_000) sends.push(...a.tick(a.nextWakeAt()).send);
  const parts = sends.filter((o) => o.to === addr('n2')).flatMap((o) => (o.msg.t === 'compound' ? o.msg.parts : [o.msg]));
  const announce = parts.find((p): p is AliveMsg => p.t === 'alive' && p.node === 'n1')!;
  assert.equal([announce.inc, announce.meta], [2, { role: 'db' }]);
  const seen = b.receive(addr('n1'), JSON.parse(JSON.stringify(announce)), 2);
  assert.equal(seen.events.map((e) => [e.type, e.member.id, e.member.meta.role]), [['update', 'n1', 'db']]);
  assert.equal(b.members().find((m) => m.id === 'n1')!.meta, { role: 'db' });
});

test.run();
