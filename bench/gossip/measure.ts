/**
 * One benchmark scenario for one GossipCluster on one NetnsLab, the same for Serf and pleaco:
 *  1. start an agent per host and wait until every node sees all nodes alive; besides the time from the first
 *     start, the time from the last agent being up (its API/RPC ready) to that point, which leaves out process
 *     start-up (50 Node.js agents on 2 cores take far longer to start than 50 serf agents);
 *  2. event dissemination: `rounds` user events from rotating origins; per event, the time from the origin
 *     accepting it to the last node delivering it (the figure is the median over rounds);
 *  3. false positives: drop `lossProbability` of the packets arriving on every host (iptables statistic
 *     match) for `lossWindowMs`, clear it, allow `graceMs` for suspicions already running, then count nodes
 *     marked failed (and suspicions started) although nothing died;
 *  4. failure detection: SIGKILL the last node, then the one before, ... (`kills` times); per kill, the time
 *     until every live node marked it failed (the figure is the median over kills);
 *  5. host loss: isolate the next highest nodes one after another (`isolations` times): all traffic in and out
 *     of the host dropped (NetnsLab.isolate: no RST, no ICMP) while its agent runs on; per isolation, the time
 *     until every other live node marked it failed (median over isolations). Then the isolated agent is
 *     SIGKILLed and counts as dead: its own marks of others never count, later waits leave it out.
 */
import type { FalsePositives, GossipCluster, NodeSpec } from './cluster.js';
import type { NetnsLab } from './netns.js';
import { nowMs, sleep } from './proc.js';

export interface ScenarioOptions {
  key: Buffer;
  workDir: string;
  eventRounds: number;
  /** Nodes killed one after another (the last ones), each detection measured separately. */
  kills: number;
  /** Nodes isolated one after another after the kills (the next highest ones), each measured separately. */
  isolations: number;
  lossProbability: number;
  lossWindowMs: number;
  graceMs: number;
  /** Bound for each wait (start, each event, detection). */
  timeoutMs: number;
  progress?: (line: string) => void;
}

/** What one scenario measured. Times in ms; null when not every node got there within the bound. */
export interface GossipFigures {
  label: string;
  n: number;
  /** From starting the first agent until every node saw all nodes alive. */
  joinMs: number;
  /** From the last agent being up (API/RPC ready) until every node saw all nodes alive; null if not known. */
  joinAfterLastMs: number | null;
  eventMs: number | null;
  eventRoundsMs: Array<number | null>;
  detectMs: number | null;
  detectRoundsMs: Array<number | null>;
  detectFirstMs: number | null;
  detectMissing: number;
  isolatedMs: number | null;
  isolatedRoundsMs: Array<number | null>;
  isolatedFirstMs: number | null;
  isolatedMissing: number;
  falsePositives: FalsePositives;
  lossDropped: number;
  lossWindowMs: number;
  lossProbability: number;
}

/** The middle value (the mean of the two middle ones for an even count, e.g. 2 isolations); null when empty. */
function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The median of rounds that all completed; null when one did not. */
const medianOfAll = (rounds: Array<number | null>): number | null => (rounds.some((x) => x === null) ? null : median(rounds as number[]));

/** Detection rounds of one kind (kills or isolations): when the last and the first node marked the victim, who never did. */
class Detections {
  readonly rounds: Array<number | null> = [];
  private readonly firsts: number[] = [];
  missing = 0;

  /** Records one round; returns its progress text. */
  add(d: { last: number | null; first: number | null; missing: number }): string {
    this.rounds.push(d.last);
    if (d.first !== null) this.firsts.push(d.first);
    this.missing += d.missing;
    return `first marked failed after ${fmt(d.first)} ms, all after ${fmt(d.last)} ms` + (d.missing ? ` (${d.missing} nodes never did)` : '');
  }

  median(): number | null {
    return medianOfAll(this.rounds);
  }

  firstMedian(): number | null {
    return median(this.firsts);
  }
}

/** Latest and earliest of the given times minus `t0`; `missing` counts nulls. */
export function spread(times: Array<number | null>, t0: number): { last: number | null; first: number | null; missing: number } {
  const got = times.filter((x): x is number => x !== null);
  const missing = times.length - got.length;
  if (!got.length) return { last: null, first: null, missing };
  return { last: missing ? null : Math.max(...got) - t0, first: Math.min(...got) - t0, missing };
}

