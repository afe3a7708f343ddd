/**
 * The autoscaler's decision (issue #13): how many replicas an app should have, from the cluster-wide request
 * metrics of the last seconds. The app's owner runs it every ~2 s; it is pure (samples, the current count and the
 * previous decision's memory in; a decision and the next memory out), so a test replays a recorded series.
 *
 * The rules are the Kubernetes HPA's (ratio, tolerance, up-limit, scale-down stabilization) with Knative KPA's
 * panic mode and scale to zero on top; `AUTOSCALE_DEFAULTS` holds their numbers.
 * - Metric: requests/s (`targetRps`) or in-flight requests (`targetConcurrency`), summed over the proxies that
 *   reported (the caller drops dead nodes' metrics). A sample with `nodes` = 0 counts as missing. The stable value
 *   is the mean over the last `stableWindowS`, the panic value the mean over the last `panicWindowS`.
 * - Missing metrics (no sample in the stable window): hold the current count (clamped); never scale down on them.
 *   The idle clock of scale to zero restarts: zero traffic must be seen, not assumed.
 * - Recommendation: ceil(stable / target); kept at `current` when within `tolerance` of the current capacity
 *   (|stable / (current × target) − 1| ≤ 0.1). From zero, any traffic (requests or in-flight) asks for 1.
 * - Scale-up (HPA): to the lowest recommendation of the last `upWindowS` (HPA's scaleUp stabilization window; it
 *   is 0 there, 10 s here: with one sample per 2 s, noise of ±15 % crosses the 10 % tolerance in the mean of 5
 *   samples about once in 10 min, which would add a replica and remove it 300 s later), and at most
 *   max(current × (1 + upLimitPercent/100), current + upLimitPods) per decision. From zero, 1 at once.
 * - Panic (Knative): when the panic value ≥ panicThreshold × target × max(current, 1), go at once to
 *   ceil(panic / target): neither the up-window nor the up-limit applies (a load at twice the capacity is the case
 *   for speed; Knative does the same, the HPA has no panic). Panic lasts `panicHoldS` after the last time its
 *   condition held; meanwhile the count follows the panic value up at once and never goes down.
 * - Scale-down (HPA): to the highest recommendation of the last `windowS`, never below it. The memory keeps every
 *   recommendation of the window (at most `memoryMax`; beyond that, the ones that can no longer be a window's
 *   highest are dropped first). An empty memory (a new owner, a restart) starts with `current` as a
 *   recommendation, so a new owner scales down no sooner than a window after it took over. A node lost lowers
 *   the total for a while; the window holds the count above what that alone would give.
 * - Scale to zero (Knative): only with `min` = 0, after `windowS` in which every sample had no request and nothing
 *   in flight (`lastActiveAt`); until then at least 1 replica stays.
 * - Always clamped to [min, max] last.
 */
import { PleacoError } from '../errors.js';
import { DEFAULT_AUTOSCALE_WINDOW_S, type AutoscaleDecision, type AutoscaleMemory, type AutoscalePolicy } from '../model/index.js';

export const AUTOSCALE_DEFAULTS = Object.freeze({
  windowS: DEFAULT_AUTOSCALE_WINDOW_S,
  stableWindowS: 10,
  panicWindowS: 4,
  panicThreshold: 2,
  panicHoldS: 60,
  tolerance: 0.1,
  upLimitPercent: 100,
  upLimitPods: 4,
  upWindowS: 10,
  memoryMax: 1000,
});

/** Cluster-wide request metrics of one app at one moment: sums over the proxies that reported. */
export interface MetricSample {
  /** Epoch ms. */
  at: number;
  rps: number;
  inFlight: number;
  /** Proxies that reported into this sample. */
  nodes: number;
}

/** What one decision hands the next (kept by the owner, and in its status record for the next owner). */
export type { AutoscaleMemory } from '../model/index.js';
/** One decision, as `pleaco autoscale NAME` shows it. */
export type Decision = AutoscaleDecision;

type Rec = { at: number; replicas: number };
type Kind = 'rps' | 'concurrency';

/** One decision's inputs, worked out. */
interface Step {
  policy: AutoscalePolicy;
  kind: Kind;
  target: number;
  now: number;
  current: number;
  stable: number;
  panic: number;
  active: boolean;
  /** The newest sample, for the sentence of a start from zero. */
  latest: MetricSample;
  rec: number;
  recs: Rec[];
  lastActiveAt: number;
}

export function emptyAutoscaleMemory(): AutoscaleMemory {
  return { recommendations: [], panicUntil: null, lastActiveAt: null };
}

function targetOf(policy: AutoscalePolicy): { kind: Kind; target: number } {
  if (policy.targetRps !== undefined && policy.targetRps > 0) return { kind: 'rps', target: policy.targetRps };
  if (policy.targetConcurrency !== undefined && policy.targetConcurrency > 0) return { kind: 'concurrency', target: policy.targetConcurrency };
  throw new PleacoError('bad_request', 'autoscale needs a target above 0: targetRps or targetConcurrency');
}

