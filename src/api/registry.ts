/**
 * Routes are declared once, with a summary and body schema, and both registered on the router and
 * described in the OpenAPI document from the same table, so the two never drift apart.
 */
import Router from '@koa/router';
import type { Ctx } from './http.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteDef {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  /** Routes are authenticated unless this is false (health) or they authenticate themselves (webhooks). */
  auth?: false | 'hmac';
  body?: Record<string, unknown>;
  /** Response is an ndjson stream. */
  stream?: boolean;
  /** Media type of a response that is not JSON (e.g. Prometheus text). */
  produces?: string;
  query?: Record<string, string>;
  handler: (ctx: Ctx) => Promise<void>;
}

export function buildRouter(defs: RouteDef[]): Router {
  const router = new Router();
  for (const d of defs) router.register(d.path, [d.method], async (ctx) => d.handler(ctx));
  return router;
}

/** True for the routes that do not need the bearer token. */
export function openRoutes(defs: RouteDef[]): (path: string, method: string) => boolean {
  const open = defs.filter((d) => d.auth !== undefined).map((d) => ({ method: d.method, re: new RegExp('^' + d.path.replace(/:[a-z]+/g, '[^/]+') + '$') }));
  return (path, method) => open.some((o) => (o.method === method || (o.method === 'GET' && method === 'HEAD')) && o.re.test(path));
}

export function openApi(defs: RouteDef[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const d of defs) {
    const p = d.path.replace(/:([a-z]+)/g, '{$1}');
    const params = [...d.path.matchAll(/:([a-z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    for (const [name, description] of Object.entries(d.query ?? {})) params.push({ name, in: 'query', required: false, schema: { type: 'string' }, description } as never);
    const op: Record<string, unknown> = {
      summary: d.summary,
      tags: [d.tag],
      parameters: params,
      responses: {
        default: { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        '2XX': { description: 'success', content: { [d.produces ?? (d.stream ? 'application/x-ndjson' : 'application/json')]: {} } },
      },
    };
    if (d.auth === false) op.security = [];
    if (d.auth === 'hmac') op.security = [{ githubSignature: [] }];
    if (d.body) op.requestBody = { required: true, content: { 'application/json': { schema: d.body } } };
    (paths[p] ??= {})[d.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'pleaco admin API', version },
    security: [{ bearer: [] }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        githubSignature: { type: 'apiKey', in: 'header', name: 'X-Hub-Signature-256' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
        },
      },
    },
    paths,
  };
}
