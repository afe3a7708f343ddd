/** domains, domains:add, domains:remove, healthcheck, healthcheck:set. */
import type { HealthCheck } from '../../model/index.js';
import { parseCount, UsageError } from '../args.js';
import { appPath, EXIT, str, type Command } from '../context.js';
import { header, json, keyValues } from '../format.js';

interface DomainView {
  host: string;
  implicit: boolean;
}

export const domains: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const body = await ctx.client().request<{ domains: DomainView[] }>('GET', appPath(name, '/domains'));
  if (ctx.json) {
    ctx.out.out(json(body));
    return EXIT.ok;
  }
  ctx.out.out(header(`${name} domains`, ctx.out.color));
  for (const d of body.domains) ctx.out.out(d.implicit ? `${d.host} (implicit)` : d.host);
  if (!body.domains.some((d) => !d.implicit)) ctx.out.out(`Add one with: pleaco domains:add ${name} www.example.com`);
  return EXIT.ok;
};

export const domainsAdd: Command = async (ctx) => {
  const [name = '', host = ''] = ctx.args;
  const body = await ctx.client().request<{ domain: DomainView }>('POST', appPath(name, '/domains'), { body: { host } });
  ctx.out.out(`Added ${body.domain.host} to ${name}`);
  return EXIT.ok;
};

export const domainsRemove: Command = async (ctx) => {
  const [name = '', host = ''] = ctx.args;
  await ctx.client().request('DELETE', appPath(name, `/domains/${encodeURIComponent(host)}`));
  ctx.out.out(`Removed ${host.toLowerCase()} from ${name}`);
  return EXIT.ok;
};

/** `2s`, `500ms`, `1.5s`, `1m`; a bare number is seconds. */
/** A duration flag (`2s`, `500ms`, `1.5m`; a bare number is seconds) within [min, max] ms. */
export function parseDuration(arg: string, flag: string, verb: string, min: number, max: number): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(arg.trim());
  const ms = m ? Math.round(Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm'])) : NaN;
  if (!Number.isFinite(ms) || ms < min || ms > max) throw new UsageError(`${flag} must be from ${interval(min)} to ${interval(max)} (like 2s or 500ms), got ${JSON.stringify(arg)}`, verb);
  return ms;
}

export function parseInterval(arg: string, verb: string): number {
  return parseDuration(arg, '--interval', verb, 500, 60_000);
}

function interval(ms: number): string {
  if (ms > 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function checkLines(h: HealthCheck): string[] {
  return keyValues([
    ['Path', h.path],
    ['Interval', interval(h.intervalMs)],
    ['Rise', `${h.rise} (passing checks before a replica takes traffic)`],
    ['Fall', `${h.fall} (failing checks before it leaves rotation)`],
    ['Deadline', `${interval(h.deadlineMs)} (a new release not healthy by then is rolled back)`],
  ]);
}

export const healthcheck: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const body = await ctx.client().request<{ healthcheck: HealthCheck }>('GET', appPath(name, '/healthcheck'));
  if (ctx.json) {
    ctx.out.out(json(body));
    return EXIT.ok;
  }
  ctx.out.out(header(`${name} health check`, ctx.out.color));
  for (const line of checkLines(body.healthcheck)) ctx.out.out(line);
  return EXIT.ok;
};

export const healthcheckSet: Command = async (ctx) => {
  const [name = '', path = ''] = ctx.args;
  if (!path.startsWith('/')) throw new UsageError(`PATH must start with '/', got ${JSON.stringify(path)}`, ctx.verb);
  const req: Partial<HealthCheck> = { path };
  const every = str(ctx.flags, 'interval');
  if (every !== undefined) req.intervalMs = parseInterval(every, ctx.verb);
  for (const f of ['rise', 'fall'] as const) {
    const v = str(ctx.flags, f);
    if (v !== undefined) req[f] = parseCount(v, `--${f}`, ctx.verb, 10);
  }
  const deadline = str(ctx.flags, 'deadline');
  if (deadline !== undefined) req.deadlineMs = parseDuration(deadline, '--deadline', ctx.verb, 1000, 3_600_000);
  const body = await ctx.client().request<{ healthcheck: HealthCheck }>('PUT', appPath(name, '/healthcheck'), { body: req });
  ctx.out.out(`Set the health check of ${name}:`);
  for (const line of checkLines(body.healthcheck)) ctx.out.out(line);
  return EXIT.ok;
};
