import { PleacoError } from '../../errors.js';
import type { NodeStatus } from '../../model/index.js';
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
    {
      method: 'GET', path: '/v1/cluster', tag: 'system', summary: 'Membership as this node sees it, and the health of its state sync',
      handler: async (ctx) => void (ctx.body = clusterView(d)),
    },
    {
      method: 'GET', path: '/v1/nodes', tag: 'system', summary: 'Members of the cluster',
      handler: async (ctx) => {
        const members = new Map((d.cluster?.members() ?? []).map((m) => [m.id, m]));
        const nodes = d.store.list<NodeStatus>('obs/').filter((e) => e.key.endsWith('/node')).map((e) => {
          const self = e.value.id === d.nodeId;
          return { ...e.value, self, state: self ? 'alive' : (members.get(e.value.id)?.state ?? (d.cluster ? 'unknown' : 'alive')) };
        });
        if (!nodes.some((n) => n.self)) {
          const docker = d.engine.status();
          nodes.unshift({ id: d.nodeId, address: d.config.api.host, version: d.version, startedAt: '', docker, cpus: 0, memoryBytes: 0, self: true, state: 'alive' });
        }
        // Members whose runner never published a status (agent only, or not yet): what the membership knows.
        for (const m of members.values()) {
          if (nodes.some((n) => n.id === m.id)) continue;
          const address = m.addr.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
          nodes.push({ id: m.id, address, version: m.meta.version ?? '', startedAt: '', docker: { ok: false, error: 'no status from its runner' }, cpus: 0, memoryBytes: 0, self: false, state: m.state });
        }
        for (const n of nodes) Object.assign(n, { drained: d.nodes.spec(n.id)?.drain === true });
        ctx.body = { nodes };
      },
    },
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

/** GET /v1/cluster: members (state, incarnation, address, version) and sync health; a node on its own says so. */
function clusterView(d: ApiDeps): unknown {
  if (!d.cluster) return { enabled: false, self: d.nodeId, members: [{ id: d.nodeId, state: 'alive', incarnation: 0, address: null, version: d.version, since: null }], sync: null };
  const h = d.cluster.health();
  const members = h.members.map((m) => ({ id: m.id, state: m.state, incarnation: m.incarnation, address: m.addr, version: m.meta.version ?? null, since: new Date(m.since).toISOString() }));
  const s = h.sync;
  const sync = s && { status: s.status, syncedAt: s.syncedAt ? new Date(s.syncedAt).toISOString() : null, needsFullSync: s.needsFullSync, entries: s.entries, queuedDeltas: s.queuedDeltas, exchanges: s.stats.exchanges, deltas: s.stats.deltas, skew: s.skew };
  const udp = h.transport.udp;
  return { enabled: true, self: d.nodeId, address: h.self.addr, localHealth: h.self.localHealth, members, sync, dropped: { udp: udp.dropped, stream: h.transport.stream.dropped } };
}
