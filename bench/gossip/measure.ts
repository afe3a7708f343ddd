/**
 * One benchmark scenario for one GossipCluster on one NetnsLab, the same for Serf and pleaco:
 *  1. start an agent per host and wait until every node sees all nodes alive;
 *  2. event dissemination: `rounds` user events from rotating origins; per event, the time from the origin
 *     accepting it to the last node delivering it (the figure is the median over rounds);
 *  3. false positives: drop `lossProbability` of the packets arriving on every host (iptables statistic
 *     match) for `lossWindowMs`, clear it, allow `graceMs` for suspicions already running, then count nodes
 *     marked failed (and suspicions started) although nothing died;
 *  4. failure detection: SIGKILL the last node, then the one before, ... (`kills` times); per kill, the time
 *     until every live node marked it failed (the figure is the median over kills).
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
  eventMs: number | null;
  eventRoundsMs: Array<number | null>;
  detectMs: number | null;
  detectRoundsMs: Array<number | null>;
  detectFirstMs: number | null;
  detectMissing: number;
  falsePositives: FalsePositives;
  lossDropped: number;
  lossWindowMs: number;
  lossProbability: number;
}

const median = (xs: number[]): number | null => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : null);

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
  if (!(opts.kills >= 1 && opts.kills <= n - 2)) throw new Error(`kills must be 1..${n - 2} for ${n} nodes`);
  const nodes: NodeSpec[] = lab.hosts.map((h) => ({ host: h, name: `n${h.index}` }));
  try {
    const t = nowMs();
    await cluster.start(nodes, { lab, key: opts.key, workDir: opts.workDir, timeoutMs: opts.timeoutMs });
    say(`${cluster.label} n=${n}: all ${n} agents see each other after ${(nowMs() - t).toFixed(0)} ms`);
    await sleep(2_000);

    const eventRoundsMs: Array<number | null> = [];
    for (let r = 0; r < opts.eventRounds; r++) {
      const name = `bench-${r}-${Math.random().toString(36).slice(2, 8)}`;
      const from = (r * Math.max(1, Math.floor((n - opts.kills) / opts.eventRounds))) % (n - opts.kills); // spread origins over nodes that stay
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

    const detectRoundsMs: Array<number | null> = [];
    const firstMs: number[] = [];
    let detectMissing = 0;
    const dead: number[] = [];
    for (let k = 0; k < opts.kills; k++) {
      const victim = n - 1 - k;
      const killedAt = await cluster.kill(victim);
      dead.push(victim);
      const seen = await cluster.failedSeenAt(victim, opts.timeoutMs);
      const d = spread(seen.filter((_, i) => !dead.includes(i)), killedAt);
      detectRoundsMs.push(d.last);
      if (d.first !== null) firstMs.push(d.first);
      detectMissing += d.missing;
      say(`${cluster.label} n=${n}: node ${victim} killed; first marked failed after ${fmt(d.first)} ms, all after ${fmt(d.last)} ms` + (d.missing ? ` (${d.missing} nodes never did)` : ''));
      await sleep(1_000);
    }
    return {
      label: cluster.label,
      n,
      eventMs: eventRoundsMs.some((x) => x === null) ? null : median(eventRoundsMs as number[]),
      eventRoundsMs,
      detectMs: detectRoundsMs.some((x) => x === null) ? null : median(detectRoundsMs as number[]),
      detectRoundsMs,
      detectFirstMs: median(firstMs),
      detectMissing,
      falsePositives,
      lossDropped,
      lossWindowMs: opts.lossWindowMs,
      lossProbability: opts.lossProbability,
    };
  } finally {
    await cluster.stop();
  }
}

function fmt(x: number | null): string {
  return x === null ? 'n/a' : x.toFixed(0);
}
