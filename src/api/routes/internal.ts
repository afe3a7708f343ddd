/** Routes for the subsystems on this node (builder, runner, proxy), as link/contract.ts declares them: the watch stream, writes, build claims and logs, releases, images. */
import { PleacoError } from '../../errors.js';
import { parseClaim, parseEnsureImage, parseFailureReport, parseReleaseInput, parseWriteOps, ROUTES } from '../../link/index.js';
import type { MembersView } from '../../model/index.js';
import type { Entry } from '../../state/index.js';
import type { ApiDeps } from '../deps.js';
import { jsonBody, ndjson, readRaw } from '../http.js';
import type { RouteDef } from '../registry.js';

const LOG_LIMIT = 1024 * 1024;

export function internalRoutes(d: ApiDeps): RouteDef[] {
  const limit = Math.max(d.config.api.bodyLimitBytes, 4 * 1024 * 1024);
  return [
    {
      ...ROUTES.watch, tag: 'internal', stream: true, query: { prefix: 'comma-separated key prefixes' },
      summary: 'State entries under the prefixes, then every change',
      handler: async (ctx) => {
        const prefixes = String(ctx.query.prefix ?? '').split(',').filter(Boolean);
        const match = (k: string) => prefixes.length === 0 || prefixes.some((p) => k.startsWith(p));
        const out = ndjson(ctx);
        const onChange = (e: Entry) => {
          if (match(e.key)) out.send({ type: 'entry', entry: e });
        };
        let sentReady = false;
        const onMember = () => {
          const view = membersView(d);
          sentReady = view.ready;
          out.send({ type: 'members', view });
        };
        // Readiness comes with the first full sync, which is no membership event: looked at until it came.
        const readiness = setInterval(() => {
          if (!sentReady && membersView(d).ready) onMember();
        }, 500);
        d.store.on('change', onChange);
        d.cluster?.on('member', onMember);
        for (const e of d.store.entries()) if (match(e.key)) out.send({ type: 'entry', entry: e });
        out.send({ type: 'synced' });
        onMember();
        const ping = setInterval(() => out.send({ type: 'ping' }), 15_000);
        await out.closed;
        clearInterval(ping);
        clearInterval(readiness);
        d.store.off('change', onChange);
        d.cluster?.off('member', onMember);
      },
    },
    {
      ...ROUTES.state, tag: 'internal', summary: 'Write state entries (acknowledged once durable)',
      body: { type: 'object', required: ['ops'], properties: { ops: { type: 'array' } } },
      handler: async (ctx) => {
        ctx.body = { entries: await d.store.batch(parseWriteOps(await jsonBody(ctx, limit))) };
      },
    },
    {
      ...ROUTES.claim, tag: 'internal', summary: 'A builder takes a queued build',
      handler: async (ctx) => {
        const { node } = parseClaim(await jsonBody(ctx, limit));
        ctx.body = { build: await d.apps.claim(ctx.params.name, ctx.params.id, node) };
      },
    },
    {
      ...ROUTES.activate, tag: 'internal', summary: 'Wake an app at zero replicas (a request waits in the activator): one replica starts',
      handler: async (ctx) => {
        ctx.body = { replicas: await d.apps.activate(ctx.params.name) };
      },
    },
    {
      ...ROUTES.buildLog, tag: 'internal', summary: 'Append lines to a build log (text/plain)',
      handler: async (ctx) => {
        d.apps.build(ctx.params.name, ctx.params.id);
        const raw = await readRaw(ctx, LOG_LIMIT);
        if (raw.length) await d.buildLogs.append(ctx.params.name, ctx.params.id, raw.toString('utf8'));
        ctx.status = 204;
      },
    },
    {
      ...ROUTES.release, tag: 'internal', summary: 'Record a tested build as the new current release',
      handler: async (ctx) => {
        const release = await d.apps.createRelease(ctx.params.name, parseReleaseInput(await jsonBody(ctx, limit)));
        d.log.info('release created', { app: release.app, release: release.number, commit: release.commit });
        ctx.status = 201;
        ctx.body = { release };
      },
    },
    {
      ...ROUTES.failRelease, tag: 'internal',
      summary: "A runner gives up a release whose rollout failed; the release it replaced becomes current again",
      handler: async (ctx) => {
        const { number, report } = parseFailureReport(ctx.params.number, await jsonBody(ctx, limit));
        const release = await d.apps.failRelease(ctx.params.name, number, report);
        d.log.warn('release failed', { app: release.app, release: release.number, reason: release.failure?.reason, rolledBackTo: release.failure?.rolledBackTo });
        ctx.body = { release };
      },
    },
    {
      ...ROUTES.ensureImage, tag: 'internal',
      summary: 'The runner needs an image here: answered once it is (fetched from a member that has it, only the layers this node lacks)',
      body: { type: 'object', required: ['imageId', 'app'], properties: { imageId: { type: 'string' }, app: { type: 'string' } } },
      handler: async (ctx) => {
        const { imageId, app } = parseEnsureImage(await jsonBody(ctx, limit));
        if (!d.images) throw new PleacoError('unavailable', 'this agent does not move images between nodes');
        // Still fetching after the agent's wait: 503 with Retry-After (details.retryAfterS); the transfer goes on.
        ctx.body = { image: await d.images.ensure(imageId, app) };
      },
    },
    {
      ...ROUTES.images, tag: 'internal', summary: "This node's image transfers: bytes received and served, the last transfers",
      handler: async (ctx) => {
        if (!d.images) throw new PleacoError('unavailable', 'this agent does not move images between nodes');
        ctx.body = { counters: d.images.counters(), recent: d.images.recent() };
      },
    },
  ];
}

/** When this agent process started (wall ms): a full sync completed after it makes the node ready. */
const STARTED_AT = Date.now() - process.uptime() * 1000;

/** The members as this agent sees them (itself always, alive): what its subsystems place slots over. */
export function membersView(d: Pick<ApiDeps, 'nodeId' | 'cluster'>): MembersView {
  const members = (d.cluster?.members() ?? []).filter((m) => m.id !== d.nodeId).map((m) => ({ id: m.id, state: m.state }));
  const peers = members.some((m) => m.state === 'alive');
  const sync = d.cluster?.health().sync;
  const ready = !peers || (!!sync && sync.syncedAt >= STARTED_AT);
  members.push({ id: d.nodeId, state: 'alive' });
  return { self: d.nodeId, members: members.sort((a, b) => (a.id < b.id ? -1 : 1)), ready };
}
