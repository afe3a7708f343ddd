/**
 * An app's autoscaling policy: the record, its limits and its one validator. It lives here, next to the health
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
