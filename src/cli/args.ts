/**
 * Command-line parsing (node:util parseArgs underneath) and the usage errors that exit with code 2.
 * A verb declares its positionals and flags; the usage line shown by `help` is derived from the same
 * declaration, so the parser, the help text and docs/cli.md cannot drift apart.
 */
import { parseArgs } from 'node:util';
import { validateEnvKey } from '../model/index.js';
import { PleacoError } from '../errors.js';

export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder shown in usage for string flags, e.g. URL. */
  value?: string;
  required?: boolean;
  help: string;
}

/**
 * Positionals: `NAME` (required), `[RELEASE]` (optional), `K=V...` (one or more), `[K...]` (zero or more).
 */
export interface ArgSpec {
  args: string[];
  flags?: Record<string, FlagSpec>;
  /** Accepts --json (read verbs). */
  json?: boolean;
}

export type FlagValues = Record<string, string | boolean | undefined>;

export interface Parsed {
  verb: string;
  args: string[];
  flags: FlagValues;
  json: boolean;
  help: boolean;
}

export interface GlobalOptions {
  api?: string;
  token?: string;
  noColor: boolean;
}

/** A failure the CLI itself reports (no API error code): `error: <message>`, then the hint lines. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    readonly hint: string[] = [],
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A mistake in how pleaco was called: exit code 2 and a pointer to `pleaco help VERB`. */
export class UsageError extends CliError {
  constructor(
    message: string,
    readonly verb?: string,
  ) {
    super(message, 2, [verb ? `See \`pleaco help ${verb}\`.` : 'See `pleaco help`.']);
    this.name = 'UsageError';
  }
}

export const GLOBAL_FLAGS: Record<string, FlagSpec> = {
  api: { type: 'string', value: 'URL', help: 'agent API: http://host:port or a unix socket path (env PLEACO_API)' },
  token: { type: 'string', value: 'TOKEN', help: 'API token (env PLEACO_TOKEN; prefer the env var: argv is visible to other users)' },
  'no-color': { type: 'boolean', help: 'plain output even on a terminal (also NO_COLOR=1)' },
  help: { type: 'boolean', short: 'h', help: 'show help for the verb' },
};

const JSON_FLAG: FlagSpec = { type: 'boolean', help: "print the API's JSON instead of a table" };

function flagUsage(name: string, f: FlagSpec): string {
  const text = `${f.short ? `-${f.short}` : `--${name}`}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}`;
  return f.required ? text : `[${text}]`;
}

/** `apps:create NAME --repo URL [--branch B]` */
export function usageLine(verb: string, spec: ArgSpec): string {
  const flags = Object.entries(spec.flags ?? {}).map(([n, f]) => flagUsage(n, f));
  if (spec.json) flags.push('[--json]');
  return [verb, ...spec.args, ...flags].join(' ');
}

/** All flags a verb accepts, its own first, for help output. */
export function verbFlags(spec: ArgSpec): [string, FlagSpec][] {
  return [...Object.entries(spec.flags ?? {}), ...(spec.json ? [['json', JSON_FLAG] as [string, FlagSpec]] : [])];
}

const TAKES_VALUE = new Set(['--api', '--token']);

/** Finds the verb (the first positional, skipping global flags and their values). */
export function splitVerb(argv: string[]): { verb: string | undefined; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--') break;
    if (TAKES_VALUE.has(a)) {
      i++;
      continue;
    }
    if (!a.startsWith('-')) return { verb: a, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { verb: undefined, rest: argv };
}

function toParseArgsOptions(flags: Record<string, FlagSpec>): Record<string, { type: 'string' | 'boolean'; short?: string }> {
  const out: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, f] of Object.entries(flags)) out[name] = f.short ? { type: f.type, short: f.short } : { type: f.type };
  return out;
}

function cleanParseError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  // Node's text suggests `--` for positionals that start with '-'; keep the first sentence.
  return msg.split('. To specify')[0] ?? msg;
}