const clamp = (policy: AutoscalePolicy, n: number): number => Math.min(policy.max, Math.max(policy.min, n));
const isActive = (s: MetricSample): boolean => s.rps > 0 || s.inFlight > 0;
const valueOf = (s: MetricSample, kind: Kind): number => (kind === 'rps' ? s.rps : s.inFlight);
/** ceil that does not turn 30.000000000004 / 10 into 4. */
const ceilDiv = (a: number, b: number): number => Math.ceil(a / b - 1e-9);

function within(samples: readonly MetricSample[], now: number, seconds: number): MetricSample[] {
  return samples.filter((s) => s.at > now - seconds * 1000);
}

function mean(samples: readonly MetricSample[], kind: Kind): number {
  return samples.reduce((sum, s) => sum + valueOf(s, kind), 0) / samples.length;
}

/** The memory's recommendations still in the window; a memory that has none starts with `current`. */
function windowed(memory: AutoscaleMemory, policy: AutoscalePolicy, now: number, current: number): Rec[] {
  const recs = memory.recommendations.filter((r) => r.at > now - policy.windowS * 1000);
  return recs.length > 0 ? recs : [{ at: now, replicas: clamp(policy, current) }];
}

/** At most memoryMax entries: keeps the up-window and every one that is higher than all later ones. */
function bounded(recs: Rec[], now: number): Rec[] {
  if (recs.length <= AUTOSCALE_DEFAULTS.memoryMax) return recs;
  const upFrom = now - AUTOSCALE_DEFAULTS.upWindowS * 1000;
  const kept: Rec[] = [];
  let later = -1;
  for (let i = recs.length - 1; i >= 0; i--) {
    const r = recs[i]!;
    if (r.at > upFrom || r.replicas > later) kept.push(r);
    later = Math.max(later, r.replicas);
  }
  return kept.reverse().slice(-AUTOSCALE_DEFAULTS.memoryMax);
}

/** HPA's ratio with its tolerance; from zero, any traffic asks for one. */
function recommend(stable: number, target: number, current: number, active: boolean): number {
  if (current > 0 && Math.abs(stable / (current * target) - 1) <= AUTOSCALE_DEFAULTS.tolerance) return current;
  const raw = ceilDiv(stable, target);
  return active ? Math.max(raw, 1) : raw;
}

const plural = (n: number): string => `${n} replica${n === 1 ? '' : 's'}`;
const num = (v: number): string => (Number.isInteger(v) ? String(v) : String(Math.round(v * 100) / 100));

function amount(kind: Kind, v: number): string {
  const shown = v >= 100 ? String(Math.round(v)) : v.toFixed(1);
  return kind === 'rps' ? `${shown} req/s` : `${shown} in flight`;
}

/** "42.0 req/s over 2 replicas, target 10/replica". */
function load(st: Step): string {
  return `${amount(st.kind, st.stable)} over ${plural(st.current)}, target ${num(st.target)}/replica`;
}

/** Clamps, then writes the sentence: "<why>: scale up to 5 (max 5)". */
function finish(st: Step, wanted: number, why: string, panic: boolean, atOnce = false): { desired: number; reason: string; panic: boolean } {
  const desired = clamp(st.policy, wanted);
  const verb = desired > st.current ? `scale up to ${desired}${atOnce ? ' at once' : ''}` : desired < st.current ? `scale down to ${desired}` : `stay at ${desired}`;
  const bound = desired !== wanted ? ` (${desired === st.policy.max ? 'max' : 'min'} ${desired})` : '';
  return { desired, reason: `${why}: ${verb}${bound}`, panic };
}

function panicking(st: Step, triggered: boolean, until: number): ReturnType<typeof finish> {
  const wanted = Math.max(st.current, ceilDiv(st.panic, st.target));
  if (triggered) {
    const d = AUTOSCALE_DEFAULTS;
    const why = `panic: ${amount(st.kind, st.panic)} in the last ${d.panicWindowS} s is ≥ ${d.panicThreshold}× the capacity of ${plural(Math.max(st.current, 1))}`;
    return finish(st, wanted, why, true, true);
  }
  const left = Math.ceil((until - st.now) / 1000);
  return finish(st, wanted, `panic for ${left} s more, never scaling down meanwhile; ${load(st)}`, true, true);
}

function scaleUp(st: Step): ReturnType<typeof finish> {
  const d = AUTOSCALE_DEFAULTS;
  if (st.current === 0 && st.active) {
    const seen = `${amount('rps', st.latest.rps)}, ${num(st.latest.inFlight)} in flight`;
    return finish(st, Math.max(1, Math.min(st.rec, d.upLimitPods)), `first requests since zero (${seen})`, false);
  }
  const upFrom = st.now - d.upWindowS * 1000;
  const lowest = Math.min(...st.recs.filter((r) => r.at > upFrom).map((r) => r.replicas));
  if (lowest <= st.current) return finish(st, st.current, `${load(st)}: ${st.rec} needed, scaling up once that holds for ${d.upWindowS} s`, false);
  const limit = Math.max(Math.ceil(st.current * (1 + d.upLimitPercent / 100)), st.current + d.upLimitPods);
  const limited = lowest > limit ? ` (limited from ${lowest})` : '';
  const r = finish(st, Math.min(lowest, limit), load(st), false);
  return { ...r, reason: `${r.reason}${limited}` };
}

