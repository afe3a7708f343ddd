import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AUTOSCALE_DEFAULTS, decide, emptyAutoscaleMemory, validatePolicy, type AutoscaleMemory, type AutoscalePolicy, type Decision, type MetricSample } from '../../src/scale/index.js';
import { seededRandom } from '../../src/cluster/rng.js';
import { PleacoError } from '../../src/errors.js';

/** Recorded series: one cluster-wide sample every 2 s (what the proxies post), replayed against `decide`. */
const T0 = Date.UTC(2025, 0, 1);
const STEP_S = 2;
type Point = { rps: number; inFlight?: number; nodes?: number } | null;
type Series = (MetricSample | null)[];

function record(seconds: number, f: (t: number) => Point): Series {
  const out: Series = [];
  for (let t = 0; t < seconds; t += STEP_S) {
    const p = f(t);
    out.push(p === null ? null : { at: T0 + t * 1000, rps: p.rps, inFlight: p.inFlight ?? 0, nodes: p.nodes ?? 3 });
  }
  return out;
}

/** Every step of every series: desired is an integer within [min, max], memory stays bounded. */
function checkBounds(policy: AutoscalePolicy, d: Decision, memory: AutoscaleMemory): void {
  assert.ok(Number.isInteger(d.desired), `desired ${d.desired} is an integer`);
  assert.ok(d.desired >= policy.min && d.desired <= policy.max, `desired ${d.desired} within [${policy.min}, ${policy.max}] at ${(d.at - T0) / 1000} s: ${d.reason}`);
  assert.ok(memory.recommendations.length <= AUTOSCALE_DEFAULTS.memoryMax, 'memory bounded');
  assert.ok(d.reason.length > 0 && !d.reason.includes('\n'), 'one sentence');
}

/** Decides every 2 s of fake time over the series; the replica count follows each decision at once. */
function replay(policy: AutoscalePolicy, series: Series, current: number, memory: AutoscaleMemory = emptyAutoscaleMemory()): Decision[] {
  const out: Decision[] = [];
  const seen: MetricSample[] = [];
  for (let i = 0; i < series.length; i++) {
    const now = T0 + i * STEP_S * 1000;
    const s = series[i];
    if (s) seen.push(s);
    while (seen.length > 0 && seen[0]!.at <= now - 60_000) seen.shift();
    const r = decide(policy, seen, current, memory, now);
    checkBounds(policy, r.decision, r.memory);
    out.push(r.decision);
    memory = r.memory;
    current = r.decision.desired;
  }
  return out;
}

const tSec = (d: Decision): number => (d.at - T0) / 1000;
const changes = (ds: Decision[]): number => ds.filter((d) => d.desired !== d.current).length;
const policy = (p: Partial<AutoscalePolicy>): AutoscalePolicy => ({ min: 1, max: 10, targetRps: 10, windowS: 300, ...p });

test('step up: load 1× → 3× of capacity reaches the needed count within 10 s, never above max', () => {
  const series = record(180, (t) => ({ rps: t < 60 ? 20 : 60 }));
  const ds = replay(policy({ max: 10 }), series, 2);
  assert.ok(ds.filter((d) => tSec(d) < 60).every((d) => d.desired === 2), 'steady before the step');
  const reached = ds.find((d) => tSec(d) >= 60 && d.desired >= 6);
  assert.ok(reached && tSec(reached) - 60 <= 10, `6 replicas ${reached ? tSec(reached) - 60 : '∞'} s after the step`);
  assert.ok(ds.every((d) => d.desired <= 6), 'no overshoot');
  // The same step with max 4: capped, and the reason says so.
  const capped = replay(policy({ max: 4 }), series, 2);
  assert.is(capped[capped.length - 1]!.desired, 4);
  assert.ok(capped.some((d) => d.reason.includes('(max 4)')), 'reason names the cap');
});

