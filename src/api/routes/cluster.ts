/** The cluster as this node sees it: members, state sync, discovery (seeds, mDNS, foreign announcements), joins. */
import { PleacoError } from '../../errors.js';
import type { AppClash, NodeStatus } from '../../model/index.js';
import type { ApiDeps } from '../deps.js';
import { jsonBody } from '../http.js';
import type { RouteDef } from '../registry.js';

const JOIN_WAIT_MS = 10_000;

export function clusterRoutes(d: ApiDeps): RouteDef[] {
  const limit = d.config.api.bodyLimitBytes;
  return [
    {
      method: 'GET', path: '/v1/cluster', tag: 'system', summary: 'Membership as this node sees it, the health of its state sync, and how it finds peers',
      handler: async (ctx) => void (ctx.body = clusterView(d)),
    },
    {
      method: 'GET', path: '/v1/nodes', tag: 'system', summary: 'Members of the cluster, and announcements of foreign nodes this node ignored',
      handler: async (ctx) => void (ctx.body = { nodes: nodesView(d), discovery: discoverySummary(d) }),
    },
    {
      method: 'POST', path: '/v1/cluster/join', tag: 'system',
      summary: 'Join the cluster members at these addresses (kept as seeds, also across restarts; retried with backoff until they answer)',
      body: { type: 'object', additionalProperties: false, required: ['seeds'], properties: { seeds: { type: 'array', minItems: 1, maxItems: 16, items: { type: 'string', maxLength: 260 } } } },
      handler: async (ctx) => {
        if (!d.cluster || !d.discovery) throw new PleacoError('conflict', 'this node runs on its own (PLEACO_CLUSTER_PORT=off): it cannot join a cluster');
        const body = await jsonBody(ctx, limit);
        const raw = (body as { seeds?: unknown }).seeds;
        if (!Array.isArray(raw) || raw.length === 0 || raw.length > 16 || raw.some((s) => typeof s !== 'string')) throw new PleacoError('bad_request', 'seeds must be a list of 1 to 16 addresses like 10.0.0.5:7946');
        const before = new Set(d.cluster.members().filter((m) => m.state === 'alive').map((m) => m.id));
        const seeds = d.discovery.addSeeds(raw as string[]);
        d.log.info('join requested', { seeds: seeds.map((s) => s.text) });
        const joined = await newMembers(d, before, seeds.map((s) => s.text), JOIN_WAIT_MS);
        const status = d.discovery.status();
        ctx.body = { seeds: status.seeds.filter((s) => seeds.some((x) => x.text === s.seed)), joined, members: d.cluster.members().filter((m) => m.state === 'alive').length };
      },
    },
  ];
}

/** Waits (up to ms) until a member not in `before` is alive, or every seed address is a member; returns the new ones. */
async function newMembers(d: ApiDeps, before: Set<string>, seeds: string[], ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const alive = d.cluster!.members().filter((m) => m.state === 'alive');
    const fresh = alive.filter((m) => !before.has(m.id)).map((m) => m.id);
    const status = d.discovery!.status();
    const addrs = status.seeds.filter((s) => seeds.includes(s.seed)).flatMap((s) => s.addrs);
    const allIn = addrs.length > 0 && addrs.every((a) => alive.some((m) => m.addr === a));
    if (allIn || Date.now() >= deadline) return fresh;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Foreign announcements, seeds and mDNS in short (`pleaco nodes` prints it); null on a node on its own. */
function discoverySummary(d: ApiDeps): unknown {
  if (!d.discovery) return null;
  const s = d.discovery.status();
  const clashes = d.store.list<AppClash>('clashes/').map((e) => e.value);
  return { clusterId: s.clusterId, mdns: { enabled: s.mdns.enabled, interfaces: s.mdns.interfaces }, seeds: s.seeds, foreign: s.foreign, clashes };
}

function nodesView(d: ApiDeps): unknown[] {
  const members = new Map((d.cluster?.members() ?? []).map((m) => [m.id, m]));
  const labelsOf = (id: string): Record<string, string> => {
    const raw = id === d.nodeId ? JSON.stringify(d.config.cluster.labels) : members.get(id)?.meta.labels;
    try {
      const v = JSON.parse(raw ?? '{}') as unknown;
      return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, string>) : {};
    } catch {
      return {};
    }
  };
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
  return nodes.map((n) => ({ ...n, drained: d.nodes.spec(n.id)?.drain === true, labels: labelsOf(n.id) }));
}

/** GET /v1/cluster: members (state, incarnation, address, version) and sync health; a node on its own says so. */
function clusterView(d: ApiDeps): unknown {
  if (!d.cluster) return { enabled: false, self: d.nodeId, members: [{ id: d.nodeId, state: 'alive', incarnation: 0, address: null, version: d.version, since: null }], sync: null, discovery: null };
  const h = d.cluster.health();
  const members = h.members.map((m) => ({ id: m.id, state: m.state, incarnation: m.incarnation, address: m.addr, version: m.meta.version ?? null, since: new Date(m.since).toISOString() }));
  const s = h.sync;
  const sync = s && { status: s.status, syncedAt: s.syncedAt ? new Date(s.syncedAt).toISOString() : null, needsFullSync: s.needsFullSync, entries: s.entries, queuedDeltas: s.queuedDeltas, exchanges: s.stats.exchanges, deltas: s.stats.deltas, skew: s.skew };
  const udp = h.transport.udp;
  return { enabled: true, self: d.nodeId, address: h.self.addr, localHealth: h.self.localHealth, members, sync, dropped: { udp: udp.dropped, stream: h.transport.stream.dropped }, discovery: d.discovery?.status() ?? null };
}
