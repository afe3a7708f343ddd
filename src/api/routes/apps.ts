import { PleacoError } from '../../errors.js';
import type { ApiDeps } from '../deps.js';
import { jsonBody } from '../http.js';
import type { RouteDef } from '../registry.js';
import { appInfo, appSummary, proxyStatus, releaseView, resourcesView, slotsOf } from '../views.js';

const NAME = { type: 'string', pattern: '^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$' };
const RESOURCES = {
  type: 'object',
  properties: { memoryBytes: { type: ['integer', 'string', 'null'] }, cpus: { type: ['number', 'null'] }, pids: { type: ['integer', 'null'] } },
};

export function appRoutes(d: ApiDeps): RouteDef[] {
  const { apps, store } = d;
  const limit = d.config.api.bodyLimitBytes;
  const info = (name: string) => {
    const app = apps.get(name);
    const builds = apps.builds(name);
    const routing = { domains: d.domains.list(name), proxy: proxyStatus(store, d.nodeId) };
    const release = apps.current(name);
    const resources = resourcesView(app.resources, release, d.config.app);
    return appInfo(app, release, apps.replicas(name), slotsOf(d, name), builds[0] ?? null, Object.keys(apps.config(name)).sort(), routing, resources);
  };
  const parseRelease = (v: unknown): number | undefined => {
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^v?\d+$/.test(v) ? Number(v.replace(/^v/, '')) : NaN;
    if (!Number.isSafeInteger(n) || n < 1) throw new PleacoError('bad_request', `release must be a number like 3 or v3, got ${JSON.stringify(v)}`);
    return n;
  };
  return [
    {
      method: 'GET', path: '/v1/apps', tag: 'apps', summary: 'List apps',
      handler: async (ctx) => {
        const proxy = proxyStatus(store, d.nodeId);
        ctx.body = { apps: apps.list().map((a) => appSummary(a, apps.current(a.name), apps.replicas(a.name), slotsOf(d, a.name), proxy)) };
      },
    },
    {
      method: 'POST', path: '/v1/apps', tag: 'apps', summary: 'Create an app from a git repository',
      body: { type: 'object', required: ['name', 'repo'], properties: { name: NAME, repo: { type: 'string' }, branch: { type: 'string' } } },
      handler: async (ctx) => {
        const b = await jsonBody(ctx, limit);
        const app = await apps.create({ name: b.name, repo: b.repo, branch: b.branch });
        d.log.info('app created', { app: app.name });
        ctx.status = 201;
        ctx.body = { app: info(app.name) };
      },
    },
    { method: 'GET', path: '/v1/apps/:name', tag: 'apps', summary: 'Show an app', handler: async (ctx) => void (ctx.body = { app: info(ctx.params.name) }) },
    {
      method: 'DELETE', path: '/v1/apps/:name', tag: 'apps', summary: 'Destroy an app, its releases, containers and images',
      handler: async (ctx) => {
        await apps.destroy(ctx.params.name);
        await d.buildLogs.removeApp(ctx.params.name);
        d.log.info('app destroyed', { app: ctx.params.name });
        ctx.status = 204;
      },
    },
    {
      method: 'GET', path: '/v1/apps/:name/releases', tag: 'releases', summary: 'List releases, newest first',
      handler: async (ctx) => void (ctx.body = { releases: apps.releases(ctx.params.name).map(releaseView), current: apps.current(ctx.params.name)?.number ?? null }),
    },
    {
      method: 'POST', path: '/v1/apps/:name/rollback', tag: 'releases', summary: 'Roll back to an earlier release (default: the previous one)',
      body: { type: 'object', properties: { release: { type: ['integer', 'string'] } } },
      handler: async (ctx) => {
        const b = await jsonBody(ctx, limit);
        const r = await apps.rollback(ctx.params.name, parseRelease(b.release));
        d.log.info('rollback', { app: r.app, release: r.number, from: r.from });
        ctx.status = 201;
        ctx.body = { release: releaseView(r) };
      },
    },
    {
      method: 'GET', path: '/v1/apps/:name/ps', tag: 'processes', summary: 'Replicas and their containers',
      handler: async (ctx) => {
        const name = ctx.params.name!;
        apps.get(name);
        ctx.body = { replicas: apps.replicas(name), release: apps.current(name)?.number ?? null, processes: slotsOf(d, name) };
      },
    },
    {
      method: 'GET', path: '/v1/apps/:name/resources', tag: 'processes', summary: "The app's container limits: what was set, the node's defaults, what its containers run with",
      handler: async (ctx) => {
        const app = apps.get(ctx.params.name);
        ctx.body = resourcesView(app.resources, apps.current(app.name), d.config.app);
      },
    },
    {
      method: 'PUT', path: '/v1/apps/:name/resources', tag: 'processes', summary: "Change the app's container limits (null: back to the default); a new release rolls them out",
      body: RESOURCES,
      handler: async (ctx) => {
        const b = await jsonBody(ctx, limit);
        const { resources, release } = await apps.setResources(ctx.params.name, b);
        d.log.info('resources changed', { app: ctx.params.name, ...resources, release: release?.number });
        ctx.body = { ...resourcesView(resources, release, d.config.app), release: release ? releaseView(release) : null };
      },
    },
    {
      method: 'PUT', path: '/v1/apps/:name/scale', tag: 'processes', summary: 'Set the number of replicas',
      body: { type: 'object', required: ['replicas'], properties: { replicas: { type: 'integer', minimum: 0, maximum: 100 } } },
      handler: async (ctx) => {
        const b = await jsonBody(ctx, limit);
        ctx.body = { replicas: await apps.scale(ctx.params.name, b.replicas) };
      },
    },
    { method: 'GET', path: '/v1/apps/:name/config', tag: 'config', summary: 'Show config vars', handler: async (ctx) => void (ctx.body = { config: apps.config(ctx.params.name) }) },
    {
      method: 'PATCH', path: '/v1/apps/:name/config', tag: 'config', summary: 'Set or unset config vars (a new release when the app has one)',
      body: { type: 'object', properties: { set: { type: 'object', additionalProperties: { type: 'string' } }, unset: { type: 'array', items: { type: 'string' } } } },
      handler: async (ctx) => {
        const b = await jsonBody(ctx, limit);
        const set = b.set ?? {};
        const unset = b.unset ?? [];
        if (typeof set !== 'object' || Array.isArray(set) || set === null) throw new PleacoError('bad_request', 'set must be an object of strings');
        if (!Array.isArray(unset)) throw new PleacoError('bad_request', 'unset must be an array of keys');
        const release = await apps.setConfig(ctx.params.name, set as Record<string, unknown>, unset);
        d.log.info('config changed', { app: ctx.params.name, keys: [...Object.keys(set), ...unset.map(String)], release: release?.number });
        ctx.body = { config: apps.config(ctx.params.name), release: release ? releaseView(release) : null };
      },
    },
  ];
}
