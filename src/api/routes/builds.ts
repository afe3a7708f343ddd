import { PleacoError } from '../../errors.js';
import type { Build } from '../../model/index.js';
import { diskFull, lowDisks } from '../../runtime/index.js';
import type { ApiDeps } from '../deps.js';
import { streamDeploy } from '../deploystream.js';
import { jsonBody } from '../http.js';
import type { RouteDef } from '../registry.js';

const TRIGGERS: Build['trigger'][] = ['api', 'poll', 'up'];

export function buildRoutes(d: ApiDeps): RouteDef[] {
  const limit = d.config.api.bodyLimitBytes;
  return [
    {
      method: 'POST', path: '/v1/apps/:name/deploys', tag: 'builds', summary: 'Build, test and release a ref (default: the app branch)',
      body: { type: 'object', properties: { ref: { type: 'string' }, trigger: { enum: TRIGGERS } } },
      handler: async (ctx) => {
        const b = await jsonBody(ctx, limit);
        // No local existence check: in a cluster the app's owner may know an app this node has not heard of yet;
        // enqueue answers 404 from there.
        const trigger = (b.trigger ?? 'api') as Build['trigger'];
        if (!TRIGGERS.includes(trigger)) throw new PleacoError('bad_request', `trigger must be one of ${TRIGGERS.join(', ')}`);
        const engine = d.engine.status(); // as last checked: a wedged engine refuses the deploy at once
        if (!engine.ok) throw new PleacoError('docker_unavailable', `cannot deploy: ${engine.error} at ${d.config.docker.socketPath}`);
        const min = d.config.disk.minFreeBytes;
        const low = await lowDisks([d.config.stateDir, d.engine.dataRoot()], min);
        if (low.length) throw diskFull(low, min, 'the deploy was refused');
        const res = await d.apps.enqueue(ctx.params.name, b.ref, trigger);
        d.log.info('build queued', { app: ctx.params.name, build: res.build.id, ref: res.build.ref, trigger, replaced: res.replaced });
        ctx.status = 202;
        ctx.body = res;
      },
    },
    { method: 'GET', path: '/v1/apps/:name/builds', tag: 'builds', summary: 'List builds, newest first', handler: async (ctx) => void (ctx.body = { builds: d.apps.builds(ctx.params.name) }) },
    {
      method: 'GET', path: '/v1/apps/:name/builds/:id', tag: 'builds', summary: 'Show a build',
      handler: async (ctx) => {
        d.apps.get(ctx.params.name);
        ctx.body = { build: d.apps.build(ctx.params.name, ctx.params.id) };
      },
    },
    {
      method: 'GET', path: '/v1/apps/:name/builds/:id/events', tag: 'builds', stream: true, query: { follow: '1 to follow until the deploy is done' },
      summary: 'The build log and progress of a deploy as ndjson events',
      handler: async (ctx) => {
        d.apps.get(ctx.params.name);
        d.apps.build(ctx.params.name, ctx.params.id);
        await streamDeploy(ctx, d, ctx.params.name, ctx.params.id, ctx.query.follow === '1' || ctx.query.follow === 'true');
      },
    },
  ];
}