function scaleDown(st: Step): ReturnType<typeof finish> {
  const { windowS, min } = st.policy;
  const highest = Math.max(...st.recs.map((r) => r.replicas));
  let wanted = Math.min(st.current, highest);
  const idleS = Math.floor((st.now - st.lastActiveAt) / 1000);
  if (wanted === 0 && min === 0) {
    wanted = 1;
    return finish(st, wanted, `no requests for ${idleS} s (zero after ${windowS} s)`, false);
  }
  if (highest > st.rec) return finish(st, wanted, `stabilizing: highest recommendation in the last ${windowS} s is ${highest} (now ${st.rec})`, false);
  return finish(st, wanted, load(st), false);
}

function steady(st: Step): ReturnType<typeof finish> {
  if (!st.active && st.current === 0) return finish(st, 0, 'no requests', false);
  const ratio = st.current > 0 ? st.stable / (st.current * st.target) : 0;
  const tol = AUTOSCALE_DEFAULTS.tolerance;
  if (Math.abs(ratio - 1) > 1e-9 && Math.abs(ratio - 1) <= tol) return finish(st, st.current, `${load(st)}: within ${Math.round(tol * 100)}% of target`, false);
  return finish(st, st.current, load(st), false);
}

function holdOnMissing(policy: AutoscalePolicy, target: number, current: number, memory: AutoscaleMemory, now: number): { decision: Decision; memory: AutoscaleMemory } {
  const desired = clamp(policy, current);
  const bound = desired !== current ? ` (${desired === policy.max ? 'max' : 'min'} ${desired})` : '';
  const verb = desired === current ? 'stay at' : desired > current ? 'scale up to' : 'scale down to';
  const panicUntil = memory.panicUntil !== null && memory.panicUntil > now ? memory.panicUntil : null;
  const reason = `no metrics in the last ${AUTOSCALE_DEFAULTS.stableWindowS} s: ${verb} ${desired}${bound}`;
  const decision: Decision = { at: now, current, desired, metric: 0, perReplica: null, target, panic: panicUntil !== null, reason };
  return { decision, memory: { recommendations: windowed(memory, policy, now, current), panicUntil, lastActiveAt: now } };
}

/**
 * One decision: the replica count the app should have now. `samples` are cluster-wide sums (any history; only
 * the last `stableWindowS` counts), `current` the replica count in effect, `memory` what the previous decision
 * returned (`emptyAutoscaleMemory()` at first).
 */
export function decide(policy: AutoscalePolicy, samples: readonly MetricSample[], current: number, memory: AutoscaleMemory, now: number): { decision: Decision; memory: AutoscaleMemory } {
  if (!Number.isInteger(current) || current < 0) throw new PleacoError('bad_request', `the current replica count must be an integer ≥ 0, got ${current}`);
  const { kind, target } = targetOf(policy);
  const d = AUTOSCALE_DEFAULTS;
  const reported = samples.filter((s) => s.nodes > 0 && s.at <= now);
  const stableSamples = within(reported, now, d.stableWindowS);
  if (stableSamples.length === 0) return holdOnMissing(policy, target, current, memory, now);

  const lastSeen = Math.max(...reported.filter(isActive).map((s) => s.at), memory.lastActiveAt ?? now);
  const panicSamples = within(reported, now, d.panicWindowS);
  const stable = mean(stableSamples, kind);
  const panic = panicSamples.length > 0 ? mean(panicSamples, kind) : stable;
  const active = stableSamples.some(isActive);
  const rec = clamp(policy, recommend(stable, target, current, active));
  const recs = bounded([...windowed(memory, policy, now, current), { at: now, replicas: rec }], now);
  const latest = stableSamples.reduce((a, b) => (b.at >= a.at ? b : a));
  const st: Step = { policy, kind, target, now, current, stable, panic, active, latest, rec, recs, lastActiveAt: lastSeen };

  const triggered = panic > 0 && panic >= d.panicThreshold * target * Math.max(current, 1);
  const held = memory.panicUntil !== null && memory.panicUntil > now;
  const panicUntil = triggered ? now + d.panicHoldS * 1000 : held ? memory.panicUntil : null;
  const idle = !active && now - lastSeen >= policy.windowS * 1000;
  let r: ReturnType<typeof finish>;
  if (panicUntil !== null) r = panicking(st, triggered, panicUntil);
  else if (idle && policy.min === 0) r = finish(st, 0, `no requests for ${Math.floor((now - lastSeen) / 1000)} s`, false);
  else if (rec > current) r = scaleUp(st);
  else if (rec < current) r = scaleDown(st);
  else r = steady(st);
  if (idle && policy.min === 0 && current > 0) r = { ...r, reason: r.reason.replace('scale down to 0', 'scale to zero') };
  const decision: Decision = { at: now, current, desired: r.desired, metric: stable, perReplica: current > 0 ? stable / current : null, target, panic: r.panic, reason: r.reason };
  return { decision, memory: { recommendations: recs, panicUntil, lastActiveAt: lastSeen } };
}
