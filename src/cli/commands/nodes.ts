/** nodes. */
import type { AppClash, NodeStatus } from '../../model/index.js';
import { EXIT, type Command } from '../context.js';
import { bytes, duration, json, table } from '../format.js';

export type NodeRow = NodeStatus & { self: boolean; state: string; drained?: boolean; labels?: Record<string, string> };

interface Foreign {
  node: string;
  cluster: string;
  from: string;
  reason: 'other-cluster' | 'wrong-key';
  count: number;
}

export interface DiscoverySummary {
  clusterId: string;
  mdns: { enabled: boolean; interfaces: string[] };
  seeds: { seed: string; source: string; addrs: string[]; error: string | null }[];
  foreign: { total: number; otherCluster: number; wrongKey: number; senders: Foreign[] };
  clashes?: AppClash[];
}

/** How this node finds the others, and the foreign nodes it heard and ignored. */
export function discoveryLines(d: DiscoverySummary): string[] {
  const seeds = d.seeds.map((s) => `${s.seed}${s.addrs.length && s.addrs.join(',') !== s.seed ? ` → ${s.addrs.join(', ')}` : ''}${s.error ? ` (${s.error})` : ''}`);
  const lines = [
    `cluster ${d.clusterId}: mDNS ${d.mdns.enabled ? (d.mdns.interfaces.length ? `on ${d.mdns.interfaces.join(', ')}` : 'on (no interface with an address yet)') : 'off'}; seeds: ${seeds.length ? seeds.join('; ') : 'none'}`,
    `foreign announcements: ${d.foreign.total}${d.foreign.total ? ` ignored (another cluster: ${d.foreign.otherCluster}, wrong key: ${d.foreign.wrongKey})` : ''}`,
  ];
  for (const f of d.foreign.senders.slice(0, 5)) lines.push(`  ${f.node} at ${f.from}: ${f.reason === 'wrong-key' ? 'wrong key' : `cluster ${f.cluster}`} (${f.count}×)`);
  for (const c of d.clashes ?? []) {
    const current = c.current === undefined ? '' : c.current === null ? '; it has no release of its own yet: deploy it' : `; its current release is v${c.current}`;
    lines.push(`app ${c.app} was made on both sides of a merge: kept the one of ${c.kept.repo} (${c.kept.branch}, made ${c.kept.createdAt}), dropped the one of ${c.dropped.repo} (${c.dropped.branch}, made ${c.dropped.createdAt})${current}`);
  }
  return lines;
}

export const nodes: Command = async (ctx) => {
  const body = await ctx.client().request<{ nodes: NodeRow[]; discovery?: DiscoverySummary | null }>('GET', '/v1/nodes');
  if (ctx.json) {
    ctx.out.out(json(body));
    return EXIT.ok;
  }
  const now = ctx.now();
  const rows = [...body.nodes]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((n) => [
      `${n.id}${n.self ? '*' : ''}`,
      n.address,
      n.drained ? `${n.state}, drained` : n.state,
      n.version,
      n.docker.ok ? `ok${n.docker.version ? ` ${n.docker.version}` : ''}` : `down${n.docker.error ? `: ${n.docker.error}` : ''}`,
      n.cpus || '-',
      n.memoryBytes ? bytes(n.memoryBytes) : '-',
      n.startedAt ? duration(Math.max(0, now - Date.parse(n.startedAt))) : '-',
      Object.entries(n.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '-',
    ]);
  for (const line of table(['id', 'address', 'state', 'version', 'docker', 'cpus', 'memory', 'up', 'labels'], rows)) ctx.out.out(line);
  ctx.out.out('* the node this CLI is talking to');
  if (body.discovery) for (const line of discoveryLines(body.discovery)) ctx.out.out(line);
  return EXIT.ok;
};

/** nodes:drain NODE, nodes:undrain NODE. */
export function nodeDrain(drain: boolean): Command {
  return async (ctx) => {
    const id = ctx.args[0];
    if (!id) {
      ctx.out.err(`usage: pleaco nodes:${drain ? 'drain' : 'undrain'} NODE`);
      return EXIT.usage;
    }
    await ctx.client().request('POST', `/v1/nodes/${encodeURIComponent(id)}/${drain ? 'drain' : 'undrain'}`);
    ctx.out.out(drain ? `Draining ${id}: its replicas start on other nodes, then stop there (pleaco ps NAME shows where)` : `${id} takes replicas again`);
    return EXIT.ok;
  };
}
