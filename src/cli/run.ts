/**
 * The pleaco command line: `run(argv, deps)` parses, dispatches to a verb from the table in verbs.ts and turns
 * every failure into `error: …` on stderr with an exit code (1 errors, 2 usage, 130 Ctrl-C). It does no I/O of
 * its own: src/main/cli.ts wires the process (stdout, env, signals, the terminal) into `deps`.
 */
import type { AgentClient } from '../link/index.js';
import { isPleacoError } from '../errors.js';
import { CliError, parseVerbArgs, splitVerb, UsageError } from './args.js';
import { EXIT, type CliDeps, type Ctx } from './context.js';
import { paint, type Output } from './format.js';
import { helpText, unknownVerb } from './help.js';
import { findVerb, VERBS } from './verbs.js';


const NETWORK_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EACCES', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);

function errno(err: unknown): string | undefined {
  const cause = (err as { cause?: unknown }).cause as NodeJS.ErrnoException | undefined;
  return cause && typeof cause === 'object' && typeof cause.code === 'string' ? cause.code : undefined;
}

/** Writes `error: …` and hints; returns the exit code. */
export function report(err: unknown, out: Output, client: AgentClient | undefined): number {
  const fail = (message: string, hints: string[], code: number): number => {
    out.err(`${paint(out.errColor ?? out.color, 'red', 'error:')} ${message}`);
    for (const h of hints) out.err(h);
    return code;
  };
  if (err instanceof CliError) return fail(err.message, err.hint, err.exitCode);
  if (isPleacoError(err)) {
    const where = client?.opts.socketPath ?? client?.opts.url ?? 'the configured address';
    const sys = errno(err);
    if (err.code === 'unavailable' && sys && NETWORK_CODES.has(sys)) {
      return fail(`the pleaco node isn't reachable at ${where} (${sys})`, ['Is it running? Start one with `make up`, or pass --api URL with PLEACO_TOKEN.'], EXIT.error);
    }
    if (err.code === 'unauthorized') {
      return fail(`${err.message} (unauthorized)`, [`The node at ${where} rejected the token: check PLEACO_TOKEN or the state dir's token file.`], EXIT.error);
    }
    return fail(`${err.message} (${err.code})`, [], EXIT.error);
  }
  return fail(err instanceof Error ? err.message : String(err), [], EXIT.error);
}

export async function run(argv: string[], deps: CliDeps): Promise<number> {
  let client: AgentClient | undefined;
  let out = deps.out;
  try {
    const { verb: name, rest } = splitVerb(argv);
    if (name === undefined) {
      if (rest.includes('--version')) return await run(['version', ...rest.filter((a) => a !== '--version')], deps);
      const asked = rest.length === 0 || rest.includes('-h') || rest.includes('--help');
      if (!asked) throw new UsageError('missing VERB');
      for (const line of helpText(VERBS)) out.out(line);
      return EXIT.ok;
    }
    const verb = findVerb(name);
    if (!verb) throw unknownVerb(name, VERBS);
    const parsed = parseVerbArgs(verb.name, verb, rest);
    if (parsed.global.noColor) out = { out: deps.out.out, err: deps.out.err, color: false, errColor: false };
    if (parsed.help) return await run(['help', verb.name], { ...deps, out });
    const flags: { api?: string; token?: string } = {};
    if (parsed.global.api !== undefined) flags.api = parsed.global.api;
    if (parsed.global.token !== undefined) flags.token = parsed.global.token;
    const ctx: Ctx = {
      verb: verb.name,
      args: parsed.args,
      flags: parsed.flags,
      json: parsed.json,
      out,
      deps: { ...deps, out },
      client: () => (client ??= deps.connect(flags)),
      now: deps.now ?? Date.now,
    };
    return await verb.run(ctx);
  } catch (err) {
    return report(err, out, client);
  }
}
