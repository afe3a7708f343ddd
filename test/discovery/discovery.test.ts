/**
 * The discovery loop (src/discovery/discovery.ts) on fakes — a fake membership that records joins and an mDNS fake
 * that replays announcements — because what is checked here is its logic: who is joined, when again, what is counted.
 * The real parts (mDNS between namespaces, seeds between processes, node containers) are in mdns.test.ts,
 * seeds.test.ts and test/multinode/discovery.test.ts.
 */
import { EventEmitter } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateKey, Keyring } from '../../src/cluster/index.js';
import { announcementTxt, Discovery, type HeardAnnouncement, type MdnsPort } from '../../src/discovery/index.js';
import { createLogger } from '../../src/log.js';
import { parseSeed, type Seed } from '../../src/model/index.js';
import { PleacoError } from '../../src/errors.js';

const log = createLogger({ proc: 'test' });
const ring = new Keyring(generateKey());

/** A fake membership: joining an address in `up` makes it a live member; the others never answer. */
class FakeMembership {
  readonly addr = '10.0.0.1:7946';
  readonly joins: string[][] = [];
  readonly up = new Set<string>();
  private live: { id: string; addr: string; state: string }[] = [{ id: 'self', addr: this.addr, state: 'alive' }];
  members() {
    return this.live;
  }
  join(addrs: string[]): void {
    this.joins.push(addrs);
    for (const a of addrs) if (this.up.has(a) && !this.live.some((m) => m.addr === a)) this.live.push({ id: `n-${a}`, addr: a, state: 'alive' });
  }
  kill(addr: string): void {
    this.live = this.live.map((m) => (m.addr === addr ? { ...m, state: 'dead' } : m));
  }
  triesOf(addr: string): number {
    return this.joins.filter((j) => j.includes(addr)).length;
  }
}

/** An mDNS fake: tests emit what "was heard". */
class FakeMdns extends EventEmitter implements MdnsPort {
  queries = 0;
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  query(): void {
    this.queries++;
  }
  interfaces(): string[] {
    return ['eth0'];
  }
  counters(): Record<string, number> {
    return {};
  }
}

