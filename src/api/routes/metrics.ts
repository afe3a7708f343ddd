/**
 * Soft state (values with a TTL in this agent's memory: POST /v1/internal/soft) and the request metrics
 * the proxies post there: per app as JSON, and for all apps in Prometheus' text format at GET /metrics.
 */
import { autoscaleText, prometheusText } from '../prometheus.js';
import { parseSoftEntries, ROUTES, SOFT } from '../../link/index.js';
import { totalMetrics, keys, newestAutoscaleStatus, type AppMetrics, type AutoscaleStatus } from '../../model/index.js';
import { PleacoError } from '../../errors.js';
import type { ApiDeps } from '../deps.js';
import { jsonBody } from '../http.js';
import type { RouteDef } from '../registry.js';


/** Fresh metrics entries, of existing apps only (a destroyed app's entries just wait for their TTL). */
function freshMetrics(d: ApiDeps, app?: string): AppMetrics[] {
  return d.softState
    .list(keys.metricsPrefix)
    .map((e) => e.value as AppMetrics)
    .filter((m) => (app === undefined ? d.store.get(keys.app(m.app)) !== undefined : m.app === app))
    .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

/** The newest autoscaling status record of each app that still has a policy. */
function autoscaled(d: ApiDeps): AutoscaleStatus[] {
  return d.store
    .list(keys.autoscalePrefix)
    .map((e) => newestAutoscaleStatus(d.store, e.key.slice(keys.autoscalePrefix.length)))
    .filter((s): s is AutoscaleStatus => s !== null);
}

export function metricsRoutes(d: ApiDeps): RouteDef[] {
  return [
    {
      ...ROUTES.soft, tag: 'internal', summary: 'Set soft-state values with a TTL (memory only; metrics/<node>/<app>: AppMetrics)',
      body: {
        type: 'object', required: ['entries'],
        properties: { entries: { type: 'array', maxItems: SOFT.maxEntriesPerPost, items: { type: 'object', required: ['key', 'value', 'ttlMs'], properties: { key: { type: 'string' }, value: {}, ttlMs: { type: 'integer', minimum: SOFT.minTtlMs, maximum: SOFT.maxTtlMs } } } } },
      },
      handler: async (ctx) => {
        const checked = parseSoftEntries(await jsonBody(ctx, SOFT.bodyLimitBytes));
        const added = new Set(checked.filter((e) => !d.softState.has(e.key)).map((e) => e.key)).size;
        if (d.softState.size() + added > SOFT.maxKeys) throw new PleacoError('unavailable', `soft state is full (${SOFT.maxKeys} keys)`);
        for (const e of checked) d.softState.set(e.key, e.value, e.ttl);
        ctx.body = { stored: checked.length };
      },
    },
    {
      method: 'GET', path: '/v1/apps/:name/metrics', tag: 'metrics', summary: 'Request metrics of the app per proxy node, and their total',
      handler: async (ctx) => {
        const app = d.apps.get(ctx.params.name).name;
        const nodes = freshMetrics(d, app);
        ctx.body = { app, nodes, total: totalMetrics(nodes) };
      },
    },
    {
      method: 'GET', path: '/metrics', tag: 'metrics', produces: 'text/plain; version=0.0.4', summary: 'Request metrics of every app in Prometheus text format (bearer token required)',
      handler: async (ctx) => {
        ctx.set('content-type', 'text/plain; version=0.0.4; charset=utf-8');
        ctx.set('cache-control', 'no-store');
        ctx.body = prometheusText(freshMetrics(d)) + autoscaleText(autoscaled(d));
      },
    },
  ];
}
