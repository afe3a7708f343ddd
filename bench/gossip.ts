/**
 * make bench-gossip: for each cluster size (10 and 50), N network namespaces on one bridge, then Serf agents
 * and pleaco agents on them in the same run, each through the same scenario (bench/gossip/measure.ts): join time
 * (also counted from the last agent being up, without process start-up), time for a user event to reach every
 * node, false positives under 10% packet loss on every host, time until every node marks a SIGKILLed node
 * failed, and the same for an isolated node (host loss: all its traffic dropped, its agent still running).
 * Prints one figures line per side and size, per-size pleaco/serf ratios for SIGKILL and isolation detection,
 * and last `gossip_vs_serf_detect_ratio=X` (SIGKILL detections) when both sides ran.
 *
 * `node dist/bench/gossip.js cleanup` removes namespaces a crashed run left behind (those of live runs stay).
 * Environment: BENCH_GOSSIP_SIZES (default 10,50), BENCH_GOSSIP_LOSS_S (30), BENCH_GOSSIP_EVENTS (3),
 * BENCH_GOSSIP_KILLS (5), BENCH_GOSSIP_ISOLATE (3: at most; a size gets fewer so that every isolation leaves at
 * least MIN_OBSERVERS live nodes to detect it: with fewer, Lifeguard's k = 2 confirmations need every remaining
 * node and both sides' figures become a lottery; 1 at n=10). Figures are
 * medians over the events, over the kills and over the isolations.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import type { GossipCluster } from './gossip/cluster.js';
import { runScenario, type GossipFigures } from './gossip/measure.js';
import { NetnsLab, cleanupLeftovers } from './gossip/netns.js';
import { figuresLine, summaryLines } from './gossip/report.js';
import { PleacoCluster } from './gossip/pleaco.js';
import { SerfCluster } from './gossip/serf.js';
import { tempDir } from '../test/helpers/tmp.js';

const SIZES = (process.env.BENCH_GOSSIP_SIZES ?? '10,50').split(',').map(Number);
const LOSS_WINDOW_MS = Number(process.env.BENCH_GOSSIP_LOSS_S ?? 30) * 1000;
const EVENT_ROUNDS = Number(process.env.BENCH_GOSSIP_EVENTS ?? 3);
const KILLS = Number(process.env.BENCH_GOSSIP_KILLS ?? 5);
const ISOLATE = Number(process.env.BENCH_GOSSIP_ISOLATE ?? 3);
const MIN_OBSERVERS = 4;
/** Isolations at size n: up to ISOLATE, each leaving at least MIN_OBSERVERS live nodes besides the victim. */
const isolationsAt = (n: number): number => Math.max(0, Math.min(ISOLATE, n - KILLS - MIN_OBSERVERS));

// ---------------------------------------------------------------------------------------------------------
// PLEACO PLUGS IN HERE. Return a fresh GossipCluster (bench/gossip/cluster.ts) that runs pleaco's own agent,
// one per NodeSpec host, e.g. `return new PleacoCluster();` from bench/gossip/pleaco.ts. While this returns
// null the bench prints `pleaco: not available yet` and no ratio line.
// ---------------------------------------------------------------------------------------------------------
function pleacoCluster(): GossipCluster | null {
  return new PleacoCluster({ progress: (line) => console.log(`  ${line}`) });
}

function serfVersion(): string {
  try {
    const pkg = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'serf'], { encoding: 'utf8', timeout: 10_000 });
    return `Debian serf ${pkg}`;
  } catch {
    execFileSync('serf', ['version'], { stdio: 'ignore', timeout: 10_000 }); // throws when serf is missing
    return 'serf (not from a Debian package)';
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'cleanup') {
    console.log(`removed ${cleanupLeftovers()} leftover namespaces`);
    return;
  }
  for (const n of SIZES) {
    if (!(Number.isInteger(KILLS) && KILLS >= 1 && KILLS <= n - 2 && Number.isInteger(ISOLATE) && ISOLATE >= 0)) {
      throw new Error(`BENCH_GOSSIP_KILLS (${KILLS}) must be 1..${n - 2} for n=${n}, BENCH_GOSSIP_ISOLATE (${ISOLATE}) ≥ 0`);
    }
  }
  console.log(`${serfVersion()}, profile lan; per size: ${EVENT_ROUNDS} events, ${LOSS_WINDOW_MS / 1000} s at 10% loss, ${KILLS} kills, isolations ${SIZES.map((n) => `${isolationsAt(n)} at n=${n}`).join(', ')}`);
  const tmp = tempDir('pleaco-bench-gossip-');
  process.on('exit', tmp.cleanup); // also when SIGINT ends the run (the lab exits the process after its cleanup)
  const key = randomBytes(32); // one cluster key per run, shared by both sides; only in 0600 files
  const serf: GossipFigures[] = [];
  const pleaco: GossipFigures[] | null = pleacoCluster() ? [] : null;
  try {
    for (const n of SIZES) {
      const lab = await NetnsLab.create(n);
      try {
        const opts = {
          key,
          workDir: tmp.dir,
          eventRounds: EVENT_ROUNDS,
          kills: KILLS,
          isolations: isolationsAt(n),
          lossProbability: 0.1,
          lossWindowMs: LOSS_WINDOW_MS,
          graceMs: 5_000,
          timeoutMs: 60_000 + n * 1_000,
          progress: (line: string) => console.log(`  ${line}`),
        };
        const s = await runScenario(new SerfCluster(), lab, opts);
        serf.push(s);
        console.log(figuresLine(s));
        const p = pleacoCluster();
        if (p && pleaco) {
          const f = await runScenario(p, lab, opts);
          pleaco.push(f);
          console.log(figuresLine(f));
        }
      } finally {
        lab.cleanup();
      }
    }
  } finally {
    tmp.cleanup();
  }
  for (const line of summaryLines(pleaco, serf)) console.log(line);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