function make(o: { seeds?: string[]; mdns?: FakeMdns; resolve?: (h: string) => Promise<string[]>; joined?: string[] } = {}) {
  const membership = new FakeMembership();
  const saved: string[][] = [];
  const d = new Discovery({
    membership, nodeId: 'self', clusterId: ring.clusterId(), version: '0.1.0',
    seeds: (o.seeds ?? []).map((s) => parseSeed(s)).filter((s): s is Seed => !!s),
    joined: { load: () => o.joined ?? [], save: (s) => void saved.push(s) },
    resolve: o.resolve ?? (async (h) => { throw new Error(`no such host ${h}`); }),
    signer: ring, mdns: o.mdns ?? null, log, retryFirstMs: 40, retryMaxMs: 160, random: () => 0.5,
  });
  return { d, membership, saved };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const peer = (node: string, addr: string, goodbye = false, signer = ring, cluster = ring.clusterId()): HeardAnnouncement =>
  ({ instance: node, txt: announcementTxt({ cluster, node, addr, version: '0.1.0' }, signer), port: 7946, from: addr.split(':')[0]!, goodbye });

test('a seed that answers is joined once and not again while it is a member', async () => {
  const { d, membership } = make({ seeds: ['10.0.0.2'] });
  membership.up.add('10.0.0.2:7946');
  await d.start();
  await sleep(300);
  await d.stop();
  assert.is(membership.triesOf('10.0.0.2:7946'), 1);
  assert.equal(d.status().candidates.map((c) => [c.addr, c.member]), [['10.0.0.2:7946', true]]);
});

test('a seed that is down is asked again with backoff (40, 80, 160, 160 ms ...), not in a tight loop', async () => {
  const { d, membership } = make({ seeds: ['10.0.0.3:7000'] });
  await d.start();
  await sleep(700);
  const tries = membership.triesOf('10.0.0.3:7000');
  // 0, 40, 120, 280, 440, 600 ms: 6 tries in 700 ms (doubling, capped at 160); a loop without backoff would make hundreds.
  assert.ok(tries >= 4 && tries <= 8, `tries ${tries}`);
  membership.up.add('10.0.0.3:7000');
  await sleep(400);
  const after = membership.triesOf('10.0.0.3:7000');
  await sleep(300);
  await d.stop();
  assert.is(membership.triesOf('10.0.0.3:7000'), after, 'joined: no more tries');
});

test('a DNS seed: every address it resolves to is joined; resolution failing is reported and retried', async () => {
  let calls = 0;
  const { d, membership } = make({
    seeds: ['seeds.example.com'],
    resolve: async (h) => {
      calls++;
      if (calls === 1) throw new Error('SERVFAIL');
      assert.is(h, 'seeds.example.com');
      return ['10.0.0.4', '10.0.0.5', '10.0.0.6'];
    },
  });
  for (const a of ['10.0.0.4:7946', '10.0.0.5:7946', '10.0.0.6:7946']) membership.up.add(a);
  await d.start();
  assert.match(d.status().seeds[0]!.error ?? '', /cannot resolve seeds.example.com: SERVFAIL/);
  await sleep(300);
  await d.stop();
  const s = d.status();
  assert.equal(s.seeds[0]!.addrs, ['10.0.0.4:7946', '10.0.0.5:7946', '10.0.0.6:7946']);
  assert.is(s.seeds[0]!.error, null);
  assert.equal(s.candidates.filter((c) => c.member).length, 3);
});

test('mDNS: a peer of this cluster is joined; foreign nodes are counted, never joined; goodbye forgets', async () => {
  const mdns = new FakeMdns();
  const { d, membership } = make({ mdns });
  membership.up.add('10.0.0.7:7946');
  await d.start();
  mdns.emit('announcement', peer('node-7', '10.0.0.7:7946'));
  const other = new Keyring(generateKey());
  mdns.emit('announcement', peer('node-x', '10.0.0.8:7946', false, other, other.clusterId()));
  mdns.emit('announcement', peer('node-x', '10.0.0.8:7946', false, other, other.clusterId()));
  mdns.emit('announcement', peer('node-y', '10.0.0.9:7946', false, other, ring.clusterId()));
  await sleep(200);
  assert.equal(membership.joins.flat().filter((a) => a !== '10.0.0.7:7946'), []);
  assert.is(membership.triesOf('10.0.0.7:7946'), 1);
  const f = d.status().foreign;
  assert.equal([f.total, f.otherCluster, f.wrongKey], [3, 2, 1]);
  assert.equal(f.senders.map((s) => [s.node, s.reason, s.count]).sort(), [['node-x', 'other-cluster', 2], ['node-y', 'wrong-key', 1]]);
  mdns.emit('announcement', peer('node-7', '10.0.0.7:7946', true));
  await d.stop();
  assert.equal(d.status().candidates, []);
});

test('a member that dies is asked to join again (the merge after a partition or a restart)', async () => {
  const { d, membership } = make({ seeds: ['10.0.0.2'] });
  membership.up.add('10.0.0.2:7946');
  await d.start();
  await sleep(100);
  membership.kill('10.0.0.2:7946');
  d.kick();
  await sleep(100);
  await d.stop();
  assert.ok(membership.triesOf('10.0.0.2:7946') >= 2);
});

test('pleaco join: seeds are validated, kept (saved) and tried at once; a known one is retried at once', async () => {
  const mdns = new FakeMdns();
  const { d, membership, saved } = make({ mdns, joined: ['10.0.0.20:7946'] });
  await d.start();
  assert.equal(d.status().seeds.map((s) => [s.seed, s.source]), [['10.0.0.20:7946', 'join']]);
  assert.throws(() => d.addSeeds(['not a seed!']), (e: unknown) => e instanceof PleacoError && e.code === 'bad_request');
  d.addSeeds(['10.0.0.21', '[fd00::5]:8000']);
  assert.equal(saved.at(-1), ['10.0.0.20:7946', '10.0.0.21:7946', '[fd00::5]:8000']);
  assert.is(mdns.queries, 1, 'a join also asks mDNS again');
  await sleep(50);
  await d.stop();
  assert.ok(membership.triesOf('10.0.0.21:7946') >= 1);
});

test('the first round: at once with nothing to find; until the seeds answer; at most maxMs for a seed that is down', async () => {
  const alone = make();
  await alone.d.start();
  let t = Date.now();
  await alone.d.firstRound(2000);
  assert.ok(Date.now() - t < 200, 'nothing to wait for');
  await alone.d.stop();
  const up = make({ seeds: ['10.0.0.2'] });
  up.membership.up.add('10.0.0.2:7946');
  await up.d.start();
  t = Date.now();
  await up.d.firstRound(2000);
  assert.ok(Date.now() - t < 500, 'the seed answered');
  await up.d.stop();
  const down = make({ seeds: ['10.0.0.3'] });
  await down.d.start();
  t = Date.now();
  await down.d.firstRound(400);
  assert.ok(Date.now() - t >= 390, 'a seed that is down: the whole bound');
  await down.d.stop();
});

test.run();
