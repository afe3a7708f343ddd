/**
 * The simulator's scenarios (bench/sim/scenarios.ts, what `make sim` runs at 1,000 nodes) at 50
 * nodes, with every message JSON-serialized as on the wire, so `make test` keeps the simulator and
 * its figures honest: the cluster converges, an update reaches everyone, a crash is detected, no live
 * node is ever marked dead without loss, and a partition heals.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { placementScenario } from '../../bench/sim/placement.js';
import { SimCluster, lossWithCrash, oneCrash, partitionHeals, steadyState } from '../../bench/sim/scenarios.js';

const c = new SimCluster({ nodes: 50, seed: 7, wire: 'json' });

test('boot: 50 joins converge, every node sees every node alive', () => {
  const boot = c.boot(120_000);
  assert.ok(boot.seconds !== null, 'not converged');
  assert.ok(c.settle(), 'gossip queues drained');
  for (const h of c.net.hosts) assert.equal(h.node.members().filter((m) => m.state === 'alive').length, 50);
});

test('steady state: one update reaches all 50 nodes within seconds, no false positives', () => {
  const r = steadyState(c, 20_000);
  assert.ok(r.dissemination.seconds !== null && r.dissemination.seconds < 5, `dissemination ${r.dissemination.seconds}`);
  assert.equal([r.fpSuspect, r.fpDead], [0, 0]);
  assert.ok(r.bytesPerNodePerSec > 0);
  c.settle();
});

test('one crash without loss: all 49 live nodes mark it dead, no live node is suspected', () => {
  const r = oneCrash(c);
  assert.ok(r.detection!.seconds !== null, 'crash not detected');
  // Bounded by the suspicion timeout: 6 x 4 x log10(50) probe intervals, plus the probe round.
  assert.ok(r.detection!.seconds < 6 * 4 * Math.log10(50) + 10, `detection ${r.detection!.seconds} s`);
  assert.equal([r.fpSuspect, r.fpDead], [0, 0]);
  const down = c.net.hosts.filter((h) => !h.up);
  assert.equal(down.length, 1);
  for (const h of c.up()) assert.equal(h.node.members().find((m) => m.id === down[0]!.id)!.state, 'dead');
  c.settle();
});

test('10% packet loss and a crash: detected, and no live node is ever declared dead', () => {
  const r = lossWithCrash(c, 0.1, 10_000);
  assert.ok(r.detection!.seconds !== null, 'crash not detected');
  assert.equal(r.fpDead, 0);
  assert.ok(r.dissemination.seconds !== null, 'update not delivered everywhere');
  c.settle();
});

test('a partition heals: the majority detects the cut-off nodes, and after the heal all see all alive', () => {
  const r = partitionHeals(c, 0.2, 45_000);
  assert.ok(r.detection!.seconds !== null, 'majority did not detect the minority');
  assert.equal([r.fpSuspect, r.fpDead], [0, 0], 'no false positive within a side during the partition');
  assert.ok(r.heal!.seconds !== null, 'views did not converge after the heal');
  assert.ok(r.dissemination.seconds !== null);
  for (const h of c.up()) assert.equal(h.node.members().filter((m) => m.state === 'alive').length, c.up().length);
});

test('placement (the real ranking code): a crash and a join move about the slots that must move, and every node agrees again', () => {
  c.settle();
  const p = placementScenario(c, 200, 5);
  for (const [what, ch] of [['crash', p.crash], ['join', p.join]] as const) {
    assert.ok(ch.agree.seconds !== null, `${what}: the nodes never agreed on the members`);
    assert.ok(ch.must > 0, `${what}: some slots had to move`);
    assert.ok(ch.moved >= ch.must && ch.moved <= ch.must * 1.5 + 2, `${what}: moved ${ch.moved}, had to ${ch.must}`);
  }
});

test.run();
