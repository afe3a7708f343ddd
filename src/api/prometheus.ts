/** Prometheus' text exposition format (version 0.0.4) of every app's request metrics, for `GET /metrics`. Pure. */
import { CODE_CLASSES, type AppMetrics, type AutoscaleStatus } from '../model/index.js';

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

/** The autoscaler's figures per app, from its owner's status records (one per app: the newest). */
export function autoscaleText(all: AutoscaleStatus[]): string {
  if (all.length === 0) return '';
  const sorted = [...all].sort((a, b) => (a.app < b.app ? -1 : 1));
  const families: [string, string, (s: AutoscaleStatus) => number][] = [
    ['pleaco_autoscale_desired_replicas', 'Replicas the autoscaler decided for the app.', (s) => s.desired],
    ['pleaco_autoscale_metric', "The cluster's total of the metric the app is autoscaled on (req/s or in-flight requests).", (s) => s.metric],
    ['pleaco_autoscale_panic', '1 while the autoscaler is in panic mode for the app (scaling up only).', (s) => (s.panic ? 1 : 0)],
    ['pleaco_autoscale_decisions', 'Replica changes the autoscaler made for the app, of the last ones it keeps.', (s) => s.decisions.length],
  ];
  const lines: string[] = [];
  for (const [name, help, value] of families) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const s of sorted) lines.push(`${name}{app="${escapeLabel(s.app)}",node="${escapeLabel(s.node)}"} ${sample(value(s))}`);
  }
  return lines.join('\n') + '\n';
}
