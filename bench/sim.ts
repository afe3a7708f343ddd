/**
 * make sim: the real SWIM/Lifeguard core (src/cluster) on a FakeNetwork of 1,000 nodes in one process,
 * on a virtual clock, seeded. Boots the cluster by joins, then runs the scenarios one after another
 * on it (steady state, 1 crash, 10% loss + 1 crash, a partition that heals) and prints, per scenario,
 * the time (simulated seconds and probe rounds) to full dissemination of one broadcast and to
 * detection, false positives, and bytes per node per second. Every phase has a simulated-time limit
 * and prints "not converged" instead of waiting longer.
 *
 * Then the placement scenario (bench/sim/placement.ts): SIM_APPS x SIM_REPLICAS slots (default 1,000 x 10) placed
 * by the real ranking code; one node crashes, one joins: slots moved against those that had to, and the time until
 * every node agrees on the placement. Last line: placement_moved_ratio=X (moved / must over both changes; 1 is ideal).
 *
 * Environment: SIM_NODES (default 1000), SIM_SEED (default 1), SIM_WIRE=json to serialize every
 * message as the real transport does (slower; default: objects are handed over), SIM_SWIM a JSON object of
 * SwimConfig overrides (e.g. '{"eagerGossip":false}', to compare a protocol option side by side).
 */
import { resolveConfig, type SwimConfig } from '../src/cluster/index.js';
import { placementScenario } from './sim/placement.js';
import { SimCluster, lossWithCrash, oneCrash, partitionHeals, steadyState, type ScenarioResult, type Timing } from './sim/scenarios.js';

const NODES = Number(process.env.SIM_NODES ?? 1000);
const SEED = Number(process.env.SIM_SEED ?? 1);
const WIRE = process.env.SIM_WIRE === 'json' ? 'json' : 'object';
const SWIM = JSON.parse(process.env.SIM_SWIM ?? '{}') as Partial<SwimConfig>;

function t(x: Timing | undefined): string {
  if (!x) return '-';
  return x.seconds === null ? 'not converged' : `${x.seconds.toFixed(2)} s / ${x.rounds!.toFixed(1)} rounds`;
}

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
}

const WIDTHS = [34, 26, 26, 24, 13, 8, 7];

function print(r: ScenarioResult, wallMs: number): void {
  console.log(row([r.name, t(r.dissemination), t(r.detection), `${r.fpSuspect} suspect, ${r.fpDead} dead`, r.bytesPerNodePerSec.toFixed(0), r.simSeconds.toFixed(1), (wallMs / 1000).toFixed(1)], WIDTHS));
  if (r.minorityDetection) console.log(row(['  minority marks majority dead', '', t(r.minorityDetection)], WIDTHS));
  if (r.heal) {
    const p = r.postHeal!;
    console.log(row(['  heal: until all see all alive', t(r.heal), '', `${p.fpSuspect} suspect, ${p.fpDead} dead (${p.fpMarks} marks)`], WIDTHS));
  }
}

const cfg = resolveConfig(SWIM);
console.log(`pleaco SWIM/Lifeguard simulator: ${NODES} nodes, seed ${SEED}, wire ${WIRE}; memberlist LAN timing (probe ${cfg.probeIntervalMs} ms, ` +
  `timeout ${cfg.probeTimeoutMs} ms, ${cfg.indirectChecks} indirect, gossip to ${cfg.gossipNodes} every ${cfg.gossipIntervalMs} ms, ` +
  `suspicion ${cfg.suspicionMult}x/${cfg.suspicionMaxTimeoutMult}x, push-pull ${cfg.pushPullIntervalMs / 1000} s scaled); ` +
  `eager gossip ${cfg.eagerGossip ? 'on' : 'off'}, suspect rechecks ${cfg.suspectRechecks}` + (process.env.SIM_SWIM ? ` (SIM_SWIM ${process.env.SIM_SWIM})` : ''));
console.log('rounds = probe intervals; false positives = live nodes marked suspect/dead by a node that could reach them; bytes = JSON sent (no crypto/IP headers)');

const started = performance.now();
let mark = started;
const lap = () => {
  const now = performance.now();
  const ms = now - mark;
  mark = now;
  return ms;
};

const c = new SimCluster({ nodes: NODES, seed: SEED, wire: WIRE, swim: SWIM });
const boot = c.boot();
const settled = c.settle();
console.log(`boot: ${NODES} joins over ${(NODES * 10) / 1000} s, all nodes see all alive after ${t(boot)}; gossip queues ${settled ? 'drained' : 'not drained'} at ${(c.net.now / 1000).toFixed(1)} s (wall ${(lap() / 1000).toFixed(1)} s)`);
console.log('');
console.log(row(['scenario', 'dissemination (1 update)', 'detection (all mark dead)', 'false positives', 'bytes/node/s', 'sim s', 'wall s'], WIDTHS));

for (const scenario of [steadyState, oneCrash, lossWithCrash, partitionHeals]) {
  const r = scenario(c);
  print(r, lap());
  c.settle();
  lap();
}
const deliveredPerSec = c.net.delivered / (c.net.now / 1000);
console.log('');
console.log(`simulated ${(c.net.now / 1000).toFixed(0)} s, ${c.net.delivered} messages delivered (${deliveredPerSec.toFixed(0)}/s), ${c.net.dropped} dropped; wall ${((performance.now() - started) / 1000).toFixed(1)} s`);

const APPS = Number(process.env.SIM_APPS ?? 1000);
const REPLICAS = Number(process.env.SIM_REPLICAS ?? 10);
const p = placementScenario(c, APPS, REPLICAS);
console.log('');
console.log(`placement: ${p.slots} slots (${APPS} apps x ${REPLICAS}) over ${NODES} nodes, placed in ${(p.placeMs / 1000).toFixed(2)} s wall by one node`);
for (const [what, ch] of [['1 node crashes', p.crash], ['1 node joins', p.join]] as const) {
  console.log(`  ${what}: ${ch.moved} slots moved, ${ch.must} had to; every node agrees on the placement after ${t(ch.agree)}`);
}
const ratio = (p.crash.moved + p.join.moved) / Math.max(1, p.crash.must + p.join.must);
console.log(`placement_moved_ratio=${ratio.toFixed(3)}`);
