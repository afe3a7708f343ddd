/**
 * `make bench-join`: seconds from process start to full membership, for 3 and 10 nodes started at the same moment,
 * found by mDNS (no seeds) and by seeds (multicast blocked; every node is given the first one's address). Real
 * pleaco-agent processes, one per network namespace on a bridge of its own (bench/join/fleet.ts).
 *
 * Per run: join_s is the last node's time from its own spawn until it has seen every other node join; startup_s the
 * last node's time from spawn until its cluster member listens (Node start-up and the agent's own, before any
 * discovery can begin). Rounds: PLEACO_BENCH_ROUNDS (default 2); the median of the rounds is reported. Last line
 * `join_s_10_nodes=X`: the slower of mDNS and seeds at 10 nodes (goal ≤ 5).
 */
import { labUnavailable } from './gossip/netns.js';
import { Fleet, PORT } from './join/fleet.js';

const ROUNDS = Math.max(1, Math.min(5, Number(process.env.PLEACO_BENCH_ROUNDS ?? 2) || 2));
const SIZES = [3, 10];

interface Run {
  join: number;
  startup: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function once(n: number, mode: 'mdns' | 'seeds'): Promise<Run> {
  const fleet = await Fleet.create(n, { env: (): Record<string, string> => (mode === 'seeds' ? { PLEACO_SEEDS: `10.231.0.1:${PORT}` } : {}) });
  try {
    if (mode === 'seeds') for (const node of fleet.nodes) await fleet.blockMdns(node.host);
    fleet.start();
    await fleet.waitFull(60_000);
    const joins = fleet.nodes.map((node) => (node.fullAt! - node.startedAt) / 1000);
    const startups = fleet.nodes.map((node) => ((node.upAt ?? NaN) - node.startedAt) / 1000);
    return { join: Math.max(...joins), startup: Math.max(...startups) };
  } finally {
    await fleet.stop();
  }
}

async function main(): Promise<void> {
  const why = labUnavailable();
  if (why) {
    console.error(`bench-join: cannot run here: ${why}`);
    process.exit(2);
  }
  const out: Record<string, number> = {};
  for (const n of SIZES) {
    for (const mode of ['mdns', 'seeds'] as const) {
      const runs: Run[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const run = await once(n, mode);
        runs.push(run);
        console.log(`${n} nodes via ${mode}, round ${r + 1}: full membership after ${run.join.toFixed(2)} s (members listening after ${run.startup.toFixed(2)} s)`);
      }
      out[`join_s_${n}_nodes_${mode}`] = median(runs.map((x) => x.join));
      out[`startup_s_${n}_nodes_${mode}`] = median(runs.map((x) => x.startup));
    }
  }
  for (const [k, v] of Object.entries(out)) console.log(`${k}=${v.toFixed(2)}`);
  console.log(`join_s_10_nodes=${Math.max(out.join_s_10_nodes_mdns!, out.join_s_10_nodes_seeds!).toFixed(2)}`);
}

main().catch((err: unknown) => {
  console.error(`bench-join failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
