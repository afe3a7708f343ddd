/**
 * The namespace lab and the partition harness (bench/gossip/netns.ts, partition.ts) with real UDP: a node dgram
 * echo server runs in every namespace (via `ip netns exec`), probes are sent from inside the namespaces.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NetnsLab, benchNamespaces, type Host } from '../../bench/gossip/netns.js';
import { heal, partition, splitHosts, withPartition } from '../../bench/gossip/partition.js';
import { mapLimit } from '../../bench/gossip/proc.js';

const PORT = 9999;
const ECHO = `const d=require('node:dgram');const s=d.createSocket('udp4');
s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(${PORT},process.argv[1],()=>console.log('ready'));`;
// argv: targets (JSON list of addresses), datagrams per target, gap ms. Prints {address: distinct replies}.
const PROBE = `const d=require('node:dgram');const [targets,count,gap]=[JSON.parse(process.argv[1]),+process.argv[2],+process.argv[3]];
const s=d.createSocket('udp4');const got={};for(const a of targets)got[a]=new Set();
s.on('message',(m,r)=>got[r.address]&&got[r.address].add(String(m)));
s.bind(0,()=>{let k=0;const t=setInterval(()=>{for(const a of targets)s.send(String(k),${PORT},a);if(++k>=count)clearInterval(t)},gap);
setTimeout(()=>{const o={};for(const a of targets)o[a]=got[a].size;console.log(JSON.stringify(o));process.exit(0)},count*gap+700)});`;

async function startEcho(lab: NetnsLab, h: Host): Promise<ChildProcess> {
  const child = lab.spawn(h, [process.execPath, '-e', ECHO, h.addr]);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`echo in ${h.ns} did not start`)), 10_000);
    child.stdout!.once('data', () => (clearTimeout(timer), resolve()));
    child.once('exit', (c) => (clearTimeout(timer), reject(new Error(`echo in ${h.ns} exited ${c}`))));
  });
  return child;
}

/** Replies per target address for `count` datagrams sent from inside `from`'s namespace. */
async function probe(lab: NetnsLab, from: Host, to: Host[], count = 3, gapMs = 50): Promise<Record<string, number>> {
  const r = await lab.exec(from, [process.execPath, '-e', PROBE, JSON.stringify(to.map((h) => h.addr)), String(count), String(gapMs)], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`probe from ${from.ns} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, number>;
}

/** The addresses `from` got at least one echo from. */
async function reachable(lab: NetnsLab, from: Host, to: Host[]): Promise<string[]> {
  const replies = await probe(lab, from, to);
  return Object.keys(replies).filter((a) => replies[a]! > 0).sort();
}

const addrs = (hs: Host[]): string[] => hs.map((h) => h.addr).sort();
const rootLinks = (): string => execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
/** True once the child has exited (waits at most 5 s for the exit to be reaped). */
const exited = (c: ChildProcess): Promise<boolean> =>
  c.exitCode !== null || c.signalCode !== null
    ? Promise.resolve(true)
    : new Promise((r) => {
        const timer = setTimeout(() => r(false), 5_000);
        c.once('exit', () => (clearTimeout(timer), r(true)));
      });

test('UDP crosses before a 3/2 split, is dropped across it, crosses again after heal; cleanup leaves nothing', async () => {
  const lab = await NetnsLab.create(5);
  const echoes: ChildProcess[] = [];
  try {
    const me = `pleaco-bench-${process.pid}-`;
    assert.equal(benchNamespaces(process.pid).sort(), [1, 2, 3, 4, 5, 'br'].map((x) => `${me}${x}`).sort());
    for (const h of lab.hosts) echoes.push(await startEcho(lab, h));
    for (const h of lab.hosts) assert.equal(await reachable(lab, h, lab.hosts), addrs(lab.hosts), `before: from ${h.addr}`);

    const [a, b] = splitHosts(lab.hosts, [3, 2]) as [Host[], Host[]];
    await withPartition(lab, [a, b], 0, async () => {
      for (const h of a) assert.equal(await reachable(lab, h, lab.hosts), addrs(a), `during: from ${h.addr}`);
      for (const h of b) assert.equal(await reachable(lab, h, lab.hosts), addrs(b), `during: from ${h.addr}`);
      assert.ok((await lab.dropped(lab.host(1))).partition > 0, 'the partition rules counted dropped packets');
    });

    for (const h of lab.hosts) assert.equal(await reachable(lab, h, lab.hosts), addrs(lab.hosts), `after heal: from ${h.addr}`);
  } finally {
    lab.cleanup();
  }
  assert.equal(benchNamespaces(process.pid), [], 'no namespace left');
  assert.not.match(rootLinks(), /pl-br0|plv\d|pl0/, 'no bridge or veth in the root namespace');
  for (const e of echoes) assert.ok(await exited(e), `echo ${e.pid} was stopped`);
});

test('60 hosts all reach each other (more neighbours than the kernel\'s shared ARP table takes dynamically)', async () => {
  const lab = await NetnsLab.create(60);
  try {
    await mapLimit(lab.hosts, 4, (h) => startEcho(lab, h));
    const unreachable = await mapLimit(lab.hosts, 4, async (h) => {
      const got = await reachable(lab, h, lab.hosts);
      return lab.hosts.filter((o) => !got.includes(o.addr)).map((o) => `${h.index}->${o.index}`);
    });
    assert.equal(unreachable.flat(), []);
  } finally {
    lab.cleanup();
  }
});

test('partition() without a timed hold stays until heal(); a lone group member reaches only itself', async () => {
  const lab = await NetnsLab.create(3);
  try {
    for (const h of lab.hosts) await startEcho(lab, h);
    const [solo, rest] = splitHosts(lab.hosts, [1, 2]) as [Host[], Host[]];
    await partition(lab, [solo, rest]);
    assert.equal(await reachable(lab, solo[0]!, lab.hosts), addrs(solo));
    assert.equal(await reachable(lab, rest[0]!, lab.hosts), addrs(rest));
    await heal(lab);
    assert.equal(await reachable(lab, solo[0]!, lab.hosts), addrs(lab.hosts));
  } finally {
    lab.cleanup();
  }
});

test('random loss (iptables statistic match): about half of 400 datagrams are lost at p=0.5, none without the rule', async () => {
  const lab = await NetnsLab.create(2);
  try {
    const [h1, h2] = [lab.host(1), lab.host(2)];
    await startEcho(lab, h2);
    const clean = await probe(lab, h1, [h2], 400, 2);
    assert.is(clean[h2.addr], 400, 'no loss before the rule');
    await lab.setLoss([h2], 0.5);
    const lossy = (await probe(lab, h1, [h2], 400, 2))[h2.addr]!;
    // Binomial(400, 0.5): the bounds are > 5 standard deviations away.
    assert.ok(lossy > 140 && lossy < 260, `expected ~200 replies, got ${lossy}`);
    assert.ok((await lab.dropped(h2)).loss >= 400 - lossy, 'the loss rule counted the drops');
    await lab.clearLoss();
    assert.is((await probe(lab, h1, [h2], 400, 2))[h2.addr], 400, 'no loss after clearLoss');
  } finally {
    lab.cleanup();
  }
});

// argv: address, port. Prints how a TCP connect ended: 'connected', an error code, or 'timeout' after 1.5 s.
const CONNECT = `const s=require('node:net').connect(+process.argv[2],process.argv[1]);
const done=(r)=>{console.log(r);process.exit(0)};s.on('connect',()=>done('connected'));s.on('error',(e)=>done(e.code));setTimeout(()=>done('timeout'),1500);`;

test('isolate(): a host that loses its network is silent both ways (no RST, no echo) while its processes run; clearIsolation() restores it', async () => {
  const lab = await NetnsLab.create(3);
  try {
    const [h1, h2, h3] = [lab.host(1), lab.host(2), lab.host(3)];
    await startEcho(lab, h1);
    await startEcho(lab, h2);
    const echo = await startEcho(lab, h3);
    const connect = async () => (await lab.exec(h1, [process.execPath, '-e', CONNECT, h3.addr, String(PORT + 1)], { timeoutMs: 10_000 })).stdout.trim();
    assert.equal(await reachable(lab, h1, [h2, h3]), addrs([h2, h3]), 'before');
    assert.is(await connect(), 'ECONNREFUSED', 'before: a closed port is refused at once');

    await lab.isolate(h3);
    assert.equal(await reachable(lab, h1, [h2, h3]), [h2.addr], 'h3 answers nothing');
    assert.equal(await reachable(lab, h2, [h1, h3]), [h1.addr], 'the others still reach each other');
    assert.is(await connect(), 'timeout', 'no RST from an isolated host: a connect hangs as to a host that lost power');
    assert.is(echo.exitCode, null, 'the isolated host\'s process runs on');
    assert.ok((await lab.dropped(h3)).isolation > 0, 'the isolation chain counted drops');

    await lab.clearIsolation();
    assert.equal(await reachable(lab, h1, [h2, h3]), addrs([h2, h3]), 'after clearIsolation');
  } finally {
    lab.cleanup();
  }
});

test('create() removes the namespaces and processes of a crashed run, not those of a live one', async () => {
  const gone = spawn('true');
  await exited(gone); // a pid that no longer runs: the "crashed" owner
  const crashed = `pleaco-bench-${gone.pid}-7`;
  const owner = spawn('sleep', ['60'], { stdio: 'ignore' }); // a live "other run"
  const live = `pleaco-bench-${owner.pid}-1`;
  execFileSync('ip', ['netns', 'add', crashed]);
  execFileSync('ip', ['netns', 'add', live]);
  const orphan = spawn('ip', ['netns', 'exec', crashed, 'sleep', '60'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 200));
  const lab = await NetnsLab.create(1);
  try {
    assert.not.ok(benchNamespaces().includes(crashed), 'the crashed run\'s namespace is gone');
    assert.ok(await exited(orphan), 'the process left inside it was killed');
    assert.ok(benchNamespaces().includes(live), 'a live run\'s namespace stays');
    assert.equal(benchNamespaces(process.pid).sort(), lab.namespaces().sort());
  } finally {
    lab.cleanup();
    execFileSync('ip', ['netns', 'del', live]);
    owner.kill('SIGKILL');
  }
  assert.equal(benchNamespaces(process.pid), []);
});

test('SIGINT while a lab is up removes its namespaces before the process exits', async () => {
  const netnsModule = new URL('../../bench/gossip/netns.js', import.meta.url).pathname;
  const code = `const { NetnsLab } = await import(${JSON.stringify(netnsModule)}); await NetnsLab.create(2); console.log('up'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('lab child did not come up')), 20_000);
    child.stdout.once('data', () => (clearTimeout(timer), resolve()));
  });
  assert.is(benchNamespaces(child.pid).length, 3);
  child.kill('SIGINT');
  const exit = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  assert.is(exit, 130);
  assert.equal(benchNamespaces(child.pid), []);
});

test.run();
