/**
 * An app's HTTP health check (`health/<app>`): the record, its defaults and its one validator. The runner gates a
 * rollout on it and the proxy runs it against every replica, so what passes here must be safe to put into
 * HAProxy's configuration unquoted.
 */
import { PleacoError } from '../errors.js';

/** An app's HTTP health check, as the proxy runs it against every replica. */
export interface HealthCheck {
  /** Request path; a 2xx or 3xx answer counts as healthy. */
  path: string;
  intervalMs: number;
  /** Consecutive passing checks before a replica takes traffic. */
  rise: number;
  /** Consecutive failing checks before it leaves rotation. */
  fall: number;
  /**
   * How long a new release's replica may take to pass `rise` checks in a rollout before the release is
   * given up and the previous one made current again (automatic rollback).
   */
  deadlineMs: number;
}

export const DEFAULT_HEALTHCHECK: Readonly<HealthCheck> = Object.freeze({ path: '/', intervalMs: 2000, rise: 2, fall: 3, deadlineMs: 60_000 });

/** What the proxy can put in HAProxy's config unquoted (no spaces, quotes, '#', '$', ';', '%', '\\'). */
export const HEALTH_PATH_RE = /^\/[A-Za-z0-9._~!*+,=:@/?&-]*$/;
export const HEALTH_LIMITS = { pathMax: 1024, intervalMs: [500, 60_000], rise: [1, 10], fall: [1, 10], deadlineMs: [1000, 3_600_000] } as const;

function bad(message: string): PleacoError {
  return new PleacoError('bad_request', message);
}

function shown(raw: string): string {
  return JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
}

/** True for a health-check path the proxy may write into its configuration. */
export function isHealthPath(p: unknown): p is string {
  return typeof p === 'string' && p.length <= HEALTH_LIMITS.pathMax && HEALTH_PATH_RE.test(p);
}

/** Checks a health check; fields left out take DEFAULT_HEALTHCHECK's values. */
export function validateHealthcheck(input: unknown): HealthCheck {
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw bad('the health check must be an object {path, intervalMs, rise, fall, deadlineMs}');
  const given = input as Record<string, unknown>;
  const unknown = Object.keys(given).find((k) => !(k in DEFAULT_HEALTHCHECK));
  if (unknown !== undefined) throw bad(`unknown health check field ${shown(unknown)} (use path, intervalMs, rise, fall, deadlineMs)`);
  const hc: HealthCheck = { ...DEFAULT_HEALTHCHECK };
  if (given.path !== undefined) {
    const p = given.path;
    if (typeof p !== 'string' || !p.startsWith('/')) throw bad(`health check path must start with '/', got ${shown(String(p))}`);
    if (p.length > HEALTH_LIMITS.pathMax) throw bad(`health check path is over ${HEALTH_LIMITS.pathMax} characters`);
    // eslint-disable-next-line no-control-regex
    if (/[\s\u0000-\u001f\u007f]/.test(p)) throw bad(`health check path ${shown(p)} must not contain spaces or control characters`);
    if (!HEALTH_PATH_RE.test(p)) throw bad(`health check path ${shown(p)} may only contain letters, digits and - . _ ~ ! * + , = : @ / ? &`);
    hc.path = p;
  }
  for (const f of ['intervalMs', 'rise', 'fall', 'deadlineMs'] as const) {
    const v = given[f];
    if (v === undefined) continue;
    const [min, max] = HEALTH_LIMITS[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`health check ${f} must be an integer from ${min} to ${max}, got ${shown(String(v))}`);
    hc[f] = v;
  }
  return hc;
}
