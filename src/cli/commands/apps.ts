/** apps, apps:create, apps:info, apps:destroy. */
import { describeResources, type Build, type Release, type Resources, type SlotStatus } from '../../model/index.js';
import { CliError, UsageError } from '../args.js';
import { appPath, EXIT, str, type Command, type Ctx } from '../context.js';
import { header, json, keyValues, paint, relativeTime, shortSha, table } from '../format.js';
import { processTable } from './ps.js';

export interface AppSummary {
  name: string;
  repo: string;
  branch: string;
  release: number | null;
  replicas: number;
  running: number;
  url: string | null;
}

export interface AppInfo extends AppSummary {
  createdAt: string;
  webhook: { path: string; secret: string };
  currentRelease: Release | null;
  processes: SlotStatus[];
  lastBuild: Build | null;
  configKeys: string[];
  /** Host names routed to the app, its implicit `<app>.<domain>` first. */
  domains?: { host: string; implicit: boolean }[];
  /** Its container limits: set, the node's defaults, and what the current release runs with. */
  resources?: { resources: Resources; effective: Resources };
}

export const apps: Command = async (ctx) => {
  const body = await ctx.client().request<{ apps: AppSummary[] }>('GET', '/v1/apps');
  if (ctx.json) return print(ctx, json(body));
  if (body.apps.length === 0) {
    ctx.out.out('You have no apps yet. Create one with: pleaco apps:create NAME --repo URL');
    return EXIT.ok;
  }
  const rows = body.apps.map((a) => [a.name, a.release === null ? '-' : `v${a.release}`, `${a.running}/${a.replicas}`, a.url ?? '-', a.repo, a.branch]);
  for (const line of table(['name', 'release', 'running', 'url', 'repo', 'branch'], rows)) ctx.out.out(line);
  return EXIT.ok;
};

export const appsCreate: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const branch = str(ctx.flags, 'branch');
  const req: Record<string, string> = { name, repo: str(ctx.flags, 'repo') ?? '' };
  if (branch) req.branch = branch;
  const { app } = await ctx.client().request<{ app: AppInfo }>('POST', '/v1/apps', { body: req });
  ctx.out.out(`Created ${app.name} from ${app.repo} (branch ${app.branch})`);
  for (const line of keyValues([
    ['URL', app.url ?? '(assigned on first release)'],
    ['Webhook', `${app.webhook.path}  (GitHub: content type application/json, events: push)`],
    ['Webhook secret', app.webhook.secret],
  ])) {
    ctx.out.out(line);
  }
  ctx.out.out(`Deploy it now with: pleaco deploy ${app.name}`);
  return EXIT.ok;
};

function releaseLine(r: Release | null, now: number): string | null {
  if (!r) return null;
  const what = r.kind === 'rollback' && r.from ? `rollback to v${r.from}` : r.kind;
  return `v${r.number} (${what}${r.commit ? ` ${shortSha(r.commit)}` : ''}, ${relativeTime(r.createdAt, now)})`;
}

function buildLine(b: Build | null, now: number): string | null {
  if (!b) return null;
  const err = b.error ? `: ${b.error.message}` : '';
  return `${b.id} ${b.status}${err} (${b.ref}, ${relativeTime(b.createdAt, now)})`;
}

export const appsInfo: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const body = await ctx.client().request<{ app: AppInfo }>('GET', appPath(name));
  if (ctx.json) return print(ctx, json(body));
  const a = body.app;
  const now = ctx.now();
  ctx.out.out(header(a.name, ctx.out.color));
  for (const line of keyValues([
    ['Repo', a.repo],
    ['Branch', a.branch],
    ['URL', a.url ?? '-'],
    ['Domains', a.domains?.filter((d) => !d.implicit).map((d) => d.host).join(', ') || null],
    ['Release', releaseLine(a.currentRelease, now) ?? 'none yet'],
    ['Replicas', `${a.replicas} (${a.running} running)`],
    ['Last build', buildLine(a.lastBuild, now) ?? 'none'],
    ['Config', a.configKeys.length ? a.configKeys.join(', ') : '(none)'],
    ['Limits', a.resources ? `${describeResources(a.resources.effective).replace(/^defaults$/, 'none')}${Object.keys(a.resources.resources).length ? '' : ' (node defaults)'}` : null],
    ['Webhook', `${a.webhook.path} (secret in --json)`],
    ['Created', `${a.createdAt} (${relativeTime(a.createdAt, now)})`],
  ])) {
    ctx.out.out(line);
  }
  if (a.processes.length) {
    ctx.out.out('');
    ctx.out.out(header(`${a.name} processes`, ctx.out.color));
    for (const line of processTable(a.processes, now)) ctx.out.out(line);
  }
  return EXIT.ok;
};

export const appsDestroy: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  let confirm = str(ctx.flags, 'confirm');
  if (confirm === undefined) {
    if (!ctx.deps.ask) throw new UsageError(`destroying ${name} needs --confirm ${name} when stdin is not a terminal`, 'apps:destroy');
    ctx.out.err(paint(ctx.out.errColor ?? ctx.out.color, 'yellow', ` !  This destroys ${name}: its releases, config, containers, images and git mirror.`));
    confirm = (await ctx.deps.ask(` !  To proceed, type ${name}: `)).trim();
  }
  if (confirm !== name) throw new CliError(`confirmation ${JSON.stringify(confirm)} did not match ${name}; nothing was destroyed`);
  await ctx.client().request('DELETE', appPath(name));
  ctx.out.out(`Destroyed ${name}`);
  return EXIT.ok;
};

export function print(ctx: Ctx, text: string): number {
  ctx.out.out(text);
  return EXIT.ok;
}
