/**
 * Simulator scenarios, shared by `make sim` (1,000 nodes) and test/cluster/sim.test.ts (a reduced
 * run). One cluster boots by real joins, then the scenarios run one after another on it, each with a
 * simulated-time limit (a phase that does not finish reports null: "not converged"):
 * steady state, one crash, 10% loss with one crash, a partition that heals.
 */
import { DEFAULT_SWIM_CONFIG, pushPullScale, seededRandom, randomInt, type SwimConfig } from '../../src/cluster/index.js';
import { FakeNetwork, type Host } from './network.js';
import { ViewTracker } from './tracker.js';

export interface SimOptions {
  nodes: number;
  seed: number;
  wire?: 'json' | 'object';
  swim?: Partial<SwimConfig>;
  /** Joins are spread over this many ms. */
  joinSpreadMs?: number;
}

export interface Timing {
  /** Simulated seconds, or null when the limit passed first. */
  seconds: number | null;
  /** The same in probe intervals. */
  rounds: number | null;
}

export interface ScenarioResult {
  name: string;
  dissemination: Timing;
  /** Until every up node marks the crashed node dead (partition: the majority marks the minority). */
  detection?: Timing;
  /** Partition only: from heal until every up node sees every up node alive. */
  heal?: Timing;
  /** Partition only: until every minority node marks the whole majority dead. */
  minorityDetection?: Timing;
  /** Partition only: live, reachable nodes marked suspect/dead after the heal, before their refutation arrived. */
  postHeal?: { fpSuspect: number; fpDead: number; fpMarks: number };
  fpSuspect: number;
  fpDead: number;
  fpMarks: number;
  bytesPerNodePerSec: number;
  simSeconds: number;
}

export class SimCluster {
  readonly net: FakeNetwork;
  readonly tracker: ViewTracker;
  readonly random: () => number;
  readonly probeMs: number;
  private keySeq = 0;

  constructor(readonly opts: SimOptions) {
    this.random = seededRandom(opts.seed ^ 0x5eed);
    this.probeMs = opts.swim?.probeIntervalMs ?? DEFAULT_SWIM_CONFIG.probeIntervalMs;
    let tracker: ViewTracker | undefined;
    this.net = new FakeNetwork({ seed: opts.seed, wire: opts.wire, swim: opts.swim, onOutput: (h, out, now) => tracker!.observe(h, out, now) });
    this.tracker = tracker = new ViewTracker(this.net);
  }

  up(): Host[] {
    return this.net.hosts.filter((h) => h.up);
  }

  pick(from: Host[] = this.up()): Host {
    return from[randomInt(this.random, from.length)]!;
  }

  timing(ms: number | null): Timing {
    return ms === null ? { seconds: null, rounds: null } : { seconds: ms / 1000, rounds: ms / this.probeMs };
  }

  /** Boots the cluster by joins (each through one random earlier node); returns the time until all see all alive. */
  boot(limitMs = 300_000): Timing {
    const n = this.opts.nodes;
    const spread = this.opts.joinSpreadMs ?? n * 10;
    for (let i = 0; i < n; i++) this.net.add(`n${i}`, `127.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}:7946`);
    const hosts = this.net.hosts;
    this.net.start(hosts[0]!);
    for (let i = 1; i < n; i++) {
      this.net.run(Math.floor((i * spread) / n));
      this.net.start(hosts[i]!, [hosts[randomInt(this.random, i)]!.addr]);
    }
    const ok = this.net.run(limitMs, () => this.tracker.allSeeAllAlive(), 250);
    return this.timing(ok ? this.net.now : null);
  }

  /** Runs until no node has queued broadcasts left (bounded); the next scenario starts from quiet. */
  settle(limitMs = 120_000): boolean {
    const end = this.net.now + limitMs;
    return this.net.run(end, () => this.up().every((h) => h.node.stats().queue_depth === 0), 500);
  }

  /** Broadcasts one update from a random up node; returns the time to reach every up node, or null. */
  disseminate(limitMs: number): number | null {
    const key = `sim/update/${++this.keySeq}`;
    const t0 = this.net.now;
    this.net.call(this.pick(), (n) => n.broadcast(key, { n: this.keySeq, at: t0 }));
    const ok = this.net.run(t0 + limitMs, () => this.tracker.fullyDeliveredAt(key) !== undefined, 50);
    return ok ? this.tracker.fullyDeliveredAt(key)! - t0 : null;
  }

  /** Crashes one random up node; returns the time until every up node marks it dead, or null. */
  crashAndDetect(limitMs: number): number | null {
    const victim = this.pick();
    this.tracker.watch([victim.id]);
    this.net.crash(victim);
    const t0 = this.net.now;
    const ok = this.net.run(t0 + limitMs, () => this.tracker.countNotSeeing(victim.id, 'dead') === 0, 100);
    return ok ? this.tracker.lastDeadMark(this.up(), [victim]) - t0 : null;
  }

