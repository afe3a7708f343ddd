/**
 * Webhook pushes built by the real builder (real agent, BuildWorker, git mirror and Docker Engine, a real local git
 * repository) with signed push payloads shaped as GitHub sends them (test/source/fixtures/push.json): a push never
 * moves an app backwards, whether a captured delivery is replayed or two pushes arrive out of order.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BuildWorker, DockerBuilder } from '../../src/builder/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';
import type { Build, Release } from '../../src/model/index.js';
import { GitMirror, signGithubPayload } from '../../src/source/index.js';
import { BuilderAgent } from '../builder/_agent.js';
import { cleanupByLabel, engine } from '../builder/_helpers.js';
import { raw } from '../helpers/agent.js';
import { git, TestRepo } from '../helpers/gitrepo.js';
import { tempDir } from '../helpers/tmp.js';

const APP = `hk${process.pid.toString(36)}`;
const DOCKERFILE = 'FROM busybox:latest\nCOPY . /app\nCMD ["sh", "-c", "sleep 1000"]\n';

interface Ctx {
  tmp: { dir: string; cleanup: () => void };
  repo: TestRepo;
  h: BuilderAgent;
  worker: BuildWorker;
  secret: string;
  fixture: Record<string, unknown>;
}

const s = suite<Ctx>('webhook pushes never move an app backwards');

s.before(async (ctx) => {
  ctx.tmp = tempDir('pleaco-hookdeploy-');
  ctx.repo = new TestRepo(ctx.tmp.dir, 'web');
  ctx.h = await BuilderAgent.start();
  const res = await ctx.h.a.client.request<{ app: { webhook: { secret: string } } }>('POST', '/v1/apps', { body: { name: APP, repo: `file://${ctx.repo.bare}` } });
  ctx.secret = res.app.webhook.secret;
  ctx.fixture = JSON.parse(readFileSync(fileURLToPath(new URL('../../../test/source/fixtures/push.json', import.meta.url)), 'utf8')) as Record<string, unknown>;
  const config = loadConfig({ PLEACO_STATE_DIR: ctx.tmp.dir, PLEACO_ALLOW_LOCAL_REPOS: 'true', PLEACO_BUILD_MEMORY: '256m', PLEACO_CONFIG: '' });
  const log = createLogger({ proc: 'hookdeploy-test' });
  ctx.worker = new BuildWorker({
    view: ctx.h.view, link: ctx.h.link, git: new GitMirror({ root: join(ctx.tmp.dir, 'git'), log }), builder: new DockerBuilder(engine), engine,
    nodeId: 'test-node', config, log, tickMs: 200, janitor: false,
  });
  await ctx.worker.start();
});

s.after(async (ctx) => {
  await ctx.worker.stop();
  await ctx.h.close();
  await cleanupByLabel('io.pleaco.app', APP);
  ctx.tmp.cleanup();
});

/** The push GitHub sends for `before..after` on main of this repository (the fixture, with our URLs and shas). */
function pushBody(ctx: Ctx, before: string, after: string): string {
  const url = `file://${ctx.repo.bare}`;
  const repository = { ...(ctx.fixture.repository as object), clone_url: url, html_url: url, url, git_url: url, ssh_url: url, svn_url: url };
  const head = { ...(ctx.fixture.head_commit as object), id: after };
  return JSON.stringify({ ...ctx.fixture, ref: 'refs/heads/main', before, after, created: false, deleted: false, forced: false, repository, head_commit: head });
}

/** Posts a signed push; `delivery` null leaves the X-GitHub-Delivery header out. */
function deliver(ctx: Ctx, body: string, delivery: string | null = randomUUID()) {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': signGithubPayload(ctx.secret, body), 'user-agent': 'GitHub-Hookshot/abc123' };
  if (delivery !== null) headers['x-github-delivery'] = delivery;
  return raw(ctx.h.a.url, 'POST', '/v1/hooks/github', { headers, body });
}

async function until<T>(what: string, fn: () => T | undefined | null | false, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const current = (ctx: Ctx): Release | null => ctx.h.a.apps.current(APP);
const builds = (ctx: Ctx): Build[] => ctx.h.a.apps.builds(APP);
/** Resolves once no build of the app is queued or running (every webhook's build has run its course). */
const settled = (ctx: Ctx) => until('the builds to finish', () => builds(ctx).every((b) => b.status !== 'queued' && b.status !== 'running'));

s('a signed push deploys its commit; a replayed older delivery (new or no delivery id) deploys nothing', async (ctx) => {
  const a = ctx.repo.commit({ Dockerfile: DOCKERFILE, 'v.txt': 'a' }, 'a');
  const first = await deliver(ctx, pushBody(ctx, '0'.repeat(40), a));
  assert.is(first.status, 202, first.text);
  await until('release of a', () => current(ctx)?.commit === a);
  const b = ctx.repo.commit({ 'v.txt': 'b' }, 'b');
  assert.is((await deliver(ctx, pushBody(ctx, a, b))).status, 202);
  await until('release of b', () => current(ctx)?.commit === b);
  const released = current(ctx)!.number;

  // Someone captured the signed delivery of `a` and sends it again: with a fresh delivery id, then without one.
  const captured = pushBody(ctx, '0'.repeat(40), a);
  for (const delivery of [randomUUID(), null]) {
    const r = await deliver(ctx, captured, delivery);
    assert.ok(r.status < 300, `the replay is answered without error (${r.status} ${r.text})`);
    await settled(ctx);
  }
  assert.is(current(ctx)?.commit, b, 'the app still runs the newest commit');
  assert.is(current(ctx)?.number, released, 'no release was made from the replayed delivery');
});

s('two pushes that arrive out of order: the newer commit is what stays deployed', async (ctx) => {
  const base = current(ctx)!.commit!;
  const c = ctx.repo.commit({ 'v.txt': 'c' }, 'c');
  const d = ctx.repo.commit({ 'v.txt': 'd' }, 'd');
  // GitHub delivers the push of d first and the push of c after it (deliveries are not ordered).
  assert.is((await deliver(ctx, pushBody(ctx, c, d))).status, 202);
  assert.is((await deliver(ctx, pushBody(ctx, base, c))).status, 202);
  await settled(ctx);
  assert.is(current(ctx)?.commit, d, 'the newest commit stays current');
  const numbers = ctx.h.releases(APP).filter((r) => r.commit === c);
  assert.equal(numbers, [], 'the older commit c was never released after d');
});

s('a force-push of the branch back to an older, never released commit is not deployed by the push', async (ctx) => {
  const base = current(ctx)!.commit!;
  const work = ctx.repo.work;
  const commitOnly = (v: string): string => {
    writeFileSync(join(work, 'v.txt'), v);
    git(work, 'commit', '-q', '-am', v);
    return git(work, 'rev-parse', 'HEAD');
  };
  const h1 = commitOnly('h1');
  const h2 = commitOnly('h2');
  git(work, 'push', '-q', 'origin', 'main');
  assert.is((await deliver(ctx, pushBody(ctx, base, h2))).status, 202);
  await settled(ctx);
  assert.is(current(ctx)?.commit, h2);
  const released = current(ctx)!.number;
  git(work, 'push', '-q', '--force', 'origin', `${h1}:main`);
  assert.is((await deliver(ctx, pushBody(ctx, h2, h1))).status, 202);
  await settled(ctx);
  assert.is(current(ctx)?.number, released, 'no release was made');
  const last = builds(ctx)[0]!;
  assert.is(last.status, 'superseded');
  assert.match(last.error?.message ?? '', /older than the released/);
});

s.run();
