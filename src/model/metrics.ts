/**
 * Request metrics per app and proxy node (AppMetrics, soft state `metrics/<node>/<app>`): checking what a
 * proxy posts, the per-app totals of `GET /v1/apps/:name/metrics`, and Prometheus' text exposition format
 * (version 0.0.4) for `GET /metrics`. Pure.
 */
import { PleacoError } from '../errors.js';
import { isAppName } from './names.js';
import type { AppMetrics, StatusCodeCounts } from './records.js';

export const CODE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;
const NUMBERS = ['reqRate', 'reqTotal', 'inFlight', 'queue', 'avgResponseMs', 'avgTotalMs'] as const;
const METRICS_KEY_RE = /^metrics\/([^/]+)\/([^/]+)$/;

/** Summed over nodes; avgResponseMs is the nodes' averages weighted by request rate (by totals when idle). */
export type MetricsTotal = Pick<AppMetrics, 'reqRate' | 'reqTotal' | 'inFlight' | 'queue' | 'codes' | 'avgResponseMs'>;

function bad(message: string): PleacoError {
  return new PleacoError('bad_request', message);
}

function count(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(`${what} must be a number ≥ 0`);
  return v;
}

/** Checks one posted entry under `metrics/<node>/<app>`; the value must name the same node and app. */
export function parseAppMetrics(key: string, value: unknown): AppMetrics {
  const m = METRICS_KEY_RE.exec(key);
  if (!m || !isAppName(m[2])) throw bad(`metrics go under metrics/<node>/<app>, got ${JSON.stringify(key)}`);
  const [, node, app] = m as unknown as [string, string, string];
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw bad(`${key}: the value must be an AppMetrics object`);
  const v = value as Record<string, unknown>;
  if (v.app !== app || v.node !== node) throw bad(`${key}: app and node must be ${app} and ${node}`);
  if (typeof v.at !== 'string' || Number.isNaN(Date.parse(v.at))) throw bad(`${key}: at must be an ISO time`);
  const codesIn = v.codes;
  if (!codesIn || typeof codesIn !== 'object' || Array.isArray(codesIn)) throw bad(`${key}: codes must be an object of counts`);
  const codes = {} as StatusCodeCounts;
  for (const c of CODE_CLASSES) codes[c] = count((codesIn as Record<string, unknown>)[c] ?? 0, `${key}: codes.${c}`);
  const out = { app, node, at: v.at, codes } as AppMetrics;
  for (const f of NUMBERS) out[f] = count(v[f], `${key}: ${f}`);
  return out;
}

const round = (n: number): number => Math.round(n * 100) / 100;

export function emptyCodes(): StatusCodeCounts {
  return { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 };
}

/** The sum over nodes (rates, counts, in-flight) and a weighted average response time. */
export function totalMetrics(nodes: AppMetrics[]): MetricsTotal {
  const t: MetricsTotal = { reqRate: 0, reqTotal: 0, inFlight: 0, queue: 0, codes: emptyCodes(), avgResponseMs: 0 };
  for (const n of nodes) {
    t.reqRate += n.reqRate;
    t.reqTotal += n.reqTotal;
    t.inFlight += n.inFlight;
    t.queue += n.queue;
    for (const c of CODE_CLASSES) t.codes[c] += n.codes[c];
  }
  const weight = (n: AppMetrics): number => (t.reqRate > 0 ? n.reqRate : n.reqTotal);
  const sum = nodes.reduce((s, n) => s + weight(n), 0);
  if (sum > 0) t.avgResponseMs = round(nodes.reduce((s, n) => s + n.avgResponseMs * weight(n), 0) / sum);
  return t;
}
