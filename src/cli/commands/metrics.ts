/** metrics: request rate, in-flight requests, response codes and latency per proxy node. */
import type { AppMetrics, StatusCodeCounts } from '../../model/index.js';
import { appPath, EXIT, type Command } from '../context.js';
import { header, json, table } from '../format.js';

interface Row {
  reqRate: number;
  inFlight: number;
  codes: StatusCodeCounts;
  avgResponseMs: number;
}

const num = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(1));

function cells(label: string, r: Row): (string | number)[] {
  return [label, num(r.reqRate), r.inFlight, r.codes['2xx'], r.codes['4xx'], r.codes['5xx'], num(r.avgResponseMs)];
}

export const metrics: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const body = await ctx.client().request<{ app: string; nodes: AppMetrics[]; total: Row }>('GET', appPath(name, '/metrics'));
  if (ctx.json) {
    ctx.out.out(json(body));
    return EXIT.ok;
  }
  ctx.out.out(header(`${name} requests`, ctx.out.color));
  if (body.nodes.length === 0) {
    ctx.out.out('No metrics yet: the proxy reports every 2 s while it runs (is pleaco-proxy up?)');
    return EXIT.ok;
  }
  const rows = body.nodes.map((n) => cells(n.node, n));
  rows.push(cells('total', body.total));
  for (const line of table(['node', 'req/s', 'in-flight', '2xx', '4xx', '5xx', 'avg ms'], rows)) ctx.out.out(line);
  return EXIT.ok;
};
