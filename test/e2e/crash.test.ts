/**
 * kill -9 of any process mid-deploy loses nothing acknowledged, and no build or deploy stays in
 * progress forever: the supervisor restarts the process (as systemd would) and it reconciles.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { webApp } from '../helpers/apps.js';
import { TestRepo } from '../helpers/gitrepo.js';
import { followBuild, startNode, waitForBody, type TestNode } from '../helpers/node.js';
import { tempDir } from '../helpers/tmp.js';

const crash = suite<{ node: TestNode; repo: TestRepo; tmp: ReturnType<typeof tempDir> }>('crash');
const APP = 'crash-web';

crash.before(async (ctx) => {
  ctx.tmp = tempDir('pleaco-crash-');
  ctx.repo = new TestRepo(ctx.tmp.dir, 'web');
  ctx.node = await startNode();
  await ctx.node.client.request('POST', '/v1/apps', { body: { name: APP, repo: `file://${ctx.repo.bare}` } });
});
crash.after(async (ctx) => {
  await ctx.node.destroy();
  ctx.tmp.cleanup();
});

type B = { status: string; stage: string; error?: { code: string }; release?: number };
const getBuild = async (node: TestNode, id: string) => (await node.client.request<{ build: B }>('GET', `/v1/apps/${APP}/builds/${id}`)).build;

async function waitForStage(node: TestNode, id: string, stages: string[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const b = await getBuild(node, id).catch(() => null);
    if (b && stages.includes(b.stage)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`build ${id} never reached ${stages}`);
}

/** Polls (through agent restarts) until the build is finished, for at most two minutes. */
async function settle(node: TestNode, id: string): Promise<B> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const b = await getBuild(node, id).catch(() => null);
    if (b && !['queued', 'running'].includes(b.status)) return b;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`build ${id} still in progress after 2 minutes`);
}

const slowApp = (body: string) => {
  const files = webApp(body);
  files.Dockerfile = files.Dockerfile!.replace('COPY index.html', 'RUN sleep 4\nCOPY index.html');
  return files;
};

crash('kill -9 of the builder mid-build: the build is taken up again and released', async ({ node, repo }) => {
  repo.commit(slowApp('after builder crash'), 'slow build');
  const { build } = await node.client.request<{ build: { id: string } }>('POST', `/v1/apps/${APP}/deploys`, { body: {} });
  await waitForStage(node, build.id, ['build']);
  assert.ok(node.kill('builder', 'SIGKILL'));
  const b = await settle(node, build.id);
  assert.is(b.status, 'succeeded', `build ended ${b.status} ${JSON.stringify(b.error)}`);
  const url = async () => (await node.client.request<{ app: { url: string | null } }>('GET', `/v1/apps/${APP}`)).app.url;
  await waitForBody(url, /after builder crash/);
});

crash('kill -9 of the agent mid-build: state survives and the build still finishes', async ({ node, repo }) => {
  repo.commit(slowApp('after agent crash'), 'slow build 2');
  const { build } = await node.client.request<{ build: { id: string } }>('POST', `/v1/apps/${APP}/deploys`, { body: {} });
  await waitForStage(node, build.id, ['build']);
  assert.ok(node.kill('agent', 'SIGKILL'));
  const b = await settle(node, build.id);
  assert.is(b.status, 'succeeded', `the builder rides out the agent restart (${JSON.stringify(b.error)})`);
  const apps = await node.client.request<{ apps: { name: string }[] }>('GET', '/v1/apps');
  assert.equal(apps.apps.map((a) => a.name), [APP], 'the app acknowledged before the crash is still there');
  const out = await followBuild(node.client, APP, build.id);
  assert.ok(out.ok, 'the finished deploy reports done after the restart');
  assert.is(out.release, b.release);
  const releases = await node.client.request<{ releases: { build: string }[] }>('GET', `/v1/apps/${APP}/releases`);
  assert.is(releases.releases.filter((r) => r.build === build.id).length, 1, 'one release for the build, even if its request was repeated');
});

crash('kill -9 of the runner: a restarted runner adopts the containers without recreating them', async ({ node }) => {
  const before = (await node.client.request<{ processes: { containerId: string; state: string }[] }>('GET', `/v1/apps/${APP}/ps`)).processes;
  assert.ok(before.length >= 1 && before.every((p) => p.state === 'running'));
  assert.ok(node.kill('runner', 'SIGKILL'));
  await new Promise((r) => setTimeout(r, 4000)); // the supervisor restarts it after 1 s
  const after = (await node.client.request<{ processes: { containerId: string; state: string }[] }>('GET', `/v1/apps/${APP}/ps`)).processes;
  assert.equal(after.map((p) => p.containerId), before.map((p) => p.containerId));
});

crash('kill -9 of pleaco-proxy as the node stops (no restart follows): its HAProxy does not outlive it', async ({ node }) => {
  const master = Number(readFileSync(join(node.stateDir, 'proxy', 'haproxy.pid'), 'utf8').trim());
  assert.match(readFileSync(`/proc/${master}/cmdline`, 'utf8'), 'haproxy');
  assert.ok(node.kill('proxy', 'SIGKILL'));
  // The supervisor would restart it after 1 s, and the new pleaco-proxy would end the old HAProxy: stopping the node
  // now leaves nobody to do that. stop() fails when any process of the node's state dir is still there after it.
  await node.stop();
});

crash.run();
