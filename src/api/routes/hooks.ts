/**
 * GitHub webhooks. The body is read raw (bounded), the signature checked against the secret of each
 * app whose repository the payload names (constant-time), and only verified apps are triggered.
 * A missing or forged signature gets 401 and triggers nothing.
 */
import { PleacoError } from '../../errors.js';
import type { AppSpec } from '../../model/index.js';
import { parsePushEvent, repoUrlMatches, verifyGithubSignature } from '../../source/index.js';
import type { ApiDeps } from '../deps.js';
import { readRaw } from '../http.js';
import type { RouteDef } from '../registry.js';

export const HOOK_BODY_LIMIT = 5 * 1024 * 1024;

function payloadRepos(payload: unknown): string[] {
  const r = (payload as { repository?: Record<string, unknown> } | null)?.repository;
  if (!r || typeof r !== 'object') return [];
  return ['clone_url', 'ssh_url', 'git_url', 'html_url', 'svn_url'].map((k) => r[k]).filter((v): v is string => typeof v === 'string');
}

/** Delivery ids seen recently: a replayed (or re-sent) delivery triggers nothing the second time. */
class RecentDeliveries {
  private readonly seen = new Set<string>();
  constructor(private readonly max = 2048) {}
  /** True the first time an id is offered. */
  add(id: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    if (this.seen.size > this.max) this.seen.delete(this.seen.values().next().value as string);
    return true;
  }
}

export function hookRoutes(d: ApiDeps): RouteDef[] {
  const deliveries = new RecentDeliveries();
  return [
    {
      method: 'POST', path: '/v1/hooks/github', tag: 'hooks', auth: 'hmac', query: { app: 'limit the delivery to this app' },
      summary: 'GitHub push/ping webhook, verified with X-Hub-Signature-256 and the app webhook secret',
      handler: async (ctx) => {
        const raw = await readRaw(ctx, HOOK_BODY_LIMIT);
        const signature = ctx.get('x-hub-signature-256') || undefined;
        if (!signature) throw new PleacoError('unauthorized', 'missing X-Hub-Signature-256 header'); // before any parsing
        const event = ctx.get('x-github-event');
        if (!event) throw new PleacoError('bad_request', 'missing X-GitHub-Event header');
        let payload: unknown;
        try {
          payload = JSON.parse(raw.toString('utf8'));
        } catch {
          throw new PleacoError('bad_request', 'webhook body is not JSON (set the content type to application/json in GitHub)');
        }
        const only = typeof ctx.query.app === 'string' ? ctx.query.app : undefined;
        const repos = payloadRepos(payload);
        const candidates = d.apps.list().filter((a) => (only ? a.name === only : repos.length > 0 && repoUrlMatches(a.repo, repos)));
        const verified: AppSpec[] = candidates.filter((a) => verifyGithubSignature(a.webhookSecret, raw, signature));
        if (verified.length === 0) {
          d.log.warn('webhook rejected', { event, delivery: ctx.get('x-github-delivery'), candidates: candidates.length, signed: !!signature });
          throw new PleacoError('unauthorized', 'webhook signature does not match any app secret for this repository');
        }
        if (event === 'ping') {
          ctx.body = { pong: true, apps: verified.map((a) => a.name) };
          return;
        }
        if (event !== 'push') {
          ctx.status = 202;
          ctx.body = { ignored: event, triggered: [] };
          return;
        }
        const delivery = ctx.get('x-github-delivery');
        if (delivery && !deliveries.add(delivery)) {
          d.log.warn('webhook delivery seen before; ignored', { delivery });
          ctx.body = { duplicate: true, triggered: [] };
          return;
        }
        const push = parsePushEvent(payload);
        const triggered: { app: string; build: string }[] = [];
        if (!push.deleted) {
          for (const app of verified.filter((a) => push.branch === a.branch)) {
            const { build } = await d.apps.enqueue(app.name, push.after, 'webhook');
            triggered.push({ app: app.name, build: build.id });
            d.log.info('webhook push', { app: app.name, build: build.id, commit: push.after, delivery: ctx.get('x-github-delivery') });
          }
        }
        ctx.status = 202;
        ctx.body = { triggered };
      },
    },
  ];
}
