/**
 * An app's autoscaling policy (`autoscale/<app>`): the record, its limits and its one validator; and what the app's
 * owner decided (`obs/<node>/autoscale/<app>`: the metric now, the last decisions, a short history for the sparkline,
 * and the decision's memory, so a new owner goes on where the last one stopped). It lives here, next to the health
 * check, so that every layer that reads one (the API, `pleaco.json` in the builder, the autoscaler in `scale/`)
 * checks it the same way. The decision itself is `scale/autoscale.ts`.
 */
import { PleacoError } from '../errors.js';

/** How many replicas an app may have and what load one replica should carry. */
export interface AutoscalePolicy {
  /** 0..max; 0 allows scale to zero after `windowS` without a request. */
  min: number;
  /** 1..100. */
  max: number;
  /** Requests per second per replica (exactly one of targetRps / targetConcurrency). */
  targetRps?: number;
  /** In-flight requests per replica. */
  targetConcurrency?: number;
  /** Scale-down stabilization window in seconds; also the idle time before scale to zero. */
  windowS: number;
}

export const AUTOSCALE_LIMITS = { replicas: [0, 100], target: [0.01, 1_000_000], windowS: [1, 3600] } as const;
export const DEFAULT_AUTOSCALE_WINDOW_S = 300;
/** What a policy left out of `min` gets (HPA's minReplicas default). */
export const DEFAULT_AUTOSCALE_MIN = 1;

const FIELDS = ['min', 'max', 'targetRps', 'targetConcurrency', 'windowS'] as const;

function bad(message: string): PleacoError {
  return new PleacoError('bad_request', message);
}

function shown(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

function integer(v: unknown, what: string, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw bad(`autoscale ${what} must be an integer from ${lo} to ${hi}, got ${shown(v)}`);
  return v;
}

function target(v: unknown, what: string): number {
  const [lo, hi] = AUTOSCALE_LIMITS.target;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) throw bad(`autoscale ${what} must be a number from ${lo} to ${hi} per replica, got ${shown(v)}`);
  return v;
}

/**
 * Checks an autoscaling policy `{min, max, targetRps | targetConcurrency, windowS}`: `max` and exactly one target
 * are required, `min` defaults to 1 and `windowS` to 300.
 */
export function validateAutoscalePolicy(input: unknown): AutoscalePolicy {
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw bad('the autoscale policy must be an object {min, max, targetRps or targetConcurrency, windowS}');
  const given = input as Record<string, unknown>;
  const unknown = Object.keys(given).find((k) => !(FIELDS as readonly string[]).includes(k));
  if (unknown !== undefined) throw bad(`unknown autoscale field ${shown(unknown)} (use min, max, targetRps, targetConcurrency, windowS)`);
  const [lo, hi] = AUTOSCALE_LIMITS.replicas;
  if (given.max === undefined) throw bad('autoscale max is required: the most replicas the app may have, from 1 to 100');
  const max = integer(given.max, 'max', Math.max(lo, 1), hi);
  const min = given.min === undefined ? Math.min(DEFAULT_AUTOSCALE_MIN, max) : integer(given.min, 'min', lo, hi);
  if (min > max) throw bad(`autoscale min (${min}) must not be above max (${max})`);
  const hasRps = given.targetRps !== undefined;
  const hasConc = given.targetConcurrency !== undefined;
  if (hasRps && hasConc) throw bad('autoscale takes one target, not both: targetRps (requests/s per replica) or targetConcurrency (in-flight requests per replica)');
  if (!hasRps && !hasConc) throw bad('autoscale needs a target: targetRps (requests/s per replica) or targetConcurrency (in-flight requests per replica)');
  const [wlo, whi] = AUTOSCALE_LIMITS.windowS;
  const windowS = given.windowS === undefined ? DEFAULT_AUTOSCALE_WINDOW_S : integer(given.windowS, 'windowS', wlo, whi);
  return hasRps ? { min, max, targetRps: target(given.targetRps, 'targetRps'), windowS } : { min, max, targetConcurrency: target(given.targetConcurrency, 'targetConcurrency'), windowS };
}

/** One decision of the autoscaler, as `pleaco autoscale NAME` shows it. */
export interface AutoscaleDecision {
  /** Epoch ms. */
  at: number;
  current: number;
  desired: number;
  /** The metric the decision used: the cluster's total req/s or in-flight requests. */
  metric: number;
  /** That metric per current replica (null without replicas). */
  perReplica: number | null;
  target: number;
  panic: boolean;
  reason: string;
}

/** What the autoscaler keeps between decisions (scale/autoscale.ts). */
export interface AutoscaleMemory {
  recommendations: { at: number; replicas: number }[];
  panicUntil: number | null;
  lastActiveAt: number | null;
}

/** The owner's record of an app's autoscaling (`obs/<owner>/autoscale/<app>`). */
export interface AutoscaleStatus {
  app: string;
  /** The node that decided (the app's owner at the time). */
  node: string;
  /** ISO time of the record. */
  at: string;
  /** The metric now (cluster total) and how many proxies reported it. */
  metric: number;
  nodes: number;
  desired: number;
  panic: boolean;
  /** The last decisions that changed the replica count (newest last, at most AUTOSCALE_KEEP_DECISIONS). */
  decisions: AutoscaleDecision[];
  /** The metric over the last minutes, one value per AUTOSCALE_HISTORY_STEP_S (oldest first; null: no data). */
  history: (number | null)[];
  memory: AutoscaleMemory;
}

export const AUTOSCALE_KEEP_DECISIONS = 20;
export const AUTOSCALE_HISTORY_STEP_S = 10;
export const AUTOSCALE_HISTORY_POINTS = 60;
