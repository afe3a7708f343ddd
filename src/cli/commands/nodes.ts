/** nodes. */
import type { NodeStatus } from '../../model/index.js';
import { EXIT, type Command } from '../context.js';
import { bytes, duration, json, table } from '../format.js';

export type NodeRow = NodeStatus & { self: boolean; state: string; drained?: boolean };

export const nodes: Command = async (ctx) => {
  const body = await ctx.client().request<{ nodes: NodeRow[] }>('GET', '/v1/nodes');
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
    ]);
  for (const line of table(['id', 'address', 'state', 'version', 'docker', 'cpus', 'memory', 'up'], rows)) ctx.out.out(line);
  ctx.out.out('* the node this CLI is talking to');
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
