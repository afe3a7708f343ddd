/** scan, scan:sbom, scan:policy, scan:db, scan:db:update. */
import { redactSource, type AllowEntry, type EffectivePolicy, type FailOn, type ScanDbRecord, type ScanReport } from '../../model/index.js';
// fetch.js alone: the CLI must not load the database loader (yauzl, the store) to print a source.
import { PleacoError, type ErrorCode } from '../../errors.js';
import { parseReleaseNumber, UsageError } from '../args.js';
import { appPath, EXIT, str, type Command, type Ctx } from '../context.js';
import { duration, header, json, keyValues, relativeTime, table } from '../format.js';

const SHOWN = 50;
const LEVELS = ['critical', 'high', 'medium', 'low', 'unknown'] as const;

function which(ctx: Ctx): string {
  const build = str(ctx.flags, 'build');
  if (build !== undefined) return `?build=${encodeURIComponent(build)}`;
  return ctx.args[1] === undefined ? '' : `?release=${parseReleaseNumber(ctx.args[1], ctx.verb)}`;
}

function counts(r: ScanReport): string {
  return LEVELS.map((l) => `${r.counts[l] ?? 0} ${l}`).join(', ');
}

export const scan: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const { report: r } = await ctx.client().request<{ report: ScanReport }>('GET', appPath(name, `/scan${which(ctx)}`));
  if (ctx.json) {
    ctx.out.out(json({ report: r }));
    return EXIT.ok;
  }
  ctx.out.out(header(`${name} scan of build ${r.build}`, ctx.out.color));
  const status = r.status === 'blocked' ? `BLOCKED: ${r.blocking} finding(s) at or above ${r.failOn}` : r.status === 'unchecked' ? 'unchecked: no advisory database (run pleaco scan:db:update SOURCE)' : `passed (fail-on ${r.failOn})`;
  for (const line of keyValues([
    ['Status', status],
    ['Image', `${r.image} (${r.imageId.slice(0, 19)})`],
    ['OS', r.os ?? 'unknown'],
    ['Packages', r.packages],
    ['Findings', counts(r)],
    ['Database', r.db ? `${r.db.slice(0, 19)} (loaded ${relativeTime(r.dbLoadedAt, ctx.now())})` : 'none'],
    ['Scanned', `${relativeTime(r.at, ctx.now())} in ${duration(r.durationMs)}`],
  ])) ctx.out.out(line);
  if (r.expired.length) ctx.out.out(`Expired allow-list entries (no longer applied): ${r.expired.join(', ')}`);
  if (r.findings.length === 0) return EXIT.ok;
  ctx.out.out('');
  const rows = r.findings.slice(0, SHOWN).map((f) => [
    f.blocking ? `${f.severity}!` : f.severity,
    f.id,
    f.package.sourceName && f.package.sourceName !== f.package.name ? `${f.package.name} (${f.package.sourceName})` : f.package.name,
    f.package.version,
    f.fixed ?? '-',
    f.allowed ? `allowed until ${f.allowed.until.slice(0, 10)}: ${f.allowed.reason}` : (f.summary ?? '').slice(0, 60),
  ]);
  for (const line of table(['severity', 'advisory', 'package', 'version', 'fixed in', 'note'], rows)) ctx.out.out(line);
  const more = r.findings.length - SHOWN + r.truncated;
  if (more > 0) ctx.out.out(`… ${more} more (pleaco scan ${name} --json shows them all)`);
  if (r.blocking) ctx.out.out('! blocks the release: upgrade the package, or accept it with pleaco scan:policy NAME --allow ID --until DATE --reason TEXT');
  return EXIT.ok;
};

export const scanSbom: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const sbom = await ctx.client().request<unknown>('GET', appPath(name, `/sbom${which(ctx)}`));
  ctx.out.out(json(sbom));
  return EXIT.ok;
};

function policyLines(p: { failOn: FailOn; from?: string; allow: Array<AllowEntry & { scope?: string }> }, now: number): string[] {
  const lines = keyValues([['Fail on', `${p.failOn}${p.from ? ` (${p.from === 'app' ? "the app's own" : p.from === 'cluster' ? 'the cluster default' : 'the built-in default'})` : ''}`]]);
  if (p.allow.length === 0) return [...lines, 'Allow-list: empty'];
  const rows = p.allow.map((a) => [a.id, a.scope ?? '', a.until.slice(0, 10) + (Date.parse(a.until) <= now ? ' (expired)' : ''), a.reason]);
  return [...lines, 'Allow-list:', ...table(['advisory', 'scope', 'until', 'reason'], rows).map((l) => `  ${l}`)];
}

/** `--until` as a date (2026-12-31) or a span from now (30d, 12w). */
export function parseUntil(arg: string, verb: string, now: number): string {
  const span = /^(\d{1,4})([dw])$/.exec(arg.trim());
  if (span) return new Date(now + Number(span[1]) * (span[2] === 'w' ? 7 : 1) * 86_400_000).toISOString();
  const t = Date.parse(arg);
  if (!Number.isFinite(t)) throw new UsageError(`--until must be a date like 2026-12-31 or a span like 30d, got ${JSON.stringify(arg)}`, verb);
  return new Date(t).toISOString();
}

