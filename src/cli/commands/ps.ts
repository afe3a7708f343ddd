/** ps, ps:scale. */
import type { SlotStatus } from '../../model/index.js';
import { parseScale } from '../args.js';
import { appPath, EXIT, type Command } from '../context.js';
import { duration, header, json, relativeTime, table } from '../format.js';

/** `up 5m 00s`, `crashed (exit 1), retry in 10 seconds`; plus `, v4 starting` while a new release rolls out. */
export function slotState(s: SlotStatus, now: number): string {
  const next = s.next ? `, v${s.next.release} ${s.next.state}` : '';
  return slotOwnState(s, now) + next;
}

function slotOwnState(s: SlotStatus, now: number): string {
  const since = Date.parse(s.since);
  const age = Number.isNaN(since) ? '' : ` ${duration(Math.max(0, now - since))}`;
  switch (s.state) {
    case 'running':
      return `up${age}`;
    case 'crashed':
    case 'backoff':
    case 'failed': {
      const exit = s.oomKilled ? ' (out of memory)' : s.lastExitCode === undefined ? '' : ` (exit ${s.lastExitCode})`;
      const retry = s.nextRetryAt ? `, retry ${relativeTime(s.nextRetryAt, now)}` : '';
      return `${s.state}${exit}${retry}`;
    }
    default:
      return `${s.state}${age}`;
  }
}

/** SLOT STATE RELEASE NODE CONTAINER RESTARTS ADDRESS, slots in numeric order (every node's, from any node). */
export function processTable(slots: SlotStatus[], now: number): string[] {
  const index = (s: SlotStatus): number => Number(s.slot.split('#')[1] ?? 0);
  const sorted = [...slots].sort((a, b) => index(a) - index(b) || a.node.localeCompare(b.node));
  const rows = sorted.map((s) => [
    s.slot,
    slotState(s, now),
    `v${s.release}`,
    s.node,
    s.containerId ? s.containerId.slice(0, 12) : '-',
    s.restarts,
    s.hostPort === null ? '-' : `${s.host}:${s.hostPort}`,
  ]);
  return table(['slot', 'state', 'release', 'node', 'container', 'restarts', 'address'], rows);
}

export const ps: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const body = await ctx.client().request<{ replicas: number; processes: SlotStatus[] }>('GET', appPath(name, '/ps'));
  if (ctx.json) {
    ctx.out.out(json(body));
    return EXIT.ok;
  }
  const running = body.processes.filter((p) => p.state === 'running').length;
  ctx.out.out(header(`${name}: ${running} of ${body.replicas} running`, ctx.out.color));
  if (body.processes.length === 0) {
    ctx.out.out(body.replicas === 0 ? `No processes: scale up with pleaco ps:scale ${name}=1` : 'No processes yet (is there a release? try pleaco releases ' + name + ')');
    return EXIT.ok;
  }
  for (const line of processTable(body.processes, ctx.now())) ctx.out.out(line);
  const crashed = body.processes.find((p) => p.lastLog && p.state !== 'running');
  if (crashed?.lastLog) {
    ctx.out.out('');
    ctx.out.out(header(`last output of ${crashed.slot}`, ctx.out.color));
    for (const line of crashed.lastLog.trimEnd().split('\n')) ctx.out.out(line);
  }
  return EXIT.ok;
};

export const psScale: Command = async (ctx) => {
  // Validate every pair before changing anything.
  const targets = ctx.args.map((a) => parseScale(a, ctx.verb));
  for (const t of targets) {
    const body = await ctx.client().request<{ replicas: number }>('PUT', appPath(t.app, '/scale'), { body: { replicas: t.replicas } });
    ctx.out.out(`Scaled ${t.app} to ${body.replicas} replica${body.replicas === 1 ? '' : 's'}`);
  }
  return EXIT.ok;
};
