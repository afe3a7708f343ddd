import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { generateKey, Keyring } from '../../src/cluster/crypto.js';
import type { Message } from '../../src/cluster/codec.js';
import { StreamServer, streamRequest, type StreamHandler, type StreamServerOptions } from '../../src/cluster/stream.js';
import { UdpTransport } from '../../src/cluster/udp.js';
import { HANDSHAKE_FRAME_LIMIT } from '../../src/cluster/internal/session.js';
import { isPleacoError, PleacoError } from '../../src/errors.js';

const cleanup: (() => unknown)[] = [];
test.after.each(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function server(handler: StreamHandler, opts: StreamServerOptions, host = '127.0.0.1'): Promise<{ srv: StreamServer; address: string }> {
  const srv = new StreamServer(handler, opts);
  cleanup.push(() => srv.close());
  return { srv, address: (await srv.listen(host, 0)).address };
}

/** A plain TCP server of the test's own (a silent peer, a tap, a replayer). */
async function rawServer(onConn: (s: Socket) => void): Promise<number> {
  const srv: Server = createServer(onConn);
  const sockets = new Set<Socket>();
  srv.on('connection', (s) => sockets.add(s));
  cleanup.push(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); srv.close(() => r()); }));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return (srv.address() as { port: number }).port;
}

/** Connects, writes `bytes`, and resolves with everything received until the peer closes. */
function rawExchange(address: string, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
    const got: Buffer[] = [];
    const s = connect({ host, port }, () => s.write(bytes));
    s.on('data', (d) => got.push(d));
    s.on('error', () => undefined);
    s.on('close', () => resolve(Buffer.concat(got)));
  });
}

