/** releases, rollback. */
import type { Release } from '../../model/index.js';
import { parseReleaseNumber } from '../args.js';
import { appPath, EXIT, type Command } from '../context.js';
import { header, json, relativeTime, shortSha, table } from '../format.js';

export function releaseDescription(r: Release): string {
  if (r.description) return r.description;
  if (r.kind === 'rollback' && r.from) return `Rollback to v${r.from}`;
  if (r.kind === 'deploy') return `Deploy ${shortSha(r.commit)}`;
  return r.kind;
}

function testSummary(r: Release): string {
  const t = r.test;
  if (!t) return '-';
  if (t.skipped) return 'skipped';
  if (t.timedOut) return 'timed out';
  return t.exitCode === 0 ? 'passed' : t.exitCode === undefined ? '-' : `exit ${t.exitCode}`;
}

function failureNote(r: Release): string {
  if (!r.failure) return '';
  return r.failure.rolledBackTo === null ? ' (failed)' : ` (failed, rolled back to v${r.failure.rolledBackTo})`;
}

export const releases: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const body = await ctx.client().request<{ releases: Release[]; current?: number | null }>('GET', appPath(name, '/releases'));
  if (ctx.json) {
    ctx.out.out(json(body));
    return EXIT.ok;
  }
  ctx.out.out(header(`${name} releases`, ctx.out.color));
  if (body.releases.length === 0) {
    ctx.out.out(`No releases yet: deploy with pleaco deploy ${name}`);
    return EXIT.ok;
  }
  const now = ctx.now();
  const current = body.current === undefined ? body.releases[0]?.number : body.current;
  const rows = body.releases.map((r) => [
    `v${r.number}${r.number === current ? '*' : ''}`,
    releaseDescription(r) + failureNote(r),
    shortSha(r.commit),
    testSummary(r),
    relativeTime(r.createdAt, now),
  ]);
  for (const line of table(['version', 'description', 'commit', 'tests', 'created'], rows)) ctx.out.out(line);
  ctx.out.out('* current release');
  return EXIT.ok;
};

export const rollback: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const target = ctx.args[1] === undefined ? undefined : parseReleaseNumber(ctx.args[1], ctx.verb);
  const body = await ctx.client().request<{ release: Release }>('POST', appPath(name, '/rollback'), {
    body: target === undefined ? {} : { release: target },
  });
  const r = body.release;
  ctx.out.out(`Rolled back ${name} to v${r.from ?? target ?? '?'}: released v${r.number}`);
  return EXIT.ok;
};
