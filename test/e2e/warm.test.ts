/**
 * The deploy path overlaps (issue #12): while a build's tests run, the replicas of the release it will become start
 * unrouted, and the release adopts them; traffic moves only after every gate passed (and a release applies its
 * pleaco.json `autoscale` policy). On real parts: agent, builder,
 * runner and proxy processes, Docker Engine, a git daemon.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { webApp } from '../helpers/apps.js';
import { startGitDaemon, TestRepo } from '../helpers/gitrepo.js';
import { followBuild, startNode, waitForBody, type DeployOutcome, type TestNode } from '../helpers/node.js';
import { tempDir } from '../helpers/tmp.js';

interface Ctx {
  node: TestNode;
  repo: TestRepo;
  daemon: Awaited<ReturnType<typeof startGitDaemon>>;
  tmp: ReturnType<typeof tempDir>;
}
const warm = suite<Ctx>('warm');
const APP = 'warm-web';

warm.before(async (ctx) => {
  ctx.tmp = tempDir('pleaco-warm-');
  ctx.repo = new TestRepo(ctx.tmp.dir, 'web');
  ctx.repo.commit(webApp('version one'), 'v1');
  ctx.daemon = await startGitDaemon(`${ctx.tmp.dir}/server`);
  ctx.node = await startNode();
});

warm.after(async (ctx) => {
  await ctx.node.destroy();
  await ctx.daemon.stop();
  ctx.tmp.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const url = (node: TestNode) => async () => (await node.client.request<{ app: { url: string | null } }>('GET', `/v1/apps/${APP}`)).app.url;

/** Running app containers of `release` on this machine's Engine (by pleaco's labels). */
function containersOf(release: number): string[] {
  const out = execFileSync('docker', ['ps', '-q', '--no-trunc', '--filter', `label=io.pleaco.app=${APP}`, '--filter', `label=io.pleaco.release=${release}`, '--filter', 'label=io.pleaco.role=app']);
  return out.toString().split('\n').filter(Boolean).sort();
}

/** Starts a deploy and, while its build is in the test stage, samples the containers of `release` and the page served. */
async function deployWatching(ctx: Ctx, release: number): Promise<{ out: DeployOutcome; during: { ids: string[]; page: string }[] }> {
  const { build } = await ctx.node.client.request<{ build: { id: string } }>('POST', `/v1/apps/${APP}/deploys`, { body: {} });
  const during: { ids: string[]; page: string }[] = [];
  let done = false;
  const outcome = followBuild(ctx.node.client, APP, build.id).finally(() => (done = true));
  while (!done) {
    const rec = (await ctx.node.client.request<{ build: { stage: string } }>('GET', `/v1/apps/${APP}/builds/${build.id}`)).build;
    if (rec.stage === 'test') {
      const ids = containersOf(release);
      const u = await url(ctx.node)();
      const page = u ? await fetch(u).then((r) => r.text(), () => '') : '';
      during.push({ ids, page });
    }
    await sleep(150);
  }
  return { out: await outcome, during };
}

warm('a release adopts the replicas started while its tests ran; the old one served until then', async (ctx) => {
  await ctx.node.client.request('POST', '/v1/apps', { body: { name: APP, repo: ctx.daemon.url('web.git') } });
  await ctx.node.client.request('PUT', `/v1/apps/${APP}/scale`, { body: { replicas: 2 } });
  const first = await followBuild(ctx.node.client, APP, (await ctx.node.client.request<{ build: { id: string } }>('POST', `/v1/apps/${APP}/deploys`, { body: {} })).build.id);
  assert.ok(first.ok, `first deploy failed: ${JSON.stringify(first.error)}`);
  await waitForBody(url(ctx.node), /version one/);

  // Tests that take 4 s: long enough to see the replicas of v2 start and get healthy before any gate passed.
  ctx.repo.commit({ ...webApp('version two', { test: 'sleep 4; grep -q h1 /www/index.html\n' }) }, 'v2');
  const { out, during } = await deployWatching(ctx, 2);
  assert.ok(out.ok, `deploy failed: ${JSON.stringify(out.error)}\n${out.log.join('\n')}`);
  assert.is(out.release, 2);
  const warmIds = during.map((d) => d.ids).find((ids) => ids.length === 2);
  assert.ok(warmIds, `both replicas of v2 ran during the tests: ${JSON.stringify(during.map((d) => d.ids.length))}`);
  assert.ok(during.every((d) => /version one/.test(d.page)), 'the proxy served v1 while the tests ran (v2 unrouted)');
  await waitForBody(url(ctx.node), /version two/);
  const ps = (await ctx.node.client.request<{ processes: { containerId: string; release: number; state: string }[] }>('GET', `/v1/apps/${APP}/ps`)).processes;
  assert.equal(ps.map((p) => [p.release, p.state]), [[2, 'running'], [2, 'running']]);
  assert.equal(ps.map((p) => p.containerId).sort(), warmIds, 'the replicas that serve v2 are the ones started during the tests');
});

warm('a build whose tests fail leaves no replica of its release behind and never routes to it', async (ctx) => {
  ctx.repo.commit({ ...webApp('version three', { test: 'sleep 3; exit 1\n' }) }, 'v3 (tests fail)');
  const { out, during } = await deployWatching(ctx, 3);
  assert.not.ok(out.ok, 'the build failed its tests');
  assert.is(out.error?.code, 'test_failed');
  assert.ok(during.some((d) => d.ids.length > 0), 'the release-to-be was started during the tests');
  assert.ok(during.every((d) => !/version three/.test(d.page)), 'and never served');
  const deadline = Date.now() + 30_000;
  while (containersOf(3).length > 0 && Date.now() < deadline) await sleep(200);
  assert.equal(containersOf(3), [], 'its replicas are removed');
  assert.match(await (await fetch((await url(ctx.node)())!)).text(), /version two/);
  const ps = (await ctx.node.client.request<{ processes: { release: number }[] }>('GET', `/v1/apps/${APP}/ps`)).processes;
  assert.equal(ps.map((p) => p.release), [2, 2], 'v2 still runs on both slots');
});

warm('autoscale in pleaco.json is the app\'s policy from its release on', async (ctx) => {
  ctx.repo.commit({ ...webApp('version four'), 'pleaco.json': JSON.stringify({ test: 'sh /app/test.sh', autoscale: { min: 2, max: 4, targetRps: 100 } }) }, 'v4 autoscaled');
  const { out } = await deployWatching(ctx, 3);
  assert.ok(out.ok, `deploy failed: ${JSON.stringify(out.error)}`);
  assert.ok(out.log.some((l) => /Autoscaling from pleaco\.json: 2 to 4 replicas at 100 req\/s per replica/.test(l)), out.log.join('\n'));
  const as = await ctx.node.client.request<{ policy: unknown; replicas: number }>('GET', `/v1/apps/${APP}/autoscale`);
  assert.equal(as.policy, { min: 2, max: 4, targetRps: 100, windowS: 300 });
  assert.is(as.replicas, 2);
});

warm.run();
