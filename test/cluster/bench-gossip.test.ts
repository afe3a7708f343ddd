/**
 * A reduced `make bench-gossip` so the benchmark cannot rot unseen: 5 network namespaces, real Serf agents and
 * real pleaco agents through the same scenario (bench/gossip/measure.ts) with 1 event, 3 s of 10 % loss, 1
 * SIGKILL and 1 isolated host, and the report lines. Asserts that every figure was measured (every node saw the
 * event, every live node marked the killed and the isolated node failed) and that the ratio line is printed last;
 * the figures themselves are the benchmark's business, not the test's. Skipped, saying why, without root,
 * network namespaces, iptables or serf.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NetnsLab, benchNamespaces, labUnavailable } from '../../bench/gossip/netns.js';
import { runScenario, type GossipFigures } from '../../bench/gossip/measure.js';
import { PleacoCluster } from '../../bench/gossip/pleaco.js';
import { figuresLine, summaryLines } from '../../bench/gossip/report.js';
import { SerfCluster } from '../../bench/gossip/serf.js';
import { tempDir } from '../helpers/tmp.js';

/** Why this machine cannot run it: the lab's needs, and serf. */
function unavailable(): string | null {
  const lab = labUnavailable();
  if (lab) return lab;
  try {
    execFileSync('serf', ['version'], { stdio: 'ignore', timeout: 10_000 });
  } catch (err) {
    return `serf unavailable: ${(err as Error).message}`;
  }
  return null;
}

const why = unavailable();
if (why) console.log(`SKIP bench-gossip suite: ${why}`);
const run = why ? test.skip : test;

run('reduced bench-gossip: serf and pleaco, 5 nodes, every figure measured, the ratio line last', async () => {
  const lab = await NetnsLab.create(5);
  const tmp = tempDir('pleaco-bench-gossip-test-');
  const key = randomBytes(32);
  const opts = {
    key, workDir: tmp.dir, eventRounds: 1, kills: 1, isolations: 1, lossProbability: 0.1, lossWindowMs: 3_000, graceMs: 2_000, timeoutMs: 60_000,
  };
  const figures: GossipFigures[] = [];
  try {
    for (const cluster of [new SerfCluster(), new PleacoCluster()]) {
      const f = await runScenario(cluster, lab, opts);
      console.log(figuresLine(f));
      figures.push(f);
      assert.ok(f.eventMs !== null, `${f.label}: every node got the event`);
      assert.ok(f.detectMs !== null && f.detectMissing === 0, `${f.label}: every live node marked the killed node failed`);
      assert.ok(f.isolatedMs !== null && f.isolatedMissing === 0, `${f.label}: every live node marked the isolated node failed`);
      assert.ok(f.lossDropped > 0, `${f.label}: the loss rules dropped packets`);
    }
  } finally {
    lab.cleanup();
    tmp.cleanup();
  }
  const [serf, pleaco] = figures as [GossipFigures, GossipFigures];
  const lines = summaryLines([pleaco], [serf]);
  console.log(lines.join('\n'));
  assert.match(lines[lines.length - 1]!, /^gossip_vs_serf_detect_ratio=\d+\.\d\d$/);
  assert.ok(lines.some((l) => /^n=5 isolated pleaco\/serf=\d+\.\d\d$/.test(l)), 'the isolated-host ratio is printed');
  assert.equal(benchNamespaces(process.pid), [], 'no namespace left');
});

test.run();