  /** Bytes sent per up node per second while `f` runs. */
  measure<T>(f: () => T): { value: T; bytesPerNodePerSec: number; ms: number } {
    const bytes0 = this.net.hosts.reduce((s, h) => s + h.bytesSent, 0);
    const t0 = this.net.now;
    const value = f();
    const ms = this.net.now - t0;
    const bytes = this.net.hosts.reduce((s, h) => s + h.bytesSent, 0) - bytes0;
    return { value, bytesPerNodePerSec: ms > 0 ? bytes / this.up().length / (ms / 1000) : 0, ms };
  }

  result(name: string, m: { bytesPerNodePerSec: number; ms: number }, parts: Partial<ScenarioResult> & { dissemination: Timing }): ScenarioResult {
    const t = this.tracker;
    return { name, fpSuspect: t.fpSuspect.size, fpDead: t.fpDead.size, fpMarks: t.fpMarks, bytesPerNodePerSec: m.bytesPerNodePerSec, simSeconds: m.ms / 1000, ...parts };
  }
}

/**
 * Steady state: one broadcast, then a quiet window of `windowMs`, by default one push-pull period
 * (so the bytes include each node's full-state exchange).
 */
export function steadyState(c: SimCluster, windowMs = pushPullScale(c.opts.swim?.pushPullIntervalMs ?? DEFAULT_SWIM_CONFIG.pushPullIntervalMs, c.opts.nodes)): ScenarioResult {
  c.tracker.resetFalsePositives();
  let dis: number | null = null;
  const m = c.measure(() => {
    dis = c.disseminate(60_000);
    c.net.run(c.net.now + windowMs);
  });
  return c.result('steady state', m, { dissemination: c.timing(dis) });
}

/** One node crashes while an update spreads. */
export function oneCrash(c: SimCluster, name = '1 crash'): ScenarioResult {
  c.tracker.resetFalsePositives();
  let dis: number | null = null;
  let det: number | null = null;
  const m = c.measure(() => {
    dis = c.disseminate(60_000);
    det = c.crashAndDetect(180_000);
  });
  return c.result(name, m, { dissemination: c.timing(dis), detection: c.timing(det) });
}

/** Packet loss `loss` on every UDP packet, an update, and a crash; loss is removed afterwards. */
export function lossWithCrash(c: SimCluster, loss = 0.1, warmupMs = 20_000): ScenarioResult {
  c.net.loss = loss;
  c.net.run(c.net.now + warmupMs);
  const r = oneCrash(c, `${Math.round(loss * 100)}% loss + 1 crash`);
  c.net.loss = 0;
  return r;
}

/**
 * A minority of `fraction` of the up nodes is cut off for `durationMs`, then the partition heals.
 * Detection: until every majority node marks the whole minority dead (and, reported apart, the
 * minority the majority; Lifeguard slows that side on purpose: its probes' relays are mostly
 * unreachable, so its own health score rises). False positives count marks within one side during
 * the partition; the marks the heal itself causes (the other side's stale "dead" gossip and
 * memberlist's merge of a peer's "dead" as a suspicion, until each node's refutation arrives) are
 * counted apart.
 */
export function partitionHeals(c: SimCluster, fraction = 0.1, durationMs = 60_000): ScenarioResult {
  const shuffled = [...c.up()];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = randomInt(c.random, i + 1);
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  const cut = Math.max(1, Math.floor(shuffled.length * fraction));
  const minority = shuffled.slice(0, cut);
  const majority = shuffled.slice(cut);
  const t = c.tracker;
  t.resetFalsePositives();
  let det: number | null = null;
  let minorityDet: number | null = null;
  let heal: number | null = null;
  let dis: number | null = null;
  let during = { fpSuspect: 0, fpDead: 0, fpMarks: 0 };
  const m = c.measure(() => {
    const t0 = c.net.now;
    t.watch(shuffled.map((h) => h.id));
    c.net.partition([minority.map((h) => h.addr), majority.map((h) => h.addr)]);
    const sees = (obs: Host[], sub: Host[]) => obs.every((x) => sub.every((y) => t.viewOf(x.id, y.id) === 'dead'));
    const done = () => {
      if (det === null && sees(majority, minority)) det = t.lastDeadMark(majority, minority) - t0;
      if (minorityDet === null && sees(minority, majority)) minorityDet = t.lastDeadMark(minority, majority) - t0;
      return det !== null && minorityDet !== null;
    };
    c.net.run(t0 + durationMs, done, 1000);
    c.net.run(t0 + durationMs);
    during = { fpSuspect: t.fpSuspect.size, fpDead: t.fpDead.size, fpMarks: t.fpMarks };
    t.resetFalsePositives();
    c.net.heal();
    const t1 = c.net.now;
    if (c.net.run(t1 + 300_000, () => t.allSeeAllAlive(), 250)) heal = c.net.now - t1;
    dis = c.disseminate(60_000);
  });
  const r = c.result(`partition ${minority.length}/${majority.length} ${durationMs / 1000} s, heal`, m, {
    dissemination: c.timing(dis), detection: c.timing(det), minorityDetection: c.timing(minorityDet), heal: c.timing(heal),
    postHeal: { fpSuspect: t.fpSuspect.size, fpDead: t.fpDead.size, fpMarks: t.fpMarks },
  });
  return { ...r, ...during };
}
