/**
 * Discovery: how a node finds the rest of its cluster, and keeps looking. Three sources give addresses of cluster
 * members to join: the seeds (cluster file, PLEACO_SEEDS; a DNS name is resolved again every 30 s and may give
 * several addresses), the seeds added with `pleaco join` (kept in the state dir, so a restart still has them), and
 * mDNS announcements of this cluster's nodes (announce.ts judges them; foreign ones are counted, never joined).
 *
 * One Reconciler pass: every address that is not a live member is asked to join (a SWIM push-pull), then again with
 * backoff (0.5 s doubling to 30 s, with jitter) for as long as it is not a member. There is no leader and no "first"
 * node: a node with a key and nobody to reach runs as a one-node cluster, and when it later finds another node,
 * of a cluster that formed apart from it too, the two join; the replicated store merges their state (LWW).
 * Nodes started at the same moment end as one cluster because every node joins every address it hears of.
 */
import { PleacoError } from '../errors.js';
import type { Logger } from '../log.js';
import { Reconciler } from '../link/index.js';
import { parseSeed, type Seed } from '../model/index.js';
import { announcementTxt, judgeAnnouncement, type AnnounceSigner, type HeardAnnouncement } from './announce.js';

/** What discovery needs of the cluster member (ClusterNode). */
export interface Membership {
  readonly addr: string;
  members(): { id: string; addr: string; state: string }[];
  join(addrs: string[]): void;
}

/** What discovery needs of the mDNS adapter (mdns.ts `Mdns`). */
export interface MdnsPort {
  on(event: 'announcement', fn: (a: HeardAnnouncement) => void): unknown;
  start(): Promise<void>;
  stop(): Promise<void>;
  query(): void;
  interfaces(): string[];
  counters(): object;
}

/** The seeds added with `pleaco join`, kept across restarts. */
export interface SeedStore {
  load(): string[];
  save(seeds: string[]): void;
}

export type Resolve = (host: string) => Promise<string[]>;

export interface DiscoveryOptions {
  membership: Membership;
  nodeId: string;
  clusterId: string;
  version: string;
  seeds: Seed[];
  joined: SeedStore;
  resolve: Resolve;
  signer: AnnounceSigner;
  /** The mDNS adapter, built with `txt()` of this Discovery; null: mDNS off. */
  mdns: MdnsPort | null;
  log: Logger;
  retryFirstMs?: number;
  retryMaxMs?: number;
  now?: () => number;
  random?: () => number;
}

export interface SeedStatus {
  seed: string;
  source: 'config' | 'join';
  addrs: string[];
  error: string | null;
}

export interface CandidateStatus {
  addr: string;
  via: string[];
  member: boolean;
  tries: number;
  nextTryInMs: number | null;
}

export interface ForeignRecord {
  node: string;
  cluster: string;
  from: string;
  reason: 'other-cluster' | 'wrong-key';
  count: number;
  lastAt: number;
}

export interface DiscoveryStatus {
  clusterId: string;
  mdns: { enabled: boolean; interfaces: string[]; peersHeard: number; counters: object };
  seeds: SeedStatus[];
  candidates: CandidateStatus[];
  foreign: { total: number; otherCluster: number; wrongKey: number; malformed: number; senders: ForeignRecord[] };
}

interface Candidate {
  addr: string;
  via: Set<string>;
  tries: number;
  nextAt: number;
  member: boolean;
  heardAt: number;
}

interface SeedState {
  seed: Seed;
  source: 'config' | 'join';
  addrs: string[];
  error: string | null;
  resolveAt: number;
  failures: number;
}

const RESOLVE_EVERY_MS = 30_000;
const MDNS_FORGET_MS = 10 * 60_000;
const MAX_CANDIDATES = 256;
const MAX_ADDRS_PER_SEED = 16;
const MAX_FOREIGN_SENDERS = 32;
const MAX_JOINED = 64;

