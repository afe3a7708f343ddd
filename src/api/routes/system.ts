import { PleacoError } from '../../errors.js';
import { engineUnavailable, isEngineDown } from '../../runtime/index.js';
import type { ApiDeps } from '../deps.js';
import { ndjson } from '../http.js';
import type { RouteDef } from '../registry.js';
import { decisionLines } from './autoscale.js';

export function systemRoutes(d: ApiDeps, doc: () => Record<string, unknown>): RouteDef[] {
  return [
    {
      method: 'GET', path: '/v1/health', tag: 'system', summary: 'Liveness of this node (no token needed)', auth: false,
      handler: async (ctx) => {
        // From the last background check: health answers at once, whatever the engine does.
        ctx.body = { ok: true, node: d.nodeId, version: d.version, docker: { ok: d.engine.status().ok } };
      },
    },
    { method: 'GET', path: '/v1/openapi.json', tag: 'system', summary: 'This document', handler: async (ctx) => void (ctx.body = doc()) },
    ...(['drain', 'undrain'] as const).map((verb): RouteDef => ({
      method: 'POST', path: `/v1/nodes/:id/${verb}`, tag: 'system',
      summary: verb === 'drain' ? 'Move every slot off a node (each stops there once it runs elsewhere); it wins no new ones' : 'Let a drained node win slots again',
      handler: async (ctx) => {
        const spec = await d.nodes.setDrain(ctx.params.id, verb === 'drain');
        d.log.info(`node ${verb === 'drain' ? 'drained' : 'undrained'}`, { node: ctx.params.id });
        ctx.body = { node: ctx.params.id, ...spec };
      },
    })),
    {
      method: 'GET', path: '/v1/apps/:name/logs', tag: 'processes', stream: true, query: { tail: 'lines per container (default 100)', follow: '1 to follow' },
      summary: "The app's container logs as ndjson",
      handler: async (ctx) => {
        const name = ctx.params.name!;
        d.apps.get(name);
        const tailRaw = String(ctx.query.tail ?? '100');
        if (!/^\d{1,5}$/.test(tailRaw)) throw new PleacoError('bad_request', 'tail must be a number of lines');
        const follow = ctx.query.follow === '1' || ctx.query.follow === 'true';
        const engine = d.engine.status();
        if (!engine.ok) throw new PleacoError('docker_unavailable', `${engine.error} at ${d.config.docker.socketPath}`);
        const out = ndjson(ctx);
        const abort = new AbortController();
        void out.closed.then(() => abort.abort());
        // The autoscaler's decisions are events of the app's log too: the recent ones first, then each new one.
        let seen = decisionLines(d, name, 0);
        for (const l of seen.lines) out.send(l);
        const timer = follow ? setInterval(() => {
          const next = decisionLines(d, name, seen.last);
          for (const l of next.lines) out.send(l);
          seen = next;
        }, 2000) : null;
        try {
          await d.appLogs(name, { tail: Number(tailRaw), follow, signal: abort.signal }, (l) => out.send(l));
        } catch (err) {
          if (!abort.signal.aborted) d.log.warn('log stream ended', { app: name, err: isEngineDown(err) ? engineUnavailable(d.engine.where, err) : err });
        } finally {
          if (timer) clearInterval(timer);
          out.end();
        }
      },
    },
  ];
}
