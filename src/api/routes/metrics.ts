/**
 * Soft state (values with a TTL in this agent's memory: POST /v1/internal/soft) and the request metrics
 * the proxies post there: per app as JSON, and for all apps in Prometheus' text format at GET /metrics.
 */
import { parseAppMetrics, prometheusText, totalMetrics, keys, type AppMetrics } from '../../core/index.js';
import { PleacoError } from '../../errors.js';
import { isValidKey } from '../../state/index.js';
import type { ApiDeps } from '../deps.js';
import { jsonBody } from '../http.js';
import type { RouteDef } from '../registry.js';

export const SOFT = { bodyLimitBytes: 256 * 1024, maxEntriesPerPost: 1000, maxKeys: 20_000, minTtlMs: 1000, maxTtlMs: 5 * 60_000 };

function bad(message: string): PleacoError {
  return new PleacoError('bad_request', message);
}

/** Fresh metrics entries, of existing apps only (a destroyed app's entries just wait for their TTL). */
function freshMetrics(d: ApiDeps, app?: string): AppMetrics[] {
  return d.softState
    .list(keys.metricsPrefix)
    .map((e) => e.value as AppMetrics)
    .filter((m) => (app === undefined ? d.store.get(keys.app(m.app)) !== undefined : m.app === app))
    .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

export function metricsRoutes(d: ApiDeps): RouteDef[] {
  return [
    {
      method: 'POST', path: '/v1/internal/soft', tag: 'internal', summary: 'Set soft-state values with a TTL (memory only; metrics/<node>/<app>: AppMetrics)',
      body: {
        type: 'object', required: ['entries'],
        properties: { entries: { type: 'array', maxItems: SOFT.maxEntriesPerPost, items: { type: 'object', required: ['key', 'value', 'ttlMs'], properties: { key: { type: 'string' }, value: {}, ttlMs: { type: 'integer', minimum: SOFT.minTtlMs, maximum: SOFT.maxTtlMs } } } } },
      },
      handler: async (ctx) => {
        const b = await jsonBody(ctx, SOFT.bodyLimitBytes);
        if (!Array.isArray(b.entries)) throw bad('entries must be an array of {key, value, ttlMs}');
        if (b.entries.length > SOFT.maxEntriesPerPost) throw bad(`at most ${SOFT.maxEntriesPerPost} entries per request`);
        // Check everything before storing anything.
        const checked = b.entries.map((raw: unknown) => {
          const e = (raw ?? {}) as { key?: unknown; value?: unknown; ttlMs?: unknown };
          if (!isValidKey(e.key)) throw bad(`invalid soft-state key ${JSON.stringify(e.key)}`);
          if (e.value === undefined || e.value === null) throw bad(`${e.key}: a value is required`);
          const ttl = e.ttlMs;
          if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < SOFT.minTtlMs || ttl > SOFT.maxTtlMs) {
            throw bad(`${e.key}: ttlMs must be an integer from ${SOFT.minTtlMs} to ${SOFT.maxTtlMs}`);
          }
          const value = e.key.startsWith(keys.metricsPrefix) ? parseAppMetrics(e.key, e.value) : e.value;
          return { key: e.key, value, ttl };
        });
        const added = new Set(checked.filter((e) => !d.softState.has(e.key)).map((e) => e.key)).size;
        if (d.softState.size() + added > SOFT.maxKeys) throw new PleacoError('unavailable', `soft state is full (${SOFT.maxKeys} keys)`);
        for (const e of checked) d.softState.set(e.key, e.value, e.ttl);
        ctx.body = { stored: checked.length };
      },
    },
    {
      method: 'GET', path: '/v1/apps/:name/metrics', tag: 'metrics', summary: 'Request metrics of the app per proxy node, and their total',
      handler: async (ctx) => {
        const app = d.apps.get(ctx.params.name!).name;
        const nodes = freshMetrics(d, app);
        ctx.body = { app, nodes, total: totalMetrics(nodes) };
      },
    },
    {
      method: 'GET', path: '/metrics', tag: 'metrics', produces: 'text/plain; version=0.0.4', summary: 'Request metrics of every app in Prometheus text format (bearer token required)',
      handler: async (ctx) => {
        ctx.set('content-type', 'text/plain; version=0.0.4; charset=utf-8');
        ctx.set('cache-control', 'no-store');
        ctx.body = prometheusText(freshMetrics(d));
      },
    },
  ];
}
