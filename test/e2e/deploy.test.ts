/**
 * End to end on real parts: agent, builder and runner processes, Docker Engine, a git daemon.
 * Create an app from a repository, deploy, request it, push a commit, deliver a signed webhook, see
 * the new content, roll back, see the old content again; failing tests block a release.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { signGithubPayload } from '../../src/source/index.js';
import { webApp } from '../helpers/apps.js';
import { closedPort, startGitDaemon, TestRepo } from '../helpers/gitrepo.js';
import { deploy, followBuild, startNode, waitForBody, type TestNode } from '../helpers/node.js';
import { tempDir } from '../helpers/tmp.js';

interface Ctx {
  node: TestNode;
  repo: TestRepo;
  daemon: Awaited<ReturnType<typeof startGitDaemon>>;
  tmp: ReturnType<typeof tempDir>;
  secret: string;
}
const e2e = suite<Ctx>('e2e');
const APP = 'e2e-web';

e2e.before(async (ctx) => {
  ctx.tmp = tempDir('pleaco-e2e-');
  ctx.repo = new TestRepo(ctx.tmp.dir, 'web');
  ctx.repo.commit(webApp('version one'), 'v1');
  ctx.daemon = await startGitDaemon(`${ctx.tmp.dir}/server`);
  ctx.node = await startNode();
});

e2e.after(async (ctx) => {
  await ctx.node.destroy();
  await ctx.daemon.stop();
  ctx.tmp.cleanup();
});

const appUrl = (node: TestNode) => async () => (await node.client.request<{ app: { url: string | null } }>('GET', `/v1/apps/${APP}`)).app.url;

e2e('create from a git daemon URL, deploy, and the app serves', async (ctx) => {
  const res = await ctx.node.client.request<{ app: { webhook: { secret: string } } }>('POST', '/v1/apps', { body: { name: APP, repo: ctx.daemon.url('web.git') } });
  ctx.secret = res.app.webhook.secret;
  const out = await deploy(ctx.node.client, APP);
  assert.ok(out.ok, `deploy failed: ${JSON.stringify(out.error)}\n${out.log.join('\n')}`);
  assert.is(out.release, 1);
  assert.ok(out.url, 'a URL is reported');
  assert.ok(out.log.some((l) => /Testing/i.test(l)), 'the test stage ran and is in the log');
  for (const s of ['fetch', 'build', 'test']) assert.ok(out.stages.includes(s), `stage ${s} was shown (${out.stages})`);
  const body = await (await fetch(out.url)).text();
  assert.match(body, 'version one');
});

e2e('push + signed webhook deploys the new commit; rollback serves the old content again', async (ctx) => {
  const sha = ctx.repo.commit({ 'index.html': '<h1>version two</h1>\n' }, 'v2');
  const payload = JSON.stringify({
    ref: 'refs/heads/main', before: '0'.repeat(40), after: sha, created: false, deleted: false, forced: false,
    repository: { id: 1, name: 'web', full_name: 'acme/web', clone_url: ctx.daemon.url('web.git'), html_url: 'https://github.com/acme/web' },
    pusher: { name: 'octo', email: 'octo@example.invalid' }, head_commit: { id: sha, message: 'v2' }, commits: [{ id: sha, message: 'v2' }],
  });
  const res = await ctx.node.client.request<{ triggered: { app: string; build: string }[] }>('POST', '/v1/hooks/github', {
    rawBody: payload,
    headers: { 'x-github-event': 'push', 'x-github-delivery': 'e2e-1', 'x-hub-signature-256': signGithubPayload(ctx.secret, payload) },
  });
  assert.is(res.triggered.length, 1);
  const out = await followBuild(ctx.node.client, APP, res.triggered[0]!.build);
  assert.ok(out.ok, `webhook deploy failed: ${JSON.stringify(out.error)}`);
  assert.is(out.release, 2);
  await waitForBody(appUrl(ctx.node), /version two/);

  const back = await ctx.node.client.request<{ release: { number: number; from: number } }>('POST', `/v1/apps/${APP}/rollback`, { body: {} });
  assert.equal([back.release.number, back.release.from], [3, 1]);
  await waitForBody(appUrl(ctx.node), /version one/);
});

e2e('failing tests block the release; the app keeps serving the current one', async (ctx) => {
  ctx.repo.commit({ 'index.html': '<h1>version broken</h1>\n', 'test.sh': 'echo "expected a greeting"; exit 7\n' }, 'broken');
  const out = await deploy(ctx.node.client, APP);
  assert.is(out.ok, false);
  assert.is(out.error?.code, 'test_failed');
  assert.ok(out.log.some((l) => l.includes('expected a greeting')), 'the failing test output is shown');
  const releases = await ctx.node.client.request<{ releases: { number: number }[] }>('GET', `/v1/apps/${APP}/releases`);
  assert.is(releases.releases[0]!.number, 3, 'no release was made');
  await waitForBody(appUrl(ctx.node), /version one/, 10_000);
});

e2e('an unknown ref and a repository without a Dockerfile fail with clear errors', async (ctx) => {
  const unknown = await deploy(ctx.node.client, APP, 'no-such-branch');
  assert.is(unknown.error?.code, 'unknown_ref');
  ctx.repo.commit({ 'index.html': '<h1>version one</h1>\n', 'test.sh': 'true\n' }, 'fix');
  execFileSync('git', ['rm', '-q', 'Dockerfile'], { cwd: ctx.repo.work });
  ctx.repo.commit({}, 'no dockerfile');
  const none = await deploy(ctx.node.client, APP);
  assert.is(none.error?.code, 'no_dockerfile');
});

e2e('an unreachable repository fails the deploy with a clear error and no credentials in it', async (ctx) => {
  const port = await closedPort(); // nothing listens there
  await ctx.node.client.request('POST', '/v1/apps', { body: { name: 'gone', repo: `http://robot:s3cret-token@127.0.0.1:${port}/x.git` } });
  const out = await deploy(ctx.node.client, 'gone');
  assert.is(out.ok, false);
  assert.is(out.error?.code, 'git_failed');
  assert.match(out.error!.message, /unreachable|could not|cannot/i);
  assert.not.match(JSON.stringify(out), /s3cret-token/);
  assert.not.ok(ctx.node.lines.some((l) => l.includes('s3cret-token')), 'not in any process log either');
  await ctx.node.client.request('DELETE', '/v1/apps/gone');
});

e2e('destroying the app removes its containers', async (ctx) => {
  await ctx.node.client.request('DELETE', `/v1/apps/${APP}`);
  const deadline = Date.now() + 30_000;
  let left = ['x'];
  while (Date.now() < deadline && left.length) {
    left = execFileSync('docker', ['ps', '-aq', '--filter', `label=io.pleaco.app=${APP}`]).toString().split('\n').filter(Boolean);
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.equal(left, []);
});

e2e.run();