test('step up below panic (1× → 1.6×): up once the need has held for the 10 s up-window', () => {
  const ds = replay(policy({ max: 10 }), record(120, (t) => ({ rps: t < 40 ? 50 : 80 })), 5);
  assert.ok(ds.filter((d) => tSec(d) >= 40 && tSec(d) < 48).every((d) => d.desired === 5 && /6 needed, scaling up once that holds for 10 s|[78] needed/.test(d.reason)), 'waits');
  const up = ds.find((d) => d.desired > d.current)!;
  assert.ok(!up.panic && tSec(up) - 40 >= 8 && tSec(up) - 40 <= 10, `first scale-up ${tSec(up) - 40} s after the step`);
  assert.match(up.reason, /^\d+\.\d req\/s over 5 replicas, target 10\/replica: scale up to \d+$/);
  const all = ds.find((d) => d.desired === 8)!;
  assert.ok(tSec(all) - 40 <= 20, `8 replicas ${tSec(all) - 40} s after the step`);
  assert.ok(ds.every((d) => d.desired <= 8), 'no overshoot');
});

test('spike 5× → panic: scales at once past the up-limit, no scale-down for panicHoldS after it', () => {
  const p = policy({ max: 30 });
  const ds = replay(p, record(400, (t) => ({ rps: t >= 60 && t < 80 ? 200 : 40 })), 4);
  const first = ds.find((d) => d.panic)!;
  assert.ok(tSec(first) <= 62, 'panic on the first sample of the spike');
  assert.ok(first.desired > Math.max(first.current * 2, first.current + 4), `jumped ${first.current} → ${first.desired}, beyond the HPA up-limit`);
  assert.match(first.reason, /^panic: \d+ req\/s in the last 4 s is ≥ 2× the capacity of 4 replicas: scale up to \d+ at once$/);
  const peak = ds.find((d) => d.desired === 20);
  assert.ok(peak && tSec(peak) <= 64, 'the needed 20 within 4 s');
  const lastTrigger = Math.max(...ds.filter((d) => d.reason.startsWith('panic:')).map(tSec));
  const during = ds.filter((d) => tSec(d) > tSec(first) && tSec(d) < lastTrigger + AUTOSCALE_DEFAULTS.panicHoldS);
  assert.ok(during.every((d) => d.desired >= d.current && d.panic), 'never down while panicking');
  // The last spike sample is at 78 s: its recommendation (20) holds the count for the window after it.
  assert.ok(ds.filter((d) => tSec(d) >= 80 && tSec(d) < 78 + 300).every((d) => d.desired === 20), 'held through the stabilization window after the spike');
  assert.is(ds[ds.length - 1]!.desired, 4, 'back to 4 once the window has passed');
});

test('slow ramp: replicas follow the load without overshooting more than one step', () => {
  const rnd = seededRandom(7);
  const load = (t: number): number => 5 + (90 * t) / 600;
  const ds = replay(policy({ max: 20 }), record(600, (t) => ({ rps: load(t) * (1 + (rnd() * 2 - 1) * 0.05) })), 1);
  for (const d of ds) {
    const t = tSec(d);
    assert.ok(d.desired <= Math.ceil(load(t) / 10) + 1, `${d.desired} at ${t} s for ${load(t).toFixed(1)} req/s`);
    if (t >= 30) assert.ok(d.desired >= Math.ceil(load(t - 30) / 10) - 1, `${d.desired} at ${t} s lags more than 30 s`);
  }
  assert.ok(ds[ds.length - 1]!.desired >= 9, '94 req/s at the end: 9 is within the tolerance, 10 is the count');
  // The same ramp on in-flight requests (each takes 200 ms: 0.2 × rps in flight), target 2 per replica.
  const conc = replay({ min: 1, max: 20, targetConcurrency: 2, windowS: 300 }, record(600, (t) => ({ rps: load(t), inFlight: load(t) * 0.2 })), 1);
  assert.ok(conc[conc.length - 1]!.desired >= 9);
  assert.ok(conc.every((d) => d.desired <= Math.ceil((load(tSec(d)) * 0.2) / 2) + 1), 'no overshoot on concurrency');
  assert.match(conc[conc.length - 1]!.reason, /in flight over \d+ replicas, target 2\/replica/);
});

test('flapping noise ±15 % around the target: replicas never change over 10 min (10 seeds)', () => {
  for (let seed = 1; seed <= 10; seed++) {
    const rnd = seededRandom(seed);
    const ds = replay(policy({}), record(600, () => ({ rps: 50 * (1 + (rnd() * 2 - 1) * 0.15) })), 5);
    assert.is(changes(ds), 0, `seed ${seed}: ${ds.filter((d) => d.desired !== d.current).map((d) => d.reason).join(' | ')}`);
    assert.ok(ds.some((d) => d.reason.includes('within 10% of target')), 'the tolerance is what holds it');
  }
});

