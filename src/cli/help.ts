/** Help text, rendered from the verb table (verbs.ts). */
import { GLOBAL_FLAGS, usageLine, UsageError, verbFlags, type FlagSpec } from './args.js';
import { columns } from './format.js';
import type { Verb } from './context.js';

function flagName(name: string, f: FlagSpec): string {
  const long = `--${name}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}`;
  return f.short ? `-${f.short}, ${long}` : `    ${long}`;
}

function flagRows(flags: [string, FlagSpec][]): string[] {
  return columns(flags.map(([n, f]) => [flagName(n, f), f.help]));
}

export const FINDING_THE_NODE = [
  'Finding the node: --api URL / PLEACO_API with --token / PLEACO_TOKEN win; otherwise the first of',
  '$PLEACO_STATE_DIR, ./.pleaco (`make up`), /var/lib/pleaco that holds agent.sock, with its token file.',
];

export function helpText(verbs: Verb[]): string[] {
  const lines = ['Usage: pleaco VERB [ARGS] [FLAGS]', '', 'pleaco turns git repositories into running, routed containers.'];
  const groups = [...new Set(verbs.map((v) => v.group))];
  for (const g of groups) {
    lines.push('', `${g}:`);
    lines.push(...columns(verbs.filter((v) => v.group === g).map((v) => [usageLine(v.name, v), v.summary])));
  }
  lines.push('', 'Global flags:', ...flagRows(Object.entries(GLOBAL_FLAGS)), '', ...FINDING_THE_NODE, '');
  lines.push('Run `pleaco help VERB` for a verb\'s flags and an example.');
  return lines;
}

export function verbHelp(v: Verb): string[] {
  const lines = [`Usage: pleaco ${usageLine(v.name, v)}`, '', `${v.summary}.`];
  if (v.details?.length) lines.push(...v.details);
  const flags = verbFlags(v);
  if (flags.length) lines.push('', 'Flags:', ...flagRows(flags));
  lines.push('', 'Example:', `  $ ${v.example}`, '', 'Global flags: --api URL, --token TOKEN, --no-color, -h/--help (see `pleaco help`).');
  return lines;
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0] ?? 0;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j] ?? 0;
      d[j] = Math.min((d[j] ?? 0) + 1, (d[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length] ?? 0;
}

/** `unknown verb "aps"; did you mean apps?` as a usage error (exit 2). */
export function unknownVerb(name: string, verbs: Verb[]): UsageError {
  const close = verbs
    .map((v) => ({ v: v.name, d: Math.min(distance(name, v.name), v.name.endsWith(`:${name}`) ? 1 : Infinity) }))
    .filter((c) => c.d <= 2)
    .sort((a, b) => a.d - b.d)
    .map((c) => c.v);
  const hint = close.length ? `; did you mean ${close.slice(0, 3).join(' or ')}?` : '';
  return new UsageError(`unknown verb ${JSON.stringify(name)}${hint}`);
}