/** Parses the arguments after the verb. Throws UsageError for unknown flags, missing or extra positionals. */
export function parseVerbArgs(verb: string, spec: ArgSpec, rest: string[]): Parsed & { global: GlobalOptions } {
  const flags = { ...GLOBAL_FLAGS, ...(spec.flags ?? {}), ...(spec.json ? { json: JSON_FLAG } : {}) };
  let values: FlagValues;
  let positionals: string[];
  try {
    const r = parseArgs({ args: rest, options: toParseArgsOptions(flags), strict: true, allowPositionals: true });
    values = r.values;
    positionals = r.positionals;
  } catch (err) {
    throw new UsageError(cleanParseError(err), verb);
  }
  const global: GlobalOptions = { noColor: values['no-color'] === true };
  if (typeof values.api === 'string') global.api = values.api;
  if (typeof values.token === 'string') global.token = values.token;
  const parsed = { verb, args: positionals, flags: values, json: values.json === true, help: values.help === true, global };
  if (parsed.help) return parsed;
  checkPositionals(verb, spec.args, positionals);
  for (const [name, f] of Object.entries(spec.flags ?? {})) {
    if (f.required && values[name] === undefined) throw new UsageError(`missing --${name} ${f.value ?? ''}`.trimEnd(), verb);
    if (f.type === 'string' && values[name] === '') throw new UsageError(`--${name} needs a value`, verb);
  }
  return parsed;
}

function checkPositionals(verb: string, specArgs: string[], got: string[]): void {
  let required = 0;
  let variadic = false;
  for (const a of specArgs) {
    const optional = a.startsWith('[');
    if (a.endsWith('...') || a.endsWith('...]')) variadic = true;
    if (!optional) required++;
  }
  if (got.length < required) {
    const missing = specArgs[got.length] ?? 'an argument';
    throw new UsageError(`missing ${missing.replace(/[[\]]/g, '')}`, verb);
  }
  if (!variadic && got.length > specArgs.length) throw new UsageError(`unexpected argument ${JSON.stringify(got[specArgs.length])}`, verb);
}

/** `web=2` → {app: 'web', replicas: 2}; 0..100. */
export function parseScale(arg: string, verb = 'ps:scale'): { app: string; replicas: number } {
  const m = /^([^=\s]+)=(.*)$/.exec(arg);
  if (!m) throw new UsageError(`expected NAME=N, got ${JSON.stringify(arg)}`, verb);
  const n = m[2] ?? '';
  if (!/^\d+$/.test(n) || Number(n) > 100) throw new UsageError(`replicas must be a whole number from 0 to 100, got ${JSON.stringify(n)} for ${m[1]}`, verb);
  return { app: m[1] ?? '', replicas: Number(n) };
}

/** The model's config-key check, as a usage error of `verb`. */
export function checkEnvKey(key: string, verb: string): string {
  try {
    return validateEnvKey(key);
  } catch (err) {
    throw err instanceof PleacoError ? new UsageError(err.message, verb) : err;
  }
}

/** `K=V` → [K, V]; the value is everything after the first `=` and may itself contain `=`. */
export function parseConfigPair(arg: string, verb = 'config:set'): [string, string] {
  const i = arg.indexOf('=');
  if (i <= 0) throw new UsageError(`expected KEY=VALUE, got ${JSON.stringify(arg)}`, verb);
  return [checkEnvKey(arg.slice(0, i), verb), arg.slice(i + 1)];
}

/** `v3` or `3` → 3. */
export function parseReleaseNumber(arg: string, verb = 'rollback'): number {
  const m = /^v?(\d+)$/i.exec(arg);
  const n = m ? Number(m[1]) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`expected a release like v3 or 3, got ${JSON.stringify(arg)}`, verb);
  return n;
}

export function parseCount(arg: string, flag: string, verb: string, max: number): number {
  if (!/^\d+$/.test(arg) || Number(arg) < 1 || Number(arg) > max) throw new UsageError(`${flag} must be a whole number from 1 to ${max}, got ${JSON.stringify(arg)}`, verb);
  return Number(arg);
}