export class Discovery {
  private readonly seeds = new Map<string, SeedState>();
  private readonly candidates = new Map<string, Candidate>();
  private readonly foreign = new Map<string, ForeignRecord>();
  private readonly counts = { otherCluster: 0, wrongKey: 0, malformed: 0, peers: 0 };
  private readonly loop: Reconciler;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly o: DiscoveryOptions) {
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    for (const seed of o.seeds) this.addSeedState(seed, 'config');
    for (const text of o.joined.load()) {
      const seed = parseSeed(text);
      if (seed && !this.seeds.has(seed.text)) this.addSeedState(seed, 'join');
    }
    this.loop = new Reconciler({ pass: () => this.pass(), tickMs: 5000, debounceMs: 20, onError: (err) => o.log.warn('discovery pass failed', { error: err }), now: this.now });
    o.mdns?.on('announcement', (a) => this.heard(a));
  }

  /** The TXT strings this node announces over mDNS (signed; see announce.ts). */
  txt(): Record<string, string> {
    return announcementTxt({ cluster: this.o.clusterId, node: this.o.nodeId, addr: this.o.membership.addr, version: this.o.version }, this.o.signer);
  }

  async start(): Promise<void> {
    if (this.o.mdns) {
      try {
        await this.o.mdns.start();
      } catch (err) {
        this.o.log.warn('mDNS discovery is off: it could not start', { error: err });
        this.mdnsDown = true;
      }
    }
    await this.loop.start();
    this.o.log.info('discovery started', { cluster: this.o.clusterId, seeds: [...this.seeds.keys()], mdns: this.o.mdns && !this.mdnsDown ? this.o.mdns.interfaces() : 'off' });
  }

  private mdnsDown = false;

  async stop(): Promise<void> {
    await this.loop.stop();
    if (this.o.mdns && !this.mdnsDown) await this.o.mdns.stop().catch(() => undefined);
  }

  /**
   * Resolves once the first round of joins is through: every address found so far is a live member (and, with mDNS,
   * the peers had `quietMs` to answer the first query), or at `maxMs`. The agent waits for it before loading its
   * API, so a node answers with its cluster's state rather than an empty store, and joins before the CPU-heavy part of
   * its start (main/agent.ts).
   */
  async firstRound(maxMs = 2000, quietMs = 300): Promise<void> {
    const start = this.now();
    const deadline = start + maxMs;
    for (;;) {
      const now = this.now();
      const cands = [...this.candidates.values()].filter((c) => c.addr !== this.o.membership.addr);
      const live = new Set(this.o.membership.members().filter((m) => m.state === 'alive').map((m) => m.addr));
      const quiet = !this.o.mdns || this.mdnsDown || now - start >= quietMs;
      if ((quiet && cands.every((c) => live.has(c.addr))) || now >= deadline) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** A member joined, failed or left: look again now. */
  kick(): void {
    this.loop.kick();
  }

  /** `pleaco join ADDR...`: the seeds are kept (across restarts too) and tried now. Throws bad_request on a bad one. */
  addSeeds(raw: string[]): Seed[] {
    const seeds = raw.map((r) => {
      const s = parseSeed(r);
      if (!s) throw new PleacoError('bad_request', `${JSON.stringify(String(r).slice(0, 80))} is not an address like 10.0.0.5:7946, [fd00::5]:7946 or seeds.example.com[:port]`);
      return s;
    });
    const joined = [...this.seeds.values()].filter((s) => s.source === 'join');
    if (joined.length + seeds.length > MAX_JOINED) throw new PleacoError('bad_request', `at most ${MAX_JOINED} seeds can be added with join`);
    for (const seed of seeds) {
      const st = this.seeds.get(seed.text);
      if (st) {
        st.resolveAt = 0;
        for (const a of st.addrs) this.retryNow(a);
      } else this.addSeedState(seed, 'join');
    }
    this.o.joined.save([...this.seeds.values()].filter((s) => s.source === 'join').map((s) => s.seed.text));
    this.o.mdns?.query();
    this.loop.kick(0);
    return seeds;
  }

  status(): DiscoveryStatus {
    const now = this.now();
    return {
      clusterId: this.o.clusterId,
      mdns: { enabled: !!this.o.mdns && !this.mdnsDown, interfaces: this.o.mdns && !this.mdnsDown ? this.o.mdns.interfaces() : [], peersHeard: this.counts.peers, counters: this.o.mdns?.counters() ?? {} },
      seeds: [...this.seeds.values()].map((s) => ({ seed: s.seed.text, source: s.source, addrs: [...s.addrs], error: s.error })),
      candidates: [...this.candidates.values()].map((c) => ({ addr: c.addr, via: [...c.via], member: c.member, tries: c.tries, nextTryInMs: c.member ? null : Math.max(0, c.nextAt - now) })),
      foreign: {
        total: this.counts.otherCluster + this.counts.wrongKey, otherCluster: this.counts.otherCluster, wrongKey: this.counts.wrongKey, malformed: this.counts.malformed,
        senders: [...this.foreign.values()].sort((a, b) => b.lastAt - a.lastAt),
      },
    };
  }

  private addSeedState(seed: Seed, source: 'config' | 'join'): void {
    this.seeds.set(seed.text, { seed, source, addrs: seed.kind === 'ip' ? [seed.text] : [], error: null, resolveAt: 0, failures: 0 });
  }

  private heard(a: HeardAnnouncement): void {
    const v = judgeAnnouncement(a, { cluster: this.o.clusterId, node: this.o.nodeId }, this.o.signer);
    if (v.kind === 'self') return;
    if (v.kind === 'malformed') {
      this.counts.malformed++;
      return;
    }
    if (v.kind === 'foreign') {
      this.countForeign(v.reason, v.node, v.cluster, a.from);
      return;
    }
    this.counts.peers++;
    const c = this.candidates.get(v.addr);
    if (v.goodbye) {
      c?.via.delete('mdns');
      if (c && c.via.size === 0) this.candidates.delete(v.addr);
      return;
    }
    if (c) {
      c.heardAt = this.now();
      if (!c.via.has('mdns')) c.via.add('mdns');
      if (!c.member && c.tries > 0) this.retryNow(v.addr);
    } else {
      this.candidate(v.addr, 'mdns').heardAt = this.now();
      this.o.log.info('cluster node found by mDNS', { node: v.node, addr: v.addr, from: a.from });
    }
    if (!this.isMember(v.addr)) this.loop.kick();
  }

  private countForeign(reason: ForeignRecord['reason'], node: string, cluster: string, from: string): void {
    if (reason === 'other-cluster') this.counts.otherCluster++;
    else this.counts.wrongKey++;
    const key = `${node}\0${from}`;
    const r = this.foreign.get(key);
    if (r) {
      r.count++;
      r.lastAt = this.now();
      r.reason = reason;
      return;
    }
    if (this.foreign.size >= MAX_FOREIGN_SENDERS) {
      const oldest = [...this.foreign.entries()].sort((x, y) => x[1].lastAt - y[1].lastAt)[0];
      if (oldest) this.foreign.delete(oldest[0]);
    }
    this.foreign.set(key, { node, cluster, from, reason, count: 1, lastAt: this.now() });
    this.o.log.warn('foreign announcement ignored', { node, cluster, from, reason });
  }

  private candidate(addr: string, via: string): Candidate {
    let c = this.candidates.get(addr);
    if (!c) {
      if (this.candidates.size >= MAX_CANDIDATES) this.forgetOne();
      c = { addr, via: new Set(), tries: 0, nextAt: 0, member: false, heardAt: 0 };
      this.candidates.set(addr, c);
    }
    c.via.add(via);
    return c;
  }

  /** Drops the mDNS-only candidate heard of longest ago (seeds are never dropped). */
  private forgetOne(): void {
    const mdnsOnly = [...this.candidates.values()].filter((c) => c.via.size === 1 && c.via.has('mdns')).sort((a, b) => a.heardAt - b.heardAt);
    if (mdnsOnly[0]) this.candidates.delete(mdnsOnly[0].addr);
  }

  private retryNow(addr: string): void {
    const c = this.candidates.get(addr);
    if (c) {
      c.tries = 0;
      c.nextAt = 0;
    }
  }

  private isMember(addr: string): boolean {
    return this.o.membership.members().some((m) => m.addr === addr && m.state === 'alive');
  }

  private backoff(tries: number): number {
    const first = this.o.retryFirstMs ?? 500;
    const max = this.o.retryMaxMs ?? 30_000;
    const base = Math.min(max, first * 2 ** Math.max(0, tries - 1));
    return Math.round(base * (0.8 + 0.4 * this.random()));
  }

  private async resolveSeeds(now: number): Promise<void> {
    const due = [...this.seeds.values()].filter((s) => s.seed.kind === 'dns' && now >= s.resolveAt);
    await Promise.all(
      due.map(async (s) => {
        try {
          const ips = (await this.o.resolve(s.seed.host)).slice(0, MAX_ADDRS_PER_SEED);
          if (ips.length === 0) throw new PleacoError('unavailable', 'no address');
          s.addrs = ips.map((ip) => (ip.includes(':') ? `[${ip}]:${s.seed.port}` : `${ip}:${s.seed.port}`));
          s.error = null;
          s.failures = 0;
          s.resolveAt = now + RESOLVE_EVERY_MS;
        } catch (err) {
          s.failures++;
          s.error = `cannot resolve ${s.seed.host}: ${(err as Error).message}`;
          s.resolveAt = now + this.backoff(s.failures);
          this.o.log.info('seed not resolved', { seed: s.seed.text, error: s.error, retryInMs: s.resolveAt - now });
        }
      }),
    );
  }

  private async pass(): Promise<void> {
    await this.resolveSeeds(this.now());
    const now = this.now();
    const seedAddrs = new Map<string, string>();
    for (const s of this.seeds.values()) for (const a of s.addrs) seedAddrs.set(a, s.seed.text);
    for (const [addr, seed] of seedAddrs) this.candidate(addr, seed);
    for (const c of this.candidates.values()) {
      for (const v of [...c.via]) if (v !== 'mdns' && seedAddrs.get(c.addr) !== v) c.via.delete(v);
      if (c.via.has('mdns') && now - c.heardAt > MDNS_FORGET_MS && !c.member) c.via.delete('mdns');
      if (c.via.size === 0) this.candidates.delete(c.addr);
    }
    const live = new Set(this.o.membership.members().filter((m) => m.state === 'alive').map((m) => m.addr));
    const due: string[] = [];
    let wake = Infinity;
    for (const c of this.candidates.values()) {
      if (c.addr === this.o.membership.addr) continue;
      c.member = live.has(c.addr);
      if (c.member) {
        c.tries = 0;
        c.nextAt = 0;
        continue;
      }
      if (now >= c.nextAt) {
        due.push(c.addr);
        c.tries++;
        c.nextAt = now + this.backoff(c.tries);
      }
      wake = Math.min(wake, c.nextAt);
    }
    for (const s of this.seeds.values()) if (s.seed.kind === 'dns') wake = Math.min(wake, s.resolveAt);
    if (due.length > 0) {
      this.o.log[due.some((a) => (this.candidates.get(a)?.tries ?? 0) <= 1) ? 'info' : 'debug']('joining', { addrs: due });
      this.o.membership.join(due);
    }
    if (Number.isFinite(wake)) this.loop.wakeAt(wake);
  }
}