/** Runs the scenario (see the file comment) and always stops the cluster. */
export async function runScenario(cluster: GossipCluster, lab: NetnsLab, opts: ScenarioOptions): Promise<GossipFigures> {
  const say = opts.progress ?? (() => undefined);
  const n = lab.hosts.length;
  const gone = opts.kills + opts.isolations;
  if (!(opts.kills >= 1 && opts.isolations >= 0 && gone <= n - 2)) {
    throw new Error(`need kills ≥ 1, isolations ≥ 0, kills + isolations ≤ ${n - 2} for ${n} nodes (got ${opts.kills} + ${opts.isolations})`);
  }
  const stay = n - gone;
  const nodes: NodeSpec[] = lab.hosts.map((h) => ({ host: h, name: `n${h.index}` }));
  try {
    const t = nowMs();
    const joined = await cluster.start(nodes, { lab, key: opts.key, workDir: opts.workDir, timeoutMs: opts.timeoutMs });
    const joinMs = joined.convergedAt - t;
    const joinAfterLastMs = joined.lastUpAt === null ? null : joined.convergedAt - joined.lastUpAt;
    say(`${cluster.label} n=${n}: all ${n} agents see each other after ${joinMs.toFixed(0)} ms (${fmt(joinAfterLastMs)} ms after the last agent was up)`);
    await sleep(2_000);

    const eventRoundsMs: Array<number | null> = [];
    for (let r = 0; r < opts.eventRounds; r++) {
      const name = `bench-${r}-${Math.random().toString(36).slice(2, 8)}`;
      const from = (r * Math.max(1, Math.floor(stay / opts.eventRounds))) % stay; // spread origins over nodes that stay
      const t0 = await cluster.sendEvent(from, name);
      const s = spread(await cluster.eventSeenAt(name, opts.timeoutMs), t0);
      eventRoundsMs.push(s.last);
      say(`${cluster.label} n=${n}: event ${r + 1} from node ${from}: last node after ${fmt(s.last)} ms` + (s.missing ? ` (${s.missing} nodes missed it)` : ''));
      await sleep(1_000);
    }

    const since = nowMs();
    await lab.setLoss(lab.hosts, opts.lossProbability);
    let lossDropped = 0;
    try {
      await sleep(opts.lossWindowMs);
      for (const h of lab.hosts) lossDropped += (await lab.dropped(h)).loss;
    } finally {
      await lab.clearLoss();
    }
    await sleep(opts.graceMs);
    const falsePositives = await cluster.falsePositives(since, []);
    say(`${cluster.label} n=${n}: ${opts.lossProbability * 100}% loss for ${opts.lossWindowMs / 1000} s: ${lossDropped} packets dropped, ${falsePositives.failed} false failures, ${falsePositives.suspect} suspicions`);
    if (!(await cluster.waitConverged([], opts.timeoutMs))) say(`${cluster.label} n=${n}: not converged again after the loss window`);
    await sleep(2_000);

    const kills = new Detections();
    const dead: number[] = [];
    for (let k = 0; k < opts.kills; k++) {
      const victim = n - 1 - k;
      const killedAt = await cluster.kill(victim);
      dead.push(victim);
      const seen = await cluster.failedSeenAt(victim, opts.timeoutMs);
      say(`${cluster.label} n=${n}: node ${victim} killed; ${kills.add(spread(seen.filter((_, i) => !dead.includes(i)), killedAt))}`);
      await sleep(1_000);
    }

    const isolations = new Detections();
    for (let k = 0; k < opts.isolations; k++) {
      const victim = n - 1 - opts.kills - k;
      const host = nodes[victim]!.host;
      await lab.isolate(host);
      const isolatedAt = nowMs(); // the DROP rules are in place from here on
      const seen = await cluster.failedSeenAt(victim, opts.timeoutMs, isolatedAt); // null for the victim itself
      const detected = isolations.add(spread(seen.filter((_, i) => i !== victim && !dead.includes(i)), isolatedAt));
      const ran = cluster.isRunning(victim);
      const dropped = (await lab.dropped(host)).isolation;
      await cluster.kill(victim); // also when it exited: the cluster then counts it dead too
      dead.push(victim);
      say(`${cluster.label} n=${n}: node ${victim} isolated; ${detected}; ${dropped} packets dropped` + (ran ? ', then killed' : ', its agent had exited meanwhile'));
      await sleep(1_000);
    }
    if (opts.isolations && !(await cluster.waitConverged(dead, opts.timeoutMs))) say(`${cluster.label} n=${n}: the ${n - dead.length} live nodes no longer see each other alive`);
    return {
      label: cluster.label,
      n,
      joinMs,
      joinAfterLastMs,
      eventMs: medianOfAll(eventRoundsMs),
      eventRoundsMs,
      detectMs: kills.median(),
      detectRoundsMs: kills.rounds,
      detectFirstMs: kills.firstMedian(),
      detectMissing: kills.missing,
      isolatedMs: isolations.median(),
      isolatedRoundsMs: isolations.rounds,
      isolatedFirstMs: isolations.firstMedian(),
      isolatedMissing: isolations.missing,
      falsePositives,
      lossDropped,
      lossWindowMs: opts.lossWindowMs,
      lossProbability: opts.lossProbability,
    };
  } finally {
    try {
      await cluster.stop();
    } finally {
      await lab.clearIsolation(); // the next cluster runs on the same lab
    }
  }
}

function fmt(x: number | null): string {
  return x === null ? 'n/a' : x.toFixed(0);
}