async function failure(p: Promise<unknown>): Promise<PleacoError> {
  try {
    await p;
  } catch (err) {
    if (isPleacoError(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

const echo: StreamHandler = (from, req) => ({ from, req });

test('a request gets its response; the handler sees the caller address', async () => {
  const keyring = new Keyring(generateKey());
  const { srv, address } = await server(echo, { keyring });
  const res = await streamRequest(address, { t: 'digest', n: 3 }, { keyring });
  assert.equal(res.req, { t: 'digest', n: 3 });
  assert.match(String(res.from), /^127\.0\.0\.1:\d+$/);
  assert.is(srv.counters().completed, 1);
});

test('a large state sync round trips intact (9 MiB each way)', async () => {
  const keyring = new Keyring(generateKey());
  const entries = Array.from({ length: 60_000 }, (_, i) => ({ k: `app/web-${i}/config`, v: 'x'.repeat(120), w: i }));
  const { address } = await server((_f, req) => ({ back: (req as { entries: unknown[] }).entries }), { keyring });
  const res = await streamRequest(address, { entries }, { keyring });
  const digest = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex');
  assert.ok(JSON.stringify(entries).length > 9 * 1024 * 1024);
  assert.is(digest(res.back), digest(entries));
});

test('a peer with the wrong key is cut off before the server writes a byte', async () => {
  let calls = 0;
  const { srv, address } = await server(() => ({ n: ++calls }), { keyring: new Keyring(generateKey()) });
  const err = await failure(streamRequest(address, { x: 1 }, { keyring: new Keyring(generateKey()) }));
  assert.is(err.details?.reason, 'closed');
  const hello = new Keyring(generateKey()).seal(Buffer.alloc(16, 1), Buffer.from('pleaco/tcp/1 hello'));
  const framed = Buffer.concat([Buffer.from([0, 0, 0, hello.length]), hello]);
  assert.is((await rawExchange(address, framed)).length, 0, 'not even a challenge for a wrong-key hello');
  assert.is((await rawExchange(address, Buffer.from('GET / HTTP/1.1\r\n\r\n'))).length, 0, 'nor for a stray client');
  assert.is((await rawExchange(address, Buffer.from([0, 0, 0, 45, ...Buffer.alloc(45, 7)]))).length, 0);
  const d = srv.counters().dropped;
  assert.is(d.no_key, 2);
  assert.is(d.oversize + d.garbled, 2);
  assert.is(calls, 0);
});

test('frames over the limit are refused both ways, and before connecting', async () => {
  const keyring = new Keyring(generateKey());
  const small = await server(echo, { keyring, maxFrameBytes: 1024 });
  const err = await failure(streamRequest(small.address, { p: 'x'.repeat(2000) }, { keyring }));
  assert.is(err.details?.reason, 'closed');
  assert.is(small.srv.counters().dropped.oversize, 1);
  const announced = Buffer.from([0x00, 0x10, 0x00, 0x00]); // a 1 MiB hello is refused from its length alone
  assert.is((await rawExchange(small.address, announced)).length, 0);
  assert.is(small.srv.counters().dropped.oversize, 2);
  const big = await server(() => ({ p: 'y'.repeat(5000) }), { keyring });
  const tooBig = await failure(streamRequest(big.address, { q: 1 }, { keyring, maxFrameBytes: 1024 }));
  assert.is(tooBig.details?.reason, 'oversize');
  const local = await failure(streamRequest(big.address, { p: 'x'.repeat(2000) }, { keyring, maxFrameBytes: 1024 }));
  assert.is(local.code, 'payload_too_large');
  assert.is(big.srv.counters().connections, 1, 'the local refusal never connected');
});

test('a recorded exchange replayed to the server, or to a client, is refused', async () => {
  const keyring = new Keyring(generateKey());
  let calls = 0;
  const { srv, address } = await server((_f, req) => ({ n: ++calls, req }), { keyring });
  const target = Number(address.split(':')[1]);
  const fromClient: Buffer[] = [];
  const fromServer: Buffer[] = [];
  const tapPort = await rawServer((c) => {
    const up = connect(target, '127.0.0.1');
    c.on('data', (d) => { fromClient.push(d); up.write(d); });
    up.on('data', (d) => { fromServer.push(d); c.write(d); });
    c.on('end', () => up.end());
    up.on('end', () => c.end());
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  assert.equal(await streamRequest(`127.0.0.1:${tapPort}`, { put: 'k=v' }, { keyring }), { n: 1, req: { put: 'k=v' } });
  const reply = await rawExchange(address, Buffer.concat(fromClient));
  assert.ok(reply.length === 0 || reply.length === 4 + 16 + 29, 'the replayed hello earns at most a fresh challenge');
  assert.is(srv.counters().dropped.replayed, 1);
  assert.is(calls, 1, 'the handler ran once');
  const fakePort = await rawServer((c) => c.once('data', () => c.write(Buffer.concat(fromServer))));
  const err = await failure(streamRequest(`127.0.0.1:${fakePort}`, { put: 'k=v' }, { keyring }));
  assert.is(err.details?.reason, 'bad_key', 'a recorded challenge does not fit a new client nonce');
});

test('timeouts: a silent server, a silent client, a listener that never accepts', async () => {
  const keyring = new Keyring(generateKey());
  const silent = await rawServer(() => undefined);
  const idle = await failure(streamRequest(`127.0.0.1:${silent}`, { x: 1 }, { keyring, idleTimeoutMs: 200 }));
  assert.is(idle.details?.reason, 'idle_timeout');
  const { srv, address } = await server(echo, { keyring, idleTimeoutMs: 200 });
  assert.is((await rawExchange(address, Buffer.alloc(0))).length, 0);
  assert.is(srv.counters().dropped.timeout, 1);
  // A listener whose process is frozen: the kernel queue fills, then SYNs go unanswered.
  const script = `const s=require('net').createServer();s.listen({host:'127.0.0.1',port:0,backlog:1},()=>{console.log(s.address().port);Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0,5000);process.exit(0)})`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanup.push(() => child.kill());
  const port = await new Promise<number>((r) => child.stdout.once('data', (d) => r(Number(String(d).trim()))));
  const fillers = Array.from({ length: 3 }, () => connect(port, '127.0.0.1').on('error', () => undefined));
  cleanup.push(() => fillers.forEach((s) => s.destroy()));
  await new Promise((r) => setTimeout(r, 100));
  const ct = await failure(streamRequest(`127.0.0.1:${port}`, { x: 1 }, { keyring, connectTimeoutMs: 300 }));
  assert.is(ct.details?.reason, 'connect_timeout');
});

test('handler errors reach the caller as a code only; a busy server refuses extra connections', async () => {
  const keyring = new Keyring(generateKey());
  const { address } = await server((_f, req) => {
    if (req.kind === 'missing') throw new PleacoError('not_found', 'no such key');
    throw new Error('db path /var/lib/pleaco broke');
  }, { keyring });
  const nf = await failure(streamRequest(address, { kind: 'missing' }, { keyring }));
  assert.equal([nf.details?.reason, nf.details?.remote_code], ['remote', 'not_found']);
  const internal = await failure(streamRequest(address, { kind: 'bug' }, { keyring }));
  assert.is(internal.details?.remote_code, 'internal');
  assert.not.match(internal.message, '/var/lib');
  const busy = await server(echo, { keyring, maxConnections: 1 });
  const holder = connect(Number(busy.address.split(':')[1]), '127.0.0.1');
  cleanup.push(() => holder.destroy());
  await new Promise((r) => holder.once('connect', r));
  await new Promise((r) => setTimeout(r, 50));
  const err = await failure(streamRequest(busy.address, { x: 1 }, { keyring }));
  assert.is(err.details?.reason, 'closed');
  assert.is(busy.srv.counters().dropped.busy, 1);
});

/** Opens a plain TCP connection from `localAddress` and resolves once it is connected. */
function openFrom(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress });
    cleanup.push(() => s.destroy());
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves true when the peer closes `s` within `ms`, false otherwise. */
function closedWithin(s: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    s.on('error', () => undefined);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

test('keyless connections from one address are capped (counted per_address); other addresses are still served', async () => {
  const keyring = new Keyring(generateKey());
  const { srv, address } = await server(echo, { keyring, idleTimeoutMs: 30_000 });
  const port = Number(address.split(':')[1]);
  // 127.0.0.2 is loopback too: one remote address holding connections open without a hello.
  const held = [];
  for (let i = 0; i < 8; i++) held.push(await openFrom(port, '127.0.0.2'));
  const extra = await openFrom(port, '127.0.0.2');
  assert.ok(await closedWithin(extra, 3000), 'the 9th connection from the same address is closed at once');
  assert.is(srv.counters().dropped.per_address, 1);
  for (const s of held) assert.not.ok(s.destroyed, 'the first 8 are still open (their handshake deadline has not passed)');
  const res = await streamRequest(address, { x: 1 }, { keyring });
  assert.equal(res.req, { x: 1 }, 'a peer at another address is served meanwhile');
});

test('a connection without a hello is cut at the handshake deadline, long before the idle timeout', async () => {
  const keyring = new Keyring(generateKey());
  const { srv, address } = await server(echo, { keyring, idleTimeoutMs: 30_000 });
  const port = Number(address.split(':')[1]);
  const silent = await openFrom(port, '127.0.0.1');
  // A peer that drips a byte now and then never completes a hello either; the deadline is not reset by data.
  const drip = await openFrom(port, '127.0.0.1');
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(HANDSHAKE_FRAME_LIMIT, 0);
  drip.write(prefix);
  const timer = setInterval(() => drip.writable && drip.write(Buffer.from([0])), 300);
  cleanup.push(() => clearInterval(timer));
  assert.ok(await closedWithin(silent, 10_000), 'the silent connection was cut within 10 s (idle timeout 30 s)');
  assert.ok(await closedWithin(drip, 2_000), 'the dripping connection was cut too');
  assert.is(srv.counters().dropped.timeout, 2);
});

const hasV6 = Object.values(networkInterfaces()).some((l) => l?.some((i) => i.family === 'IPv6' && i.address === '::1'));
(hasV6 ? test : test.skip)('IPv6 loopback' + (hasV6 ? '' : ' (skipped: this machine has no ::1)'), async () => {
  const keyring = new Keyring(generateKey());
  const { address } = await server(echo, { keyring }, '::1');
  assert.match(address, /^\[::1\]:\d+$/);
  const res = await streamRequest(address, { v: 6 }, { keyring });
  assert.match(String(res.from), /^\[::1\]:\d+$/);
});

test('cross-process: a peer process echoes over UDP and stream; its key came on stdin', async () => {
  const key = generateKey();
  const keyring = new Keyring(key);
  const peer = spawn(process.execPath, [new URL('./_peer.js', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] });
  cleanup.push(() => peer.kill());
  assert.not.ok(peer.spawnargs.some((a) => a.includes(key)), 'key not in argv');
  peer.stdin.write(key + '\n');
  const ready = await new Promise<{ udp: string; tcp: string }>((r) => peer.stdout.once('data', (d) => r(JSON.parse(String(d)))));
  const udp = new UdpTransport({ keyring, nodeId: 'parent' });
  cleanup.push(() => udp.close());
  await udp.bind('127.0.0.1', 0);
  const echoes: Message[] = [];
  udp.on('message', (_from, msg) => echoes.push(msg));
  for (let i = 0; i < 20; i++) udp.send(ready.udp, { i });
  const end = Date.now() + 5000;
  while (echoes.length < 20 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.equal(echoes.map((m) => (m.echo as { i: number }).i).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
  assert.ok(echoes.every((m) => m.pid === peer.pid));
  const res = await streamRequest(ready.tcp, { sync: 'digest' }, { keyring });
  assert.equal(res, { echo: { sync: 'digest' }, pid: peer.pid });
  const stranger = await failure(streamRequest(ready.tcp, { sync: 'digest' }, { keyring: new Keyring(generateKey()) }));
  assert.is(stranger.details?.reason, 'closed');
  peer.stdin.end();
  assert.is(await new Promise((r) => peer.once('exit', r)), 0);
});

test.run();
