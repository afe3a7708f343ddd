/** An app's host names (its implicit `<app>.<domain>` and the ones added) and its health check. */
import type { ApiDeps } from '../deps.js';
import { jsonBody } from '../http.js';
import type { RouteDef } from '../registry.js';

const HOST = { type: 'string', maxLength: 253, description: 'a DNS name like www.example.com (lowercased; no wildcards)' };
const HEALTHCHECK = {
  type: 'object',
  additionalProperties: false,
  properties: {
    path: { type: 'string', pattern: '^/', maxLength: 1024 },
    intervalMs: { type: 'integer', minimum: 500, maximum: 60_000 },
    rise: { type: 'integer', minimum: 1, maximum: 10 },
    fall: { type: 'integer', minimum: 1, maximum: 10 },
  },
};

export function domainRoutes(d: ApiDeps): RouteDef[] {
  const limit = d.config.api.bodyLimitBytes;
  return [
    {
      method: 'GET', path: '/v1/apps/:name/domains', tag: 'domains', summary: 'Host names routed to the app, its implicit <app>.<domain> first',
      handler: async (ctx) => void (ctx.body = { domains: d.domains.list(ctx.params.name) }),
    },
    {
      method: 'POST', path: '/v1/apps/:name/domains', tag: 'domains', summary: 'Route one more host name to the app',
      body: { type: 'object', required: ['host'], properties: { host: HOST } },
      handler: async (ctx) => {
        const b = await jsonBody(ctx, limit);
        const added = await d.domains.addDomain(ctx.params.name, b.host);
        d.log.info('domain added', { app: added.app, host: added.host });
        ctx.status = 201;
        ctx.body = { domain: { host: added.host, implicit: false, createdAt: added.createdAt } };
      },
    },
    {
      method: 'DELETE', path: '/v1/apps/:name/domains/:host', tag: 'domains', summary: 'Stop routing an added host name to the app',
      handler: async (ctx) => {
        await d.domains.removeDomain(ctx.params.name, ctx.params.host);
        d.log.info('domain removed', { app: ctx.params.name, host: ctx.params.host?.toLowerCase() });
        ctx.status = 204;
      },
    },
    {
      method: 'GET', path: '/v1/apps/:name/healthcheck', tag: 'domains', summary: "The app's HTTP health check (defaults when never set)",
      handler: async (ctx) => void (ctx.body = { healthcheck: d.domains.healthcheck(ctx.params.name) }),
    },
    {
      method: 'PUT', path: '/v1/apps/:name/healthcheck', tag: 'domains', summary: "Replace the app's health check (fields left out take the defaults)",
      body: HEALTHCHECK,
      handler: async (ctx) => {
        const b = await jsonBody(ctx, limit);
        const healthcheck = await d.domains.setHealthcheck(ctx.params.name, b);
        d.log.info('health check set', { app: ctx.params.name, ...healthcheck });
        ctx.body = { healthcheck };
      },
    },
  ];
}
