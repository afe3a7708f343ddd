/** Routes for the subsystems on this node (builder, runner): the watch stream, writes, build claims and logs, releases. */
import { PleacoError } from '../../errors.js';
import type { Entry, WriteOp } from '../../state/index.js';
import type { ApiDeps } from '../deps.js';
import { jsonBody, ndjson, readRaw } from '../http.js';
import type { RouteDef } from '../registry.js';

const LOG_LIMIT = 1024 * 1024;

export function internalRoutes(d: ApiDeps): RouteDef[] {
  const limit = Math.max(d.config.api.bodyLimitBytes, 4 * 1024 * 1024);
  return [
    {
      method: 'GET', path: '/v1/internal/watch', tag: 'internal', stream: true, query: { prefix: 'comma-separated key prefixes' },
      summary: 'State entries under the prefixes, then every change',
      handler: async (ctx) => {
        const prefixes = String(ctx.query.prefix ?? '').split(',').filter(Boolean);
        const match = (k: string) => prefixes.length === 0 || prefixes.some((p) => k.startsWith(p));
        const out = ndjson(ctx);
        const onChange = (e: Entry) => {
          if (match(e.key)) out.send({ type: 'entry', entry: e });
        };
        d.store.on('change', onChange);
        for (const e of d.store.entries()) if (match(e.key)) out.send({ type: 'entry', entry: e });
        out.send({ type: 'synced' });
        const ping = setInterval(() => out.send({ type: 'ping' }), 15_000);
        await out.closed;
        clearInterval(ping);
        d.store.off('change', onChange);
      },
    },
    {
      method: 'POST', path: '/v1/internal/state', tag: 'internal', summary: 'Write state entries (acknowledged once durable)',
      body: { type: 'object', required: ['ops'], properties: { ops: { type: 'array' } } },
      handler: async (ctx) => {
        const b = await jsonBody(ctx, limit);
        if (!Array.isArray(b.ops)) throw new PleacoError('bad_request', 'ops must be an array of {key, value}');
        const ops: WriteOp[] = b.ops.map((o: unknown) => {
          const op = o as { key?: unknown; value?: unknown };
          if (typeof op?.key !== 'string' || !('value' in op)) throw new PleacoError('bad_request', 'each op needs a key and a value (null deletes)');
          return { key: op.key, value: op.value };
        });
        ctx.body = { entries: await d.store.batch(ops) };
      },
    },
    {
      method: 'POST', path: '/v1/internal/apps/:name/builds/:id/claim', tag: 'internal', summary: 'A builder takes a queued build',
      handler: async (ctx) => {
        const b = await jsonBody(ctx, limit);
        if (typeof b.node !== 'string') throw new PleacoError('bad_request', 'node is required');
        ctx.body = { build: await d.apps.claim(ctx.params.name!, ctx.params.id!, b.node) };
      },
    },
    {
      method: 'POST', path: '/v1/internal/apps/:name/builds/:id/log', tag: 'internal', summary: 'Append lines to a build log (text/plain)',
      handler: async (ctx) => {
        d.apps.build(ctx.params.name!, ctx.params.id!);
        const raw = await readRaw(ctx, LOG_LIMIT);
        if (raw.length) await d.buildLogs.append(ctx.params.name!, ctx.params.id!, raw.toString('utf8'));
        ctx.status = 204;
      },
    },
    {
      method: 'POST', path: '/v1/internal/apps/:name/releases', tag: 'internal', summary: 'Record a tested build as the new current release',
      handler: async (ctx) => {
        const b = await jsonBody(ctx, limit);
        for (const k of ['build', 'commit', 'image', 'imageId'] as const) if (typeof b[k] !== 'string') throw new PleacoError('bad_request', `${k} is required`);
        if (typeof b.port !== 'number' || !Number.isInteger(b.port) || b.port < 1 || b.port > 65535) throw new PleacoError('bad_request', 'port must be 1-65535');
        const release = await d.apps.createRelease(ctx.params.name!, {
          build: b.build as string,
          commit: b.commit as string,
          image: b.image as string,
          imageId: b.imageId as string,
          test: (b.test ?? null) as never,
          ...(b.scan && typeof b.scan === 'object' ? { scan: b.scan as never } : {}),
          port: b.port,
          ...(typeof b.description === 'string' ? { description: b.description } : {}),
        });
        d.log.info('release created', { app: release.app, release: release.number, commit: release.commit });
        ctx.status = 201;
        ctx.body = { release };
      },
    },
    {
      method: 'POST', path: '/v1/internal/apps/:name/releases/:number/fail', tag: 'internal',
      summary: "A runner gives up a release whose rollout failed; the release it replaced becomes current again",
      handler: async (ctx) => {
        const b = await jsonBody(ctx, limit);
        const n = Number(ctx.params.number);
        if (!Number.isSafeInteger(n) || n < 1) throw new PleacoError('bad_request', 'release number must be a positive integer');
        for (const k of ['reason', 'node', 'slot'] as const) if (typeof b[k] !== 'string' || b[k].length === 0 || b[k].length > 1000) throw new PleacoError('bad_request', `${k} is required (a string of at most 1000 characters)`);
        if (b.lastLog !== undefined && typeof b.lastLog !== 'string') throw new PleacoError('bad_request', 'lastLog must be a string');
        if (b.rollbackTo !== null && !Number.isSafeInteger(b.rollbackTo)) throw new PleacoError('bad_request', 'rollbackTo must be a release number or null');
        const release = await d.apps.failRelease(ctx.params.name!, n, {
          reason: b.reason as string,
          node: b.node as string,
          slot: b.slot as string,
          rollbackTo: b.rollbackTo as number | null,
          ...(typeof b.lastLog === 'string' ? { lastLog: b.lastLog } : {}),
        });
        d.log.warn('release failed', { app: release.app, release: release.number, reason: release.failure?.reason, rolledBackTo: release.failure?.rolledBackTo });
        ctx.body = { release };
      },
    },
  ];
}
