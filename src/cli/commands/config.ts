/** config, config:set, config:unset. */
import type { Release } from '../../model/index.js';
import { checkEnvKey, parseConfigPair } from '../args.js';
import { appPath, EXIT, type Command, type Ctx } from '../context.js';
import { header, json, keyValues, list } from '../format.js';

/** Single-quotes a value for POSIX shells (`--shell` output). */
export function shellQuote(v: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]*$/.test(v) && v !== '' ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

export const config: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const body = await ctx.client().request<{ config: Record<string, string> }>('GET', appPath(name, '/config'));
  if (ctx.json) {
    ctx.out.out(json(body));
    return EXIT.ok;
  }
  const entries = Object.entries(body.config).sort(([a], [b]) => a.localeCompare(b));
  if (ctx.flags.shell === true) {
    for (const [k, v] of entries) ctx.out.out(`${k}=${shellQuote(v)}`);
    return EXIT.ok;
  }
  ctx.out.out(header(`${name} config vars`, ctx.out.color));
  if (entries.length === 0) ctx.out.out(`(none; set some with pleaco config:set ${name} KEY=VALUE)`);
  for (const line of keyValues(entries)) ctx.out.out(line);
  return EXIT.ok;
};

async function patch(ctx: Ctx, change: { set?: Record<string, string>; unset?: string[] }, what: string): Promise<number> {
  const name = ctx.args[0] ?? '';
  const body = await ctx.client().request<{ config: Record<string, string>; release: Release | null }>('PATCH', appPath(name, '/config'), { body: change });
  ctx.out.out(body.release ? `${what} on ${name}: released v${body.release.number}, restarting` : `${what} on ${name} (takes effect with the next release)`);
  return EXIT.ok;
}

export const configSet: Command = async (ctx) => {
  const set: Record<string, string> = {};
  for (const arg of ctx.args.slice(1)) {
    const [k, v] = parseConfigPair(arg, ctx.verb);
    set[k] = v;
  }
  return patch(ctx, { set }, `Set ${list(Object.keys(set))}`);
};

export const configUnset: Command = async (ctx) => {
  const unset = [...new Set(ctx.args.slice(1).map((k) => checkEnvKey(k, ctx.verb)))];
  return patch(ctx, { unset }, `Unset ${list(unset)}`);
};
