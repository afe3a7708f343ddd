/** deploy, builds, builds:info. */
import type { Build } from '../../model/index.js';
import { appPath, EXIT, str, type Command } from '../context.js';
import { followBuild } from '../events.js';
import { duration, header, json, keyValues, relativeTime, shortSha, table } from '../format.js';

export const deploy: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const ref = str(ctx.flags, 'ref');
  const body = await ctx.client().request<{ build: Build; replaced?: string }>('POST', appPath(name, '/deploys'), {
    body: ref ? { ref } : {},
  });
  const b = body.build;
  ctx.out.out(`Deploying ${name} (${b.ref}): build ${b.id}`);
  if (body.replaced) ctx.out.out(`(replaces queued build ${body.replaced}, which will not run)`);
  if (ctx.flags['no-follow'] === true) {
    ctx.out.out(`Follow it with: pleaco builds:info ${name} ${b.id} -f`);
    return EXIT.ok;
  }
  return followBuild(ctx, name, b.id);
};

function buildTook(b: Build): string {
  if (!b.startedAt) return '-';
  const end = b.finishedAt ? Date.parse(b.finishedAt) : NaN;
  return Number.isNaN(end) ? 'running' : duration(end - Date.parse(b.startedAt));
}

export const builds: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const body = await ctx.client().request<{ builds: Build[] }>('GET', appPath(name, '/builds'));
  if (ctx.json) {
    ctx.out.out(json(body));
    return EXIT.ok;
  }
  ctx.out.out(header(`${name} builds`, ctx.out.color));
  if (body.builds.length === 0) {
    ctx.out.out(`No builds yet: start one with pleaco deploy ${name}`);
    return EXIT.ok;
  }
  const now = ctx.now();
  const rows = body.builds.map((b) => [
    b.id,
    b.status === 'running' ? `running (${b.stage})` : b.status,
    b.ref,
    shortSha(b.commit),
    b.release === undefined ? '-' : `v${b.release}`,
    b.trigger,
    relativeTime(b.createdAt, now),
    buildTook(b),
  ]);
  for (const line of table(['id', 'status', 'ref', 'commit', 'release', 'trigger', 'created', 'took'], rows)) ctx.out.out(line);
  return EXIT.ok;
};

export const buildsInfo: Command = async (ctx) => {
  const [name = '', id = ''] = ctx.args;
  if (ctx.flags.follow === true) return followBuild(ctx, name, id);
  const body = await ctx.client().request<{ build: Build }>('GET', appPath(name, `/builds/${encodeURIComponent(id)}`));
  if (ctx.json) {
    ctx.out.out(json(body));
    return EXIT.ok;
  }
  const b = body.build;
  const now = ctx.now();
  const d = b.durations ?? {};
  const stages = (['fetch', 'build', 'test'] as const).filter((s) => d[s] !== undefined).map((s) => `${s} ${duration(d[s] ?? 0)}`);
  const t = b.test;
  const test = !t ? undefined : t.skipped ? `skipped: ${t.skipped}` : t.timedOut ? 'timed out' : t.exitCode === undefined ? 'not run' : `exit ${t.exitCode}${t.command ? ` (${t.command})` : ''}`;
  ctx.out.out(header(`${name} build ${b.id}`, ctx.out.color));
  for (const line of keyValues([
    ['Status', b.status === 'running' ? `running (${b.stage})` : b.status],
    ['Ref', b.ref],
    ['Commit', b.commit],
    ['Trigger', b.trigger],
    ['Node', b.node],
    ['Builder', b.builder],
    ['Image', b.image],
    ['Tests', test],
    ['Release', b.release === undefined ? undefined : `v${b.release}`],
    ['Error', b.error ? `${b.error.message} (${b.error.code})` : undefined],
    ['Created', `${b.createdAt} (${relativeTime(b.createdAt, now)})`],
    ['Took', b.startedAt ? `${buildTook(b)}${stages.length ? ` (${stages.join(', ')})` : ''}` : undefined],
  ])) {
    ctx.out.out(line);
  }
  if (t?.output && t.exitCode !== 0) {
    ctx.out.out('');
    ctx.out.out(header('test output (last lines)', ctx.out.color));
    for (const line of t.output.trimEnd().split('\n')) ctx.out.out(line);
  }
  return EXIT.ok;
};
