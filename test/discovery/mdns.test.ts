/**
 * The mDNS adapter (src/discovery/mdns.ts) with real multicast between network namespaces (bench/gossip/netns.ts:
 * hosts on one bridge, which floods 224.0.0.251 like any link-local group). Each node is `_mdns-peer.js` in its
 * namespace, printing what it hears as JSON lines; `_mdns-craft.js` sends broken and hostile packets. Namespace tests
 * are skipped, saying why, without root or `ip netns`; the avahi one also without avahi-daemon. Only the lab's
 * namespaces and loopback are used.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NetnsLab, benchNamespaces, labUnavailable, type Host } from '../../bench/gossip/netns.js';
import { mustRun, sleep } from '../../bench/gossip/proc.js';
import { eligibleInterfaces } from '../../src/discovery/interfaces.js';
import { Mdns, type MdnsAnnouncement, type MdnsCounters } from '../../src/discovery/mdns.js';
import { PleacoError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';

const PEER = new URL('./_mdns-peer.js', import.meta.url).pathname;
const CRAFT = new URL('./_mdns-craft.js', import.meta.url).pathname;
const LISTEN = new URL('./_mdns-listen.js', import.meta.url).pathname;
const SERVICE = '_pleaco._tcp.local';

interface Line {
  ready?: { interfaces: string[] };
  announcement?: MdnsAnnouncement;
  counters?: MdnsCounters;
  stopped?: boolean;
  error?: { code: string; message: string };
}

/** An Mdns node in a namespace: its output lines so far, and a way to wait for one. */
class Peer {
  readonly lines: Line[] = [];
  private stderr = '';
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    createInterface({ input: child.stdout! }).on('line', (l) => this.lines.push(JSON.parse(l) as Line));
    child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
  }

  /** The announcements heard from `instance` (all, when not given). */
  heard(instance?: string): MdnsAnnouncement[] {
    return this.lines.flatMap((l) => (l.announcement && (!instance || l.announcement.instance === instance) ? [l.announcement] : []));
  }

  async waitFor(what: string, pred: (l: Line) => boolean, ms = 15_000): Promise<Line> {
    const until = Date.now() + ms;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (Date.now() > until || this.child.exitCode !== null) {
        throw new Error(`${this.name}: no ${what} within ${ms} ms (exit ${this.child.exitCode}); stderr: ${this.stderr}`);
      }
      await sleep(50);
    }
  }

  /** Asks for the counters and waits for the answer. */
  async counters(): Promise<MdnsCounters> {
    const before = this.lines.length;
    this.child.stdin!.write('counters\n');
    const l = await this.waitFor('counters', (x) => x.counters !== undefined && this.lines.indexOf(x) >= before, 5000);
    return l.counters!;
  }

  async stop(): Promise<MdnsCounters> {
    this.child.stdin!.write('stop\n');
    return (await this.waitFor('stopped', (l) => l.stopped === true, 10_000)).counters!;
  }
}