test('a dead node: its share of the total vanishes for a while, no scale-down within the window', () => {
  // 3 proxies at 20 req/s each; node 3 is gone from 60 s to 90 s (its metrics dropped), then back.
  const back = record(600, (t) => (t >= 60 && t < 90 ? { rps: 40, nodes: 2 } : { rps: 60, nodes: 3 }));
  const ds = replay(policy({}), back, 6);
  assert.is(changes(ds), 0, 'stays at 6 throughout');
  assert.ok(ds.some((d) => d.reason.startsWith('stabilizing: highest recommendation in the last 300 s is 6 (now 4)')), ds.map((d) => d.reason).join('\n'));
  // Gone for good (its clients did not come back): down to 4 only once the window has passed.
  const gone = replay(policy({}), record(600, (t) => (t >= 60 ? { rps: 40, nodes: 2 } : { rps: 60, nodes: 3 })), 6);
  const down = gone.find((d) => d.desired < d.current)!;
  assert.ok(tSec(down) >= 60 + 300, `down at ${tSec(down)} s`);
  assert.is(gone[gone.length - 1]!.desired, 4);
});

test('missing metrics: hold the count, never scale down or to zero on them', () => {
  const empty = decide(policy({}), [], 3, emptyAutoscaleMemory(), T0);
  assert.is(empty.decision.desired, 3);
  assert.is(empty.decision.reason, 'no metrics in the last 10 s: stay at 3');
  assert.is(decide(policy({ max: 2 }), [], 3, emptyAutoscaleMemory(), T0).decision.reason, 'no metrics in the last 10 s: scale down to 2 (max 2)');
  // Zero-node samples are no data either.
  assert.match(decide(policy({}), [{ at: T0, rps: 0, inFlight: 0, nodes: 0 }], 3, emptyAutoscaleMemory(), T0).decision.reason, /^no metrics/);
  // A 5-minute gap in an idle app's series (min 0): held at 2, and the idle clock starts again after it.
  const series = record(900, (t) => (t < 60 ? { rps: 20 } : t < 120 ? { rps: 0 } : t < 420 ? null : { rps: 0 }));
  const ds = replay(policy({ min: 0 }), series, 2);
  assert.ok(ds.filter((d) => tSec(d) >= 130 && tSec(d) < 420).every((d) => d.desired === 2 && d.reason.startsWith('no metrics')), 'held in the gap');
  const zero = ds.find((d) => d.desired === 0)!;
  assert.ok(tSec(zero) >= 420 + 300 - STEP_S, `zero at ${tSec(zero)} s`);
});

test('scale to zero after windowS without traffic, and back to 1 on the first request', () => {
  const p = policy({ min: 0, windowS: 300 });
  // Traffic until 60 s, nothing until 500 s, then one request in flight (none completed yet).
  const ds = replay(p, record(520, (t) => (t < 60 ? { rps: 5 } : t < 500 ? { rps: 0 } : { rps: 0, inFlight: 1 })), 1);
  const zero = ds.find((d) => d.desired === 0)!;
  assert.ok(tSec(zero) >= 58 + 300 && tSec(zero) <= 58 + 300 + STEP_S, `zero at ${tSec(zero)} s`);
  assert.is(zero.reason, 'no requests for 300 s: scale to zero');
  assert.ok(ds.filter((d) => tSec(d) < tSec(zero)).every((d) => d.desired === 1), 'one replica until then');
  const wake = ds.find((d) => tSec(d) === 500)!;
  assert.is(wake.current, 0);
  assert.is(wake.desired, 1);
  assert.is(wake.reason, 'first requests since zero (0.0 req/s, 1 in flight): scale up to 1');
  assert.ok(ds.filter((d) => tSec(d) > tSec(zero) && tSec(d) < 500).every((d) => d.desired === 0 && /^no requests for \d+ s: stay at 0$/.test(d.reason)), 'stays at zero while idle');
  // min 1 never goes to zero.
  assert.ok(replay(policy({ min: 1 }), record(520, (t) => ({ rps: t < 60 ? 5 : 0 })), 1).every((d) => d.desired === 1));
  // A burst from zero panics straight to the needed count.
  const burst = decide(p, [{ at: T0, rps: 100, inFlight: 10, nodes: 3 }], 0, { recommendations: [], panicUntil: null, lastActiveAt: T0 - 600_000 }, T0);
  assert.equal([burst.decision.desired, burst.decision.panic], [10, true]);
});