export const scanPolicy: Command = async (ctx) => {
  const name = ctx.args[0];
  const cluster = ctx.flags.cluster === true;
  if (cluster === (name !== undefined)) throw new UsageError('give an app NAME, or --cluster for the cluster default', ctx.verb);
  const path = cluster ? '/v1/scan/policy' : appPath(name!, '/scan-policy');
  const body: Record<string, unknown> = {};
  const failOn = str(ctx.flags, 'fail-on');
  if (failOn !== undefined) body.failOn = failOn;
  if (ctx.flags.inherit === true) body.inherit = true;
  const remove = str(ctx.flags, 'remove');
  if (remove !== undefined) body.remove = [remove];
  const allow = str(ctx.flags, 'allow');
  const until = str(ctx.flags, 'until');
  const reason = str(ctx.flags, 'reason');
  if (allow !== undefined) {
    if (until === undefined || reason === undefined) throw new UsageError('--allow needs --until DATE and --reason TEXT', ctx.verb);
    body.allow = { id: allow, until: parseUntil(until, ctx.verb, ctx.now()), reason };
  } else if (until !== undefined || reason !== undefined) throw new UsageError('--until and --reason go with --allow ID', ctx.verb);
  const changing = Object.keys(body).length > 0;
  const res = await ctx.client().request<{ policy: EffectivePolicy }>(changing ? 'PATCH' : 'GET', path, changing ? { body } : {});
  if (ctx.json) {
    ctx.out.out(json(res));
    return EXIT.ok;
  }
  ctx.out.out(header(`${cluster ? 'cluster default' : name} scan policy${changing ? ' (updated)' : ''}`, ctx.out.color));
  for (const line of policyLines(res.policy, ctx.now())) ctx.out.out(line);
  return EXIT.ok;
};

function dbLine(db: Pick<ScanDbRecord, 'digest' | 'records'> & Partial<ScanDbRecord>): string {
  const all = db.byEcosystem ? Object.entries(db.byEcosystem).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])) : [];
  const eco = all.slice(0, 6).map(([k, v]) => `${k} ${v}`).join(', ') + (all.length > 6 ? `, ${all.length - 6} more ecosystems` : '');
  return `${db.digest.slice(0, 19)}: ${db.records} advisories${eco ? ` (${eco})` : ''}`;
}

export const scanDb: Command = async (ctx) => {
  const res = await ctx.client().request<{ db: ScanDbRecord | null; local: { digest: string; records: number; loadedAt: string } | null }>('GET', '/v1/scan/db');
  if (ctx.json) {
    ctx.out.out(json(res));
    return EXIT.ok;
  }
  ctx.out.out(header('advisory database', ctx.out.color));
  if (!res.db) {
    ctx.out.out('None loaded: images are inventoried (SBOM) but not matched. Load one with pleaco scan:db:update SOURCE');
    return EXIT.ok;
  }
  const local = res.local ? (res.local.digest === res.db.digest ? 'this node has it' : `this node still has ${res.local.digest.slice(0, 19)} (fetching)`) : 'this node has none yet (fetching)';
  for (const line of keyValues([
    ['Cluster', dbLine(res.db)],
    ['Loaded', `${relativeTime(res.db.loadedAt, ctx.now())} on ${res.db.node} from ${res.db.source}`],
    ['Skipped', `${res.db.errors} malformed file(s) or record(s)`],
    ['This node', local],
  ])) ctx.out.out(line);
  return EXIT.ok;
};

export const scanDbUpdate: Command = async (ctx) => {
  const source = ctx.args[0] ?? '';
  let done: ScanDbRecord | null = null;
  let failure: { code: string; message: string } | null = null;
  ctx.out.out(`-----> Loading advisories from ${redactSource(source)}`);
  await ctx.client().stream('/v1/scan/db', (ev) => {
    const e = ev as { type: string; line?: string; db?: ScanDbRecord; error?: { code: string; message: string } };
    if (e.type === 'progress' && e.line) ctx.out.out(`       ${e.line}`);
    if (e.type === 'done' && e.db) done = e.db;
    if (e.type === 'error' && e.error) failure = e.error;
  }, { method: 'POST', body: { source } });
  if (failure) {
    const f = failure as { code: string; message: string };
    throw new PleacoError(f.code as ErrorCode, f.message);
  }
  if (!done) throw new PleacoError('unavailable', 'the node ended the load without an answer');
  const db = done as ScanDbRecord;
  ctx.out.out(`-----> Loaded ${dbLine(db)}`);
  if (db.errors) ctx.out.out(`       ${db.errors} malformed file(s) or record(s) skipped: pleaco scan:db shows the count; the node's log names them`);
  ctx.out.out('       Every node fetches it by digest; the next builds scan with it');
  return EXIT.ok;
};