async function startPeer(lab: NetnsLab, h: Host, instance: string, extra: Record<string, unknown> = {}): Promise<Peer> {
  const args = { instance, port: 7000 + h.index, txt: { node: instance, v: '1' }, queryMaxMs: 4000, rescanMs: 1000, ...extra };
  const child = lab.spawn(h, [process.execPath, PEER, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const peer = new Peer(instance, child);
  const first = await peer.waitFor('ready line', (l) => l.ready !== undefined || l.error !== undefined);
  if (first.error) throw new Error(`${instance} did not start: ${first.error.message}`);
  return peer;
}

const why = labUnavailable();
if (why) console.log(`SKIP mdns namespace tests: ${why}`);
const netns = why ? test.skip : test;

test('eligibleInterfaces: a fake networkInterfaces() keeps eth0, ens3, br0 and drops loopback and container plumbing', () => {
  const v4 = (address: string, internal = false): import('node:os').NetworkInterfaceInfo => ({ address, netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal, cidr: `${address}/24` });
  const v6 = { address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: 'fe80::1/64', scopeid: 2 } as const;
  const fakeInterfaces = {
    lo: [v4('127.0.0.1', true)],
    eth0: [v6, v4('192.168.1.10'), v4('192.168.1.11')],
    ens3: [v4('10.0.0.5')],
    br0: [v4('172.30.0.1')],
    docker0: [v4('172.17.0.1')],
    docker_gwbridge: [v4('172.18.0.1')],
    'br-0123456789ab': [v4('172.19.0.1')],
    veth123: [v4('169.254.0.1')],
    cni0: [v4('10.88.0.1')],
    'flannel.1': [v4('10.244.0.0')],
    cali12345: [v4('10.1.0.1')],
    wlan0: [v6],
  };
  assert.equal(eligibleInterfaces(fakeInterfaces), [
    { name: 'eth0', address: '192.168.1.10' },
    { name: 'ens3', address: '10.0.0.5' },
    { name: 'br0', address: '172.30.0.1' },
  ]);
});

test('start() rejects with unavailable naming the port when another socket holds it without SO_REUSEADDR', async () => {
  const holder = createSocket({ type: 'udp4', reuseAddr: false });
  await new Promise<void>((r) => holder.bind(0, '127.0.0.1', () => r()));
  const port = holder.address().port;
  const mdns = new Mdns({ instance: 'n1', port: 7000, txt: () => ({}), mdnsPort: port, interfaces: () => [], log: createLogger() });
  try {
    const err = await mdns.start().then(() => null, (e: unknown) => e);
    assert.instance(err, PleacoError);
    assert.is((err as PleacoError).code, 'unavailable');
    assert.match((err as PleacoError).message, String(port));
    await mdns.stop(); // nothing to undo, and no throw
  } finally {
    holder.close();
  }
});

test('options are validated: a non-label instance, an oversized TXT', async () => {
  const log = createLogger();
  assert.throws(() => new Mdns({ instance: 'Node_1', port: 7000, txt: () => ({}), log }), /DNS label/);
  const mdns = new Mdns({ instance: 'n1', port: 7000, txt: () => ({ k: 'x'.repeat(300) }), interfaces: () => [], log });
  const err = await mdns.start().then(() => null, (e: unknown) => e);
  assert.match((err as Error).message, /bounds/);
});

netns('two nodes started together see each other: instance, TXT, SRV port, and the peer\'s namespace address', async () => {
  const lab = await NetnsLab.create(2);
  try {
    const [h1, h2] = [lab.host(1), lab.host(2)];
    const [a, b] = await Promise.all([startPeer(lab, h1, 'node-a'), startPeer(lab, h2, 'node-b')]);
    assert.equal(a.lines[0]!.ready!.interfaces, ['pl0']);
    await a.waitFor('announcement of node-b', (l) => l.announcement?.instance === 'node-b');
    await b.waitFor('announcement of node-a', (l) => l.announcement?.instance === 'node-a');
    assert.equal(a.heard('node-b')[0], { instance: 'node-b', txt: { node: 'node-b', v: '1' }, port: 7002, from: h2.addr, goodbye: false });
    assert.equal(b.heard('node-a')[0], { instance: 'node-a', txt: { node: 'node-a', v: '1' }, port: 7001, from: h1.addr, goodbye: false });
    assert.equal(a.heard().filter((x) => x.instance !== 'node-b'), [], 'a never reports itself');
    const c = await a.counters();
    assert.ok(c.sent > 0 && c.received > 0 && c.announcements > 0, JSON.stringify(c));
    assert.is(c.malformed, 0);
  } finally {
    lab.cleanup();
  }
});

netns('a node started 3 s after the first: each learns of the other (announcement one way, start query the other)', async () => {
  const lab = await NetnsLab.create(2);
  try {
    const [h1, h2] = [lab.host(1), lab.host(2)];
    const early = await startPeer(lab, h1, 'early');
    await sleep(3000);
    assert.equal(early.heard(), [], 'nobody to hear yet');
    const late = await startPeer(lab, h2, 'late');
    const t0 = Date.now();
    await early.waitFor('announcement of late', (l) => l.announcement?.instance === 'late', 10_000);
    await late.waitFor('announcement of early', (l) => l.announcement?.instance === 'early', 10_000);
    assert.ok(Date.now() - t0 < 10_000);
    assert.is(late.heard('early')[0]!.from, h1.addr);
    assert.ok((await early.counters()).answered >= 1, 'early answered late\'s query');
  } finally {
    lab.cleanup();
  }
});

netns('stop() sends a goodbye the peer hears (goodbye: true), and the stopped node is gone', async () => {
  const lab = await NetnsLab.create(2);
  try {
    const [a, b] = await Promise.all([startPeer(lab, lab.host(1), 'stays'), startPeer(lab, lab.host(2), 'leaves')]);
    await a.waitFor('announcement of leaves', (l) => l.announcement?.instance === 'leaves' && !l.announcement.goodbye);
    const counters = await b.stop();
    assert.ok(counters.sent > 0);
    const bye = await a.waitFor('goodbye of leaves', (l) => l.announcement?.instance === 'leaves' && l.announcement.goodbye, 10_000);
    assert.equal(bye.announcement, { instance: 'leaves', txt: { node: 'leaves', v: '1' }, port: 7002, from: lab.host(2).addr, goodbye: true });
  } finally {
    lab.cleanup();
  }
});

netns('crafted packets: oversized TXT, bad keys, control characters, garbage, > 9000 bytes, a foreign source port, 40 instances — bounded, counted, no crash', async () => {
  const lab = await NetnsLab.create(2);
  try {
    const [h1, h2] = [lab.host(1), lab.host(2)];
    const rx = await startPeer(lab, h1, 'receiver');
    const r = await lab.exec(h2, [process.execPath, CRAFT, JSON.stringify({ address: h2.addr, service: SERVICE })], { timeoutMs: 20_000 });
    assert.is(r.code, 0, r.stderr);
    await rx.waitFor('the valid crafted instance', (l) => l.announcement?.instance === 'ok-craft');
    await rx.waitFor('the 40-instance packet', (l) => l.announcement?.instance.startsWith('many-') === true);
    await sleep(500);
    assert.equal(rx.heard('ok-craft'), [{ instance: 'ok-craft', txt: { a: '1' }, port: 7000, from: h2.addr, goodbye: false }], 'first of a repeated key, empty string skipped');
    const names = new Set(rx.heard().map((a) => a.instance));
    for (const bad of ['toomany', 'badkey', 'nonprint', 'Upper', 'big', 'wrongport']) assert.not.ok(names.has(bad), `${bad} was not reported`);
    assert.is(rx.heard().filter((a) => a.instance.startsWith('many-')).length, 32, 'at most 32 instances from one packet');
    const c = await rx.counters();
    assert.is(c.malformed, 6, `toomany, badkey, nonprint, Upper, garbage, big: ${JSON.stringify(c)}`);
    assert.ok(c.ignored >= 9, `wrongport and 8 instances past 32: ${JSON.stringify(c)}`);
    assert.is(rx.child.exitCode, null, 'still running');
  } finally {
    lab.cleanup();
  }
});

/** Starts `_mdns-listen.js` in `h` (joined on `address`); resolves once it listens; `heard`: the A records it heard in 6 s. */
async function listen(lab: NetnsLab, h: Host, address: string): Promise<{ heard: Promise<Record<string, string[]>> }> {
  const child = lab.spawn(h, [process.execPath, LISTEN, JSON.stringify({ address, ms: 6000 })]);
  const lines: Array<{ listening?: boolean; a?: Record<string, string[]> }> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(JSON.parse(l) as (typeof lines)[number]));
  const next = async (pred: (l: (typeof lines)[number]) => boolean, ms: number): Promise<(typeof lines)[number]> => {
    for (const until = Date.now() + ms; Date.now() < until; await sleep(50)) {
      const hit = lines.find(pred);
      if (hit) return hit;
    }
    throw new Error(`listener in ${h.ns}: nothing within ${ms} ms`);
  };
  await next((l) => l.listening === true, 10_000);
  const heard = next((l) => l.a !== undefined, 15_000).then((l) => l.a!);
  heard.catch(() => undefined); // awaited by the test; no unhandled rejection if the test ended first
  return { heard };
}

/** Puts host `b` on a segment of its own with host `a`: a veth pair pl1 (10.232.0.x/24); b's pl0 loses its address and goes down. */
async function secondSegment(a: Host, b: Host): Promise<void> {
  await mustRun(['ip', 'link', 'add', 'pl1', 'netns', a.ns, 'type', 'veth', 'peer', 'name', 'pl1', 'netns', b.ns]);
  await mustRun(['ip', '-n', b.ns, '-batch', '-'], { input: 'addr flush dev pl0\nlink set pl0 down\naddr add 10.232.0.3/24 dev pl1\nlink set pl1 up\n' });
  await mustRun(['ip', '-n', a.ns, '-batch', '-'], { input: 'addr add 10.232.0.1/24 dev pl1\nlink set pl1 up\n' });
  // The kernel reports the carrier (operstate UP) up to a second later; until then Node lists no address on pl1.
  const until = Date.now() + 10_000;
  for (const h of [a, b]) {
    while (!/state UP/.test(await mustRun(['ip', '-n', h.ns, '-o', 'link', 'show', 'pl1']))) {
      if (Date.now() > until) throw new Error(`pl1 in ${h.ns} did not come up`);
      await sleep(50);
    }
  }
}

netns('a node on two segments announces on both: a peer on each hears it, from its address on that segment', async () => {
  const lab = await NetnsLab.create(3);
  try {
    const [h1, h2, h3] = [lab.host(1), lab.host(2), lab.host(3)];
    await secondSegment(h1, h3);
    const [l2, l3] = await Promise.all([listen(lab, h2, h2.addr), listen(lab, h3, '10.232.0.3')]);
    const [two, p2, p3] = await Promise.all([startPeer(lab, h1, 'two-homed'), startPeer(lab, h2, 'seg-a'), startPeer(lab, h3, 'seg-b')]);
    assert.equal(two.lines[0]!.ready!.interfaces.sort(), ['pl0', 'pl1']);
    assert.equal(p3.lines[0]!.ready!.interfaces, ['pl1']);
    const onA = await p2.waitFor('two-homed on segment a', (l) => l.announcement?.instance === 'two-homed');
    const onB = await p3.waitFor('two-homed on segment b', (l) => l.announcement?.instance === 'two-homed');
    assert.is(onA.announcement!.from, h1.addr);
    assert.is(onB.announcement!.from, '10.232.0.1');
    await two.waitFor('seg-a', (l) => l.announcement?.instance === 'seg-a');
    const fromB = await two.waitFor('seg-b', (l) => l.announcement?.instance === 'seg-b');
    assert.is(fromB.announcement!.from, '10.232.0.3');
    await sleep(1500);
    assert.equal(p2.heard('seg-b'), [], 'the segments stay apart (no forwarding)');
    assert.equal(p3.heard('seg-a'), []);
    assert.is((await two.counters()).sendErrors, 0);
    assert.equal((await l2.heard)['two-homed.local'], [h1.addr], 'segment a is told the A record of segment a only');
    assert.equal((await l3.heard)['two-homed.local'], ['10.232.0.1'], 'segment b is told the A record of segment b only');
  } finally {
    lab.cleanup();
  }
});

netns('an interface that comes up later is joined and announced on within a rescan', async () => {
  const lab = await NetnsLab.create(3);
  try {
    const [h1, h3] = [lab.host(1), lab.host(3)];
    await mustRun(['ip', '-n', h3.ns, '-batch', '-'], { input: 'addr flush dev pl0\nlink set pl0 down\n' });
    const node = await startPeer(lab, h1, 'grows');
    await secondSegment(h1, h3);
    const p3 = await startPeer(lab, h3, 'seg-b');
    await p3.waitFor('grows on the new segment', (l) => l.announcement?.instance === 'grows', 10_000);
    await node.waitFor('seg-b', (l) => l.announcement?.instance === 'seg-b', 10_000);
  } finally {
    lab.cleanup();
  }
});

const avahi = (() => {
  if (why) return why;
  try {
    execFileSync('avahi-daemon', ['--version'], { stdio: 'ignore', timeout: 10_000 });
    return null;
  } catch {
    return 'avahi-daemon is not installed';
  }
})();
if (avahi && !why) console.log(`SKIP mdns avahi test: ${avahi}`);

(avahi ? test.skip : test)('next to avahi-daemon on 5353 (same namespace) Mdns still binds and still hears its peer', async () => {
  const lab = await NetnsLab.create(2);
  const dir = mkdtempSync(join(tmpdir(), 'pleaco-mdns-avahi-'));
  let daemon: ChildProcess | null = null;
  try {
    const [h1, h2] = [lab.host(1), lab.host(2)];
    const conf = join(dir, 'avahi-daemon.conf');
    writeFileSync(conf, '[server]\nuse-ipv4=yes\nuse-ipv6=no\nenable-dbus=no\nallow-interfaces=pl0\n[wide-area]\nenable-wide-area=no\n[publish]\npublish-hinfo=no\npublish-workstation=no\n');
    daemon = lab.spawn(h1, ['avahi-daemon', '-f', conf, '--no-drop-root', '--no-chroot', '--no-rlimits', '--no-proc-title'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    daemon.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    daemon.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const until = Date.now() + 15_000;
    while (!/:5353\b/.test((await lab.exec(h1, ['ss', '-Hlun'])).stdout)) {
      if (Date.now() > until || daemon.exitCode !== null) throw new Error(`avahi-daemon did not bind 5353: ${log}`);
      await sleep(100);
    }
    const [a, b] = await Promise.all([startPeer(lab, h1, 'beside-avahi'), startPeer(lab, h2, 'peer')]);
    await a.waitFor('peer', (l) => l.announcement?.instance === 'peer');
    await b.waitFor('beside-avahi', (l) => l.announcement?.instance === 'beside-avahi');
    assert.is(daemon.exitCode, null, `avahi-daemon still runs: ${log}`);
  } finally {
    // SIGTERM first: avahi removes its pid file (/run/avahi-daemon/pid, shared by all namespaces) on the way out.
    const d = daemon;
    if (d && d.exitCode === null) await new Promise((r) => (d.once('exit', r), d.kill('SIGTERM'), setTimeout(r, 5000)));
    lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

netns('no namespace of this run is left', () => {
  assert.equal(benchNamespaces(process.pid), []);
});

test.run();