test('the up-limit outside panic: at most max(2× current, current + 4) per decision', () => {
  // The load was high for 6 s and is gone in the last 4 s: no panic, but the stable value asks for 18.
  const samples = [-8, -6, -4, -2, 0].map((s) => ({ at: T0 + s * 1000, rps: s <= -4 ? 300 : 0, inFlight: 0, nodes: 3 }));
  const memory: AutoscaleMemory = { recommendations: [-8, -6, -4, -2].map((s) => ({ at: T0 + s * 1000, replicas: 18 })), panicUntil: null, lastActiveAt: T0 };
  const r = decide(policy({ max: 20 }), samples, 1, memory, T0);
  assert.is(r.decision.desired, 5);
  assert.is(r.decision.panic, false);
  assert.is(r.decision.reason, '180 req/s over 1 replica, target 10/replica: scale up to 5 (limited from 18)');
});

test('memory stays bounded over an hour-long window and still holds its highest recommendation', () => {
  const p = policy({ max: 20, windowS: 3600 });
  const ds = replay(p, record(4000, (t) => ({ rps: t >= 100 && t < 200 ? 150 : 20 })), 2);
  assert.ok(ds.filter((d) => tSec(d) >= 200 && tSec(d) < 198 + 3600).every((d) => d.desired === 15), 'held for the hour');
  assert.is(ds[ds.length - 1]!.desired, 2);
});

function refused(input: unknown, message: RegExp): void {
  try {
    validatePolicy(input);
  } catch (err) {
    assert.instance(err, PleacoError);
    assert.is((err as PleacoError).code, 'bad_request');
    assert.match((err as PleacoError).message, message);
    return;
  }
  assert.unreachable(`accepted ${JSON.stringify(input)}`);
}

test('validatePolicy: defaults, and clear refusals of bad input', () => {
  assert.equal(validatePolicy({ max: 10, targetRps: 50 }), { min: 1, max: 10, targetRps: 50, windowS: 300 });
  assert.equal(validatePolicy({ min: 0, max: 3, targetConcurrency: 2.5, windowS: 20 }), { min: 0, max: 3, targetConcurrency: 2.5, windowS: 20 });
  refused(null, /must be an object/);
  refused([1], /must be an object/);
  refused({ min: 5, max: 2, targetRps: 1 }, /min \(5\) must not be above max \(2\)/);
  refused({ max: 2, targetRps: 1, targetConcurrency: 1 }, /one target, not both/);
  refused({ max: 2 }, /needs a target: targetRps .* or targetConcurrency/);
  refused({ targetRps: 1 }, /max is required/);
  refused({ min: 1.5, max: 2, targetRps: 1 }, /min must be an integer from 0 to 100, got 1\.5/);
  refused({ max: 101, targetRps: 1 }, /max must be an integer from 1 to 100, got 101/);
  refused({ max: 0, targetRps: 1 }, /max must be an integer from 1 to 100, got 0/);
  refused({ min: -1, max: 2, targetRps: 1 }, /min must be an integer/);
  refused({ max: '3', targetRps: 1 }, /max must be an integer .* got "3"/);
  refused({ max: 2, targetRps: 0 }, /targetRps must be a number from 0\.01/);
  refused({ max: 2, targetConcurrency: Number.NaN }, /targetConcurrency must be a number/);
  refused({ max: 2, targetRps: 1, windowS: 0 }, /windowS must be an integer from 1 to 3600/);
  refused({ max: 2, targetRps: 1, windowS: 30.5 }, /windowS must be an integer/);
  refused({ max: 2, targetRps: 1, scaleDelay: 3 }, /unknown autoscale field "scaleDelay"/);
});

test.run();
