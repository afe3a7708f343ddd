/**
 * Request metrics per app and proxy node (AppMetrics, soft state `metrics/<node>/<app>`): checking what a
 * proxy posts, the per-app totals of `GET /v1/apps/:name/metrics`, and Prometheus' text exposition format
 * (version 0.0.4) for `GET /metrics`. Pure.
 */
import { PleacoError } from '../errors.js';
import { APP_NAME_RE, type AppMetrics, type StatusCodeCounts } from './model.js';

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
  if (!m || !APP_NAME_RE.test(m[2]!)) throw bad(`metrics go under metrics/<node>/<app>, got ${JSON.stringify(key)}`);
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

/** A label value in the exposition format: backslash, double quote and newline escaped. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function sample(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

interface Family {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  values: (m: AppMetrics) => [Record<string, string>, number][];
}

const FAMILIES: Family[] = [
  { name: 'pleaco_app_requests_per_second', type: 'gauge', help: 'HTTP requests per second over the last second.', values: (m) => [[{}, m.reqRate]] },
  { name: 'pleaco_app_requests_total', type: 'counter', help: 'HTTP requests since the proxy started.', values: (m) => [[{}, m.reqTotal]] },
  { name: 'pleaco_app_in_flight', type: 'gauge', help: 'HTTP requests being served now.', values: (m) => [[{}, m.inFlight]] },
  {
    name: 'pleaco_app_responses_total', type: 'counter', help: 'HTTP responses by status class since the proxy started.',
    values: (m) => CODE_CLASSES.map((c) => [{ code: c }, m.codes[c]]),
  },
  { name: 'pleaco_app_response_time_ms', type: 'gauge', help: 'Average response time over the last 1024 requests, in milliseconds.', values: (m) => [[{}, m.avgResponseMs]] },
];

/** Prometheus text format 0.0.4: HELP and TYPE for each family, one sample per app, node (and code). */
export function prometheusText(all: AppMetrics[]): string {
  const sorted = [...all].sort((a, b) => (a.app === b.app ? (a.node < b.node ? -1 : a.node > b.node ? 1 : 0) : a.app < b.app ? -1 : 1));
  const lines: string[] = [];
  for (const f of FAMILIES) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const m of sorted) {
      for (const [extra, v] of f.values(m)) {
        const labels = Object.entries({ app: m.app, node: m.node, ...extra }).map(([k, val]) => `${k}="${escapeLabel(val)}"`);
        lines.push(`${f.name}{${labels.join(',')}} ${sample(v)}`);
      }
    }
  }
  return lines.join('\n') + '\n';
}
