import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSocket, type Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { generateKey, Keyring } from '../../src/cluster/crypto.js';
import { encodeBody, encodeDatagram, type Message } from '../../src/cluster/codec.js';
import { newEpoch, ReplayGuard, SeqWindow } from '../../src/cluster/replay.js';
import { UdpTransport, UDP_AAD, type UdpCounters } from '../../src/cluster/udp.js';
import { isPleacoError } from '../../src/errors.js';

interface Node {
  t: UdpTransport;
  address: string;
  inbox: { from: string; msg: Message; sender: string }[];
}
const open: UdpTransport[] = [];
const raws: Socket[] = [];

async function node(id: string, keyring: Keyring, host = '127.0.0.1'): Promise<Node> {
  const t = new UdpTransport({ keyring, nodeId: id });
  open.push(t);
  const { address } = await t.bind(host, 0);
  const n: Node = { t, address, inbox: [] };
  t.on('message', (from, msg, sender) => n.inbox.push({ from, msg, sender }));
  return n;
}

/** A plain dgram socket: the test's own wire tap / attacker. */
async function raw(onMessage?: (buf: Buffer, from: string) => void): Promise<{ sock: Socket; port: number; send(buf: Buffer, to: string): Promise<void> }> {
  const sock = createSocket('udp4');
  raws.push(sock);
  if (onMessage) sock.on('message', (b, r) => onMessage(b, `${r.address}:${r.port}`));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const send = (buf: Buffer, to: string): Promise<void> =>
    new Promise((resolve, reject) => sock.send(buf, Number(to.split(':')[1]), '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  return { sock, port: sock.address().port, send };
}

async function waitFor(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const drops = (c: UdpCounters): number => Object.values(c.dropped).reduce((a, b) => a + b, 0);
const accounted = (t: UdpTransport): number => t.counters().received + drops(t.counters());

test.after.each(async () => {
  for (const t of open.splice(0)) await t.close();
  for (const s of raws.splice(0)) s.close();
});

test('replay window: each sequence number once, reordering within the window, nothing older', () => {
  const w = new SeqWindow(64, 100);
  assert.ok(w.accept(102));
  assert.ok(w.accept(101), 'late but inside the window');
  assert.not.ok(w.accept(101), 'duplicate');
  assert.not.ok(w.accept(100), 'the first one, again');
  assert.ok(w.accept(150));
  assert.ok(w.accept(90), '150-90 < 64: inside, never seen');
  assert.not.ok(w.accept(86), '150-86 = 64: out of the window');
  assert.ok(w.accept(1000), 'a jump past the window');
  assert.not.ok(w.accept(150), 'forgotten but too old');
  assert.ok(w.accept(999));
  assert.ok(w.accept(1000 - 63));
});

test('replay guard: restarts start a new epoch at once; stale epochs and reflections are refused', () => {
  let now = 1_000_000_000;
  const g = new ReplayGuard({ self: 'me', maxAgeMs: 60_000, window: 64 }, () => now);
  const e1 = newEpoch();
  const h = (seq: number, epoch = e1, sentAt = now) => ({ sender: 'b', epoch, seq, sentAt });
  assert.is(g.check(h(1)), 'fresh');
  const recorded = h(2);
  assert.is(g.check(recorded), 'fresh');
  assert.is(g.check(recorded), 'replayed');
  now += 5_000;
  const e2 = newEpoch(); // b restarted: seq starts again at 1
  assert.is(g.check(h(1, e2)), 'fresh');
  assert.is(g.check(h(2, e2, now - 10 * 60_000)), 'fresh', 'a known epoch is judged by its window, not its clock');
  assert.is(g.check(h(3, e1, now - 5_000)), 'fresh', 'a datagram of the old process still in flight');
  assert.is(g.check(recorded), 'replayed', 'old epoch still remembered');
  now += 10 * 60_000; // e1 long silent: forgotten, and anything it sent is now old
  assert.is(g.check(recorded), 'stale');
  assert.is(g.check(h(9, newEpoch(), now - 61_000)), 'stale', 'clock too far behind');
  assert.is(g.check(h(9, newEpoch(), now + 61_000)), 'stale', 'clock too far ahead');
  assert.is(g.check({ sender: 'me', epoch: e1, seq: 5, sentAt: now }), 'replayed', 'our own datagram reflected');
});

test('replay guard: a restarted receiver refuses recordings older than maxAgeMs', () => {
  let now = 5_000_000;
  const first = new ReplayGuard({ maxAgeMs: 60_000 }, () => now);
  const epoch = newEpoch();
  const old = { sender: 'b', epoch, seq: 1, sentAt: now };
  assert.is(first.check(old), 'fresh');
  now += 120_000;
  const restarted = new ReplayGuard({ maxAgeMs: 60_000 }, () => now);
  assert.is(restarted.check(old), 'stale');
  assert.is(restarted.check({ ...old, seq: 2, sentAt: now }), 'fresh');
});

test('replay guard memory is bounded in senders and epochs', () => {
  let now = 1_000_000;
  const g = new ReplayGuard({ maxSenders: 100, epochsPerSender: 3 }, () => now);
  for (let i = 0; i < 5_000; i++) assert.is(g.check({ sender: `n${i}`, epoch: newEpoch(), seq: 1, sentAt: now }), 'fresh');
  assert.is(g.trackedSenders(), 100);
  const epochs = Array.from({ length: 5 }, () => newEpoch());
  for (const e of epochs) g.check({ sender: 'crashloop', epoch: e, seq: 1, sentAt: ++now });
  assert.is(g.check({ sender: 'crashloop', epoch: epochs[4]!, seq: 1, sentAt: now }), 'replayed', 'the newest epoch is kept');
});

test('two transports exchange messages; counters count them', async () => {
  const key = generateKey();
  const a = await node('a', new Keyring(key));
  const b = await node('b', new Keyring(key));
  a.t.send(b.address, { t: 'ping', n: 1 });
  b.t.send(a.address, { t: 'ack', n: 1 });
  await waitFor('both messages', () => a.inbox.length === 1 && b.inbox.length === 1);
  assert.equal(b.inbox[0], { from: a.address, msg: { t: 'ping', n: 1 }, sender: 'a' });
  assert.equal(a.inbox[0], { from: b.address, msg: { t: 'ack', n: 1 }, sender: 'b' });
  await waitFor('send callbacks', () => a.t.counters().sent === 1);
  const c = a.t.counters();
  assert.is(c.received, 1);
  assert.ok(c.bytes_out > 0 && c.bytes_in > 0);
  assert.is(drops(c), 0);
});

test('a node with another key is dropped and counted as no_key', async () => {
  const a = await node('a', new Keyring(generateKey()));
  const b = await node('b', new Keyring(generateKey()));
  for (let i = 0; i < 3; i++) b.t.send(a.address, { t: 'ping', i });
  await waitFor('three drops', () => a.t.counters().dropped.no_key === 3);
  assert.is(a.inbox.length, 0);
  assert.is(a.t.counters().received, 0);
});

test('captured datagrams replayed later are dropped as replayed; reflected ones too', async () => {
  const key = generateKey();
  const a = await node('a', new Keyring(key));
  const b = await node('b', new Keyring(key));
  const captured: Buffer[] = [];
  const tap = await raw((buf) => {
    captured.push(buf);
    void tap.send(buf, b.address); // forward: the tap is on the path
  });
  for (let i = 0; i < 5; i++) a.t.send(`127.0.0.1:${tap.port}`, { t: 'alive', i });
  await waitFor('5 delivered through the tap', () => b.inbox.length === 5);
  for (const f of captured) await tap.send(f, b.address);
  for (const f of captured.slice(0, 2)) await tap.send(f, a.address);
  await waitFor('replays counted', () => b.t.counters().dropped.replayed === 5 && a.t.counters().dropped.replayed === 2);
  assert.is(b.inbox.length, 5);
  assert.is(a.inbox.length, 0);
});

test('garbled, truncated, oversize, malformed and stale datagrams are each counted', async () => {
  const ring = new Keyring(generateKey());
  const b = await node('b', ring);
  const atk = await raw();
  const good = (sentAt: number, body: Buffer) => ring.seal(encodeDatagram({ sender: 'x', epoch: newEpoch(), seq: 1, sentAt }, body), UDP_AAD);
  const valid = good(Date.now(), encodeBody({ ok: 1 }));
  const v2 = Buffer.from(valid);
  v2[0] = 2;
  await atk.send(Buffer.alloc(0), b.address);
  await atk.send(Buffer.from('hello'), b.address);
  await atk.send(v2, b.address); // garbled: unknown version
  await atk.send(valid.subarray(0, valid.length - 3), b.address); // no_key: tag cut
  await atk.send(Buffer.alloc(1401, 1), b.address); // oversize
  await atk.send(ring.seal(Buffer.from('short'), UDP_AAD), b.address); // malformed header
  await atk.send(good(Date.now(), Buffer.from('[1,2]')), b.address); // malformed body
  await atk.send(good(Date.now() - 3_600_000, encodeBody({ ok: 1 })), b.address); // stale
  await atk.send(ring.seal(encodeDatagram({ sender: 'x', epoch: newEpoch(), seq: 1, sentAt: Date.now() }, encodeBody({ ok: 1 }))), b.address); // no aad: no_key
  await atk.send(valid, b.address); // the one good datagram
  await waitFor('all 10 accounted', () => accounted(b.t) === 10);
  assert.equal(b.t.counters().dropped, { no_key: 2, garbled: 3, replayed: 0, stale: 1, oversize: 1, malformed: 2 });
  assert.equal(b.inbox.map((m) => m.msg), [{ ok: 1 }]);
});

test('fuzz: bounded random and mutated datagrams never crash the transport', async () => {
  const ring = new Keyring(generateKey());
  const a = await node('a', ring);
  const b = await node('b', ring);
  const atk = await raw();
  let s = 12345;
  const rand = (): number => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const valid = ring.seal(encodeDatagram({ sender: 'x', epoch: newEpoch(), seq: 1, sentAt: Date.now() }, encodeBody({ v: 1 })), UDP_AAD);
  let sent = 0;
  for (let batch = 0; batch < 20; batch++) {
    for (let i = 0; i < 40; i++) {
      let f: Buffer;
      const kind = rand();
      if (kind < 0.4) {
        f = Buffer.alloc(Math.floor(rand() * 1500));
        for (let j = 0; j < f.length; j++) f[j] = Math.floor(rand() * 256);
        if (f.length && rand() < 0.5) f[0] = 1;
      } else if (kind < 0.8) {
        f = Buffer.from(valid);
        const flips = 1 + Math.floor(rand() * 4);
        for (let j = 0; j < flips || f.equals(valid); j++) {
          const at = Math.floor(rand() * f.length);
          f[at] = f[at]! ^ (1 << Math.floor(rand() * 8));
        }
      } else f = valid.subarray(0, Math.floor(rand() * valid.length));
      await atk.send(f, b.address);
      sent++;
    }
    await waitFor(`batch ${batch} accounted`, () => accounted(b.t) === sent);
  }
  assert.is(b.t.counters().received, 0, 'nothing random or mutated got through');
  a.t.send(b.address, { still: 'alive' });
  await waitFor('a real message after the fuzz', () => b.inbox.length === 1);
});

test('key rotation (install everywhere, use everywhere, remove everywhere) never loses a message', async () => {
  const [k1, k2] = [generateKey(), generateKey()];
  const rings = [new Keyring(k1), new Keyring(k1), new Keyring(k1)];
  const nodes = await Promise.all(rings.map((r, i) => node(`n${i}`, r)));
  let expected = 0;
  const burst = (label: string): void => {
    for (const from of nodes) for (const to of nodes) if (from !== to) for (let i = 0; i < 5; i++) from.t.send(to.address, { label, i });
    expected += 5 * 2;
  };
  const steps: [string, () => void][] = [
    ['a installs', () => rings[0]!.install(k2)],
    ['b, c install', () => { rings[1]!.install(k2); rings[2]!.install(k2); }],
    ['a uses', () => rings[0]!.use(k2)],
    ['b uses', () => rings[1]!.use(k2)],
    ['c uses', () => rings[2]!.use(k2)],
    ['a removes', () => rings[0]!.remove(k1)],
    ['b, c remove', () => { rings[1]!.remove(k1); rings[2]!.remove(k1); }],
  ];
  for (const [label, change] of steps) {
    burst(`${label}: before`);
    change(); // while the burst is in flight
    burst(`${label}: after`);
    await waitFor(`all delivered after "${label}"`, () => nodes.every((n) => n.inbox.length === expected));
    for (const n of nodes) assert.is(drops(n.t.counters()), 0, `${n.t.address()} dropped nothing at "${label}"`);
  }
  const late = await node('late', new Keyring(k1)); // never got k2: the order matters
  nodes[0]!.t.send(late.address, { hi: 1 });
  await waitFor('late node drops it', () => late.t.counters().dropped.no_key === 1);
});

test('sending: exact budget fits, one byte over is refused; names and wrong families are refused', async () => {
  const ring = new Keyring(generateKey());
  const a = await node('a', ring);
  const b = await node('b', ring);
  const fill = (n: number) => ({ p: 'x'.repeat(n - encodeBody({ p: '' }).length) });
  a.t.send(b.address, fill(a.t.maxBodyBytes));
  await waitFor('the full-size message', () => b.inbox.length === 1);
  assert.throws(() => a.t.send(b.address, fill(a.t.maxBodyBytes + 1)), (e: unknown) => isPleacoError(e) && e.code === 'payload_too_large');
  for (const bad of ['localhost:4000', 'example.invalid:1', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '::1:5000', '[::1]:5000']) {
    assert.throws(() => a.t.send(bad, { x: 1 }), (e: unknown) => isPleacoError(e) && e.code === 'bad_request', bad);
  }
  assert.throws(() => new UdpTransport({ keyring: ring, nodeId: 'z', maxDatagramBytes: 70_000 }), (e: unknown) => isPleacoError(e) && e.code === 'invalid_config');
  await a.t.close();
  assert.throws(() => a.t.send(b.address, { x: 1 }), (e: unknown) => isPleacoError(e) && e.code === 'unavailable');
});

const hasV6 = Object.values(networkInterfaces()).some((list) => list?.some((i) => i.family === 'IPv6' && i.address === '::1'));

test('IPv6 loopback works the same way' + (hasV6 ? '' : ' (skipped: no ::1)'), async () => {
  if (!hasV6) return;
  const key = generateKey();
  const a = await node('a6', new Keyring(key), '::1');
  const b = await node('b6', new Keyring(key), '::1');
  assert.match(a.address, /^\[::1\]:\d+$/);
  a.t.send(b.address, { v: 6 });
  await waitFor('v6 message', () => b.inbox.length === 1);
  assert.equal(b.inbox[0], { from: a.address, msg: { v: 6 }, sender: 'a6' });
  assert.throws(() => a.t.send('127.0.0.1:5000', { x: 1 }), (e: unknown) => isPleacoError(e) && e.code === 'bad_request');
});

test.run();
