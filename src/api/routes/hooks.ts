/**
 * GitHub webhooks. Nothing of an unauthenticated body is trusted or parsed: headers are checked first, the body is
 * read raw within a budget shared by all unauthenticated bodies (HOOK_BUDGET: bodies in flight, their total size,
 * a time bound; 503 with Retry-After past it), and the X-Hub-Signature-256 HMAC is checked over the raw bytes with
 * the secret of each candidate app (the one `?app=` names, else every app; constant time) before any JSON is parsed.
 * A missing or forged signature gets 401 and triggers nothing.
 *
 * A push queues a build of the app's branch, never of the commit the payload names: a signed body can be captured
 * and sent again (its delivery id is not signed), so the builder takes the branch head as it fetches it, and a push
 * whose commit is already released is ignored here. The builder ends a push build whose head is already released or
 * is an ancestor of the released commit without a release, and the agent refuses a push release older in the queue
 * than the current one (two builders racing): a push never moves an app backwards (docs/decisions.md).
 */
import { PleacoError } from '../../errors.js';
import type { AppSpec } from '../../model/index.js';
import { parsePushEvent, repoUrlMatches, verifyGithubSignature } from '../../source/index.js';
import type { ApiDeps } from '../deps.js';
import { BodyBudget, readRaw } from '../http.js';
import type { RouteDef } from '../registry.js';

export const HOOK_BODY_LIMIT = 5 * 1024 * 1024;
/** What all unauthenticated webhook bodies together may hold of the agent. */
export const HOOK_BUDGET = { maxInFlight: 16, maxBytes: 8 * 1024 * 1024, timeoutMs: 10_000 };

function payloadRepos(payload: unknown): string[] {
  const r = (payload as { repository?: Record<string, unknown> } | null)?.repository;
  if (!r || typeof r !== 'object') return [];
  return ['clone_url', 'ssh_url', 'git_url', 'html_url', 'svn_url'].map((k) => r[k]).filter((v): v is string => typeof v === 'string');
}

/** Delivery ids seen recently: a re-sent delivery is answered `duplicate` (a saving only: the id is not signed). */
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
  const budget = new BodyBudget(HOOK_BUDGET);
  let refusedLogged = 0;
  const rejected = { at: 0, quiet: 0 };
  return [
    {
      method: 'POST', path: '/v1/hooks/github', tag: 'hooks', auth: 'hmac', query: { app: 'limit the delivery to this app' },
      summary: 'GitHub push/ping webhook, verified with X-Hub-Signature-256 and the app webhook secret',
      handler: async (ctx) => {
        const signature = ctx.get('x-hub-signature-256') || undefined;
        if (!signature) throw new PleacoError('unauthorized', 'missing X-Hub-Signature-256 header', { details: { closeConnection: true } });
        const event = ctx.get('x-github-event');
        if (!event) throw new PleacoError('bad_request', 'missing X-GitHub-Event header', { details: { closeConnection: true } });
        const only = typeof ctx.query.app === 'string' ? ctx.query.app : undefined;
        let raw: Buffer;
        try {
          raw = await readRaw(ctx, HOOK_BODY_LIMIT, budget);
        } catch (err) {
          if (budget.refused > refusedLogged) {
            d.log.warn('webhook bodies refused: too many unauthenticated bodies in flight', { refused: budget.refused - refusedLogged });
            refusedLogged = budget.refused;
          }
          throw err;
        }
        const candidates = d.apps.list().filter((a) => only === undefined || a.name === only);
        const verified: AppSpec[] = candidates.filter((a) => verifyGithubSignature(a.webhookSecret, raw, signature));
        if (verified.length === 0) {
          // Forged deliveries cost a log line each at most every 10 s (with how many were left out), not each.
          const now = Date.now();
          if (now - rejected.at >= 10_000) {
            d.log.warn('webhook rejected', { event: event.slice(0, 40), delivery: ctx.get('x-github-delivery').slice(0, 100), candidates: candidates.length, alsoRejected: rejected.quiet });
            rejected.at = now;
            rejected.quiet = 0;
          } else rejected.quiet++;
          throw new PleacoError('unauthorized', 'webhook signature does not match any app secret for this repository');
        }
        let payload: unknown;
        try {
          payload = JSON.parse(raw.toString('utf8'));
        } catch {
          throw new PleacoError('bad_request', 'webhook body is not JSON (set the content type to application/json in GitHub)');
        }
        // Without ?app=, a delivery is for the apps of the repository it names (an app's secret signs only its hook).
        const repos = payloadRepos(payload);
        const apps = only !== undefined ? verified : verified.filter((a) => repos.length > 0 && repoUrlMatches(a.repo, repos));
        if (apps.length === 0) throw new PleacoError('unauthorized', 'webhook signature does not match any app secret for this repository');
        if (event === 'ping') {
          ctx.body = { pong: true, apps: apps.map((a) => a.name) };
          return;
        }
        if (event !== 'push') {
          ctx.status = 202;
          ctx.body = { ignored: event, triggered: [] };
          return;
        }
        const delivery = ctx.get('x-github-delivery').slice(0, 100);
        if (delivery && !deliveries.add(delivery)) {
          d.log.warn('webhook delivery seen before; ignored', { delivery });
          ctx.body = { duplicate: true, triggered: [] };
          return;
        }
        ctx.status = 202;
        ctx.body = await queuePush(d, apps, parsePushEvent(payload), delivery);
      },
    },
  ];
}

/**
 * Queues a build of the branch for every app the push is for, except where the pushed commit is already the
 * current release's (a re-sent delivery): those are answered in `ignored`.
 */
async function queuePush(d: ApiDeps, apps: AppSpec[], push: ReturnType<typeof parsePushEvent>, delivery: string) {
  const triggered: { app: string; build: string }[] = [];
  const ignored: { app: string; reason: string }[] = [];
  if (push.deleted) return { triggered, ignored };
  for (const app of apps.filter((a) => push.branch === a.branch)) {
    const current = d.apps.current(app.name);
    if (current?.commit === push.after) {
      ignored.push({ app: app.name, reason: `commit ${push.after.slice(0, 7)} is already released as v${current.number}` });
      continue;
    }
    const { build } = await d.apps.enqueue(app.name, app.branch, 'webhook');
    triggered.push({ app: app.name, build: build.id });
    d.log.info('webhook push', { app: app.name, build: build.id, branch: app.branch, pushed: push.after, delivery });
  }
  return { triggered, ignored };
}
