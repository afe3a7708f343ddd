/** resources, resources:set: an app's container limits (memory, CPUs, processes). */
import { describeResources, formatSize, type ResourceDefaults, type Resources } from '../../model/index.js';
import { UsageError } from '../args.js';
import { appPath, EXIT, str, type Command } from '../context.js';
import { header, json, keyValues } from '../format.js';

interface ResourcesBody {
  resources: Resources;
  defaults: ResourceDefaults;
  effective: Resources;
  release?: { number: number } | null;
}

/** `512 MiB (set)`, `1024 (default)`, `none (default)`. */
function shown(set: number | undefined, effective: number | undefined, fmt: (n: number) => string): string {
  const value = effective === undefined ? 'no limit' : fmt(effective);
  return `${value} (${set === undefined ? 'default' : 'set'})`;
}

/** Memory, CPUs and processes: what the app's current release runs with, and where each limit comes from. */
export function resourceLines(b: ResourcesBody): string[] {
  return keyValues([
    ['Memory', shown(b.resources.memoryBytes, b.effective.memoryBytes, formatSize)],
    ['CPUs', shown(b.resources.cpus, b.effective.cpus, String)],
    ['Processes', shown(b.resources.pids, b.effective.pids, String)],
  ]);
}

export const resources: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const body = await ctx.client().request<ResourcesBody>('GET', appPath(name, '/resources'));
  if (ctx.json) {
    ctx.out.out(json(body));
    return EXIT.ok;
  }
  ctx.out.out(header(`${name} resources`, ctx.out.color));
  for (const line of resourceLines(body)) ctx.out.out(line);
  return EXIT.ok;
};

/** A flag's value: `default` (back to the node's default) or the value as given (the agent checks it). */
function flagValue(raw: string, parse: (s: string) => number | string): number | string | null {
  return raw === 'default' ? null : parse(raw);
}

export const resourcesSet: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const req: Record<string, number | string | null> = {};
  const memory = str(ctx.flags, 'memory');
  if (memory !== undefined) req.memoryBytes = flagValue(memory, (s) => s);
  const cpus = str(ctx.flags, 'cpus');
  if (cpus !== undefined) req.cpus = flagValue(cpus, (s) => (/^\d+(\.\d+)?$/.test(s) ? Number(s) : s));
  const pids = str(ctx.flags, 'pids');
  if (pids !== undefined) req.pids = flagValue(pids, (s) => (/^\d+$/.test(s) ? Number(s) : s));
  if (Object.keys(req).length === 0) throw new UsageError('give --memory, --cpus or --pids', ctx.verb);
  const body = await ctx.client().request<ResourcesBody>('PUT', appPath(name, '/resources'), { body: req });
  ctx.out.out(`Set the limits of ${name} to ${describeResources(body.resources)}${body.release ? `: released v${body.release.number}, rolling out` : ''}`);
  for (const line of resourceLines(body)) ctx.out.out(line);
  return EXIT.ok;
};
