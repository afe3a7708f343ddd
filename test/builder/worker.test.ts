/** BuildWorker end to end on a real Engine, real git (local repos) and the real agent (through its link). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildWorker, DockerBuilder, type Builder } from '../../src/builder/index.js';
import { PleacoError } from '../../src/errors.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { keys, type AppSpec, type Build } from '../../src/model/index.js';
import { createLogger, setLogSink } from '../../src/log.js';
import type { LinkTransport } from '../../src/link/index.js';
import { DockerEngine } from '../../src/runtime/docker/index.js';
import { GitMirror } from '../../src/source/index.js';
import { BuilderAgent, type TransportWrap } from './_agent.js';
import { RUN, docker, engine, cleanupByLabel } from './_helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'pleaco-worker-test-'));
writeFileSync(join(tmp, 'config.json'), '{}');
const config = loadConfig({ PLEACO_STATE_DIR: tmp, PLEACO_ALLOW_LOCAL_REPOS: 'true', PLEACO_BUILD_MEMORY: '256m', PLEACO_TEST_TIMEOUT: '20', PLEACO_MIN_FREE_DISK: '512m', PLEACO_CONFIG: join(tmp, 'config.json') });
const logLines: string[] = [];
const restoreLog = setLogSink((l) => logLines.push(l));
const log = createLogger({ proc: 'builder-test' });
const git = new GitMirror({ root: join(tmp, 'git'), log });
const nodeId = `node-${RUN}`;
const apps: string[] = [];
const agents: BuilderAgent[] = [];

function repo(name: string, files: Record<string, string>): { url: string; commit: (f: Record<string, string | null>) => string } {
  const dir = join(tmp, 'repos', name);
  execFileSync('mkdir', ['-p', dir]);
  const g = (...a: string[]) => execFileSync('git', a, { cwd: dir, env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } }).toString().trim();
  g('init', '-q', '-b', 'main');
  const commit = (f: Record<string, string | null>): string => {
    for (const [p, text] of Object.entries(f)) text === null ? rmSync(join(dir, p)) : writeFileSync(join(dir, p), text);
    g('add', '-A');
    g('commit', '-q', '--allow-empty', '-m', `change ${Object.keys(f).join(',')}`);
    return g('rev-parse', 'HEAD');
  };
  commit(files);
  return { url: `file://${dir}`, commit };
}

async function setup(
  files: Record<string, string>,
  spec: Partial<AppSpec> = {},
  opts: { engine?: DockerEngine; builder?: Builder; buildTimeoutMs?: number; wrap?: TransportWrap; recoverMs?: number; config?: Config; janitor?: boolean } = {},
) {
  const name = `w${apps.length}-${RUN}`.toLowerCase().slice(0, 40);
  apps.push(name);
  const r = repo(name, files);
  const agent = await BuilderAgent.start({}, opts.wrap);
  agents.push(agent);
  await agent.put(keys.app(name), { name, repo: r.url, branch: 'main', webhookSecret: 'x', createdAt: new Date().toISOString(), ...spec } satisfies AppSpec);
  const eng = opts.engine ?? engine;
  const worker = new BuildWorker({
    view: agent.view,
    link: agent.link,
    git,
    builder: opts.builder ?? new DockerBuilder(eng),
    engine: eng,
    nodeId,
    config: opts.config ?? config,
    log,
    tickMs: 200,
    janitor: opts.janitor ?? false,
    ...(opts.buildTimeoutMs ? { buildTimeoutMs: opts.buildTimeoutMs } : {}),
    ...(opts.recoverMs ? { recoverMs: opts.recoverMs } : {}),
  });
  const stages: string[] = [];
  agent.view.on('change', (e) => {
    const v = e.value as Build | null;
    if (e.key.startsWith('builds/') && v && stages[stages.length - 1] !== `${v.status}/${v.stage}`) stages.push(`${v.status}/${v.stage}`);
  });
  return { name, repo: r, agent, worker, stages };
}

async function until<T>(fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const finished = (agent: BuilderAgent, app: string, id: string) => until(() => {
  const b = agent.get<Build>(keys.build(app, id));
  return b && ['succeeded', 'failed', 'superseded'].includes(b.status) ? b : null;
});

const DOCKERFILE = 'FROM busybox:latest\nWORKDIR /app\nCOPY . /app\nEXPOSE 8080\nCMD ["sh", "-c", "sleep 1000"]\n';

test.after(async () => {
  for (const a of agents) await a.close();
  restoreLog();
  for (const a of apps) await cleanupByLabel('io.pleaco.app', a);
  rmSync(tmp, { recursive: true, force: true });
});

test('a deploy is fetched, built, tested and released; the record walks through every stage', async () => {
  const { name, agent, worker, stages } = await setup({ Dockerfile: DOCKERFILE, 'pleaco.json': '{"test":"sh check.sh"}', 'check.sh': 'echo "checking with SECRET=$SECRET"\n' });
  await agent.put(keys.env(name, 'SECRET'), 'hunter2-very-secret');
  const b = await agent.enqueue(name, 'main');
  await worker.start();
  const done = await finished(agent, name, b.id);
  await worker.stop();
  assert.is(done.status, 'succeeded', JSON.stringify(done.error));
  assert.is(done.stage, 'done');
  assert.is(done.release, 1);
  assert.is(done.node, nodeId);
  assert.is(done.builder, 'docker');
  assert.match(done.commit ?? '', /^[0-9a-f]{40}$/);
  assert.is(done.image, `pleaco/${name}:${b.id}`);
  assert.equal(stages, ['queued/queued', 'running/fetch', 'running/build', 'running/test', 'running/scan', 'running/release', 'succeeded/done']);
  assert.ok(done.durations?.fetch !== undefined && done.durations?.build !== undefined && done.durations?.test !== undefined && done.durations?.scan !== undefined);
  assert.is(done.scan?.status, 'unchecked', 'no advisory database in this worker: inventoried, not matched');
  assert.ok(agent.get(keys.sbom(name, b.id)), 'the SBOM is stored with the build');
  assert.is(done.test?.exitCode, 0);
  const rel = agent.releases(name)[0]!;
  assert.is(rel.port, 8080, 'port from EXPOSE');
  assert.is(rel.imageId, done.imageId);
  assert.match(String(rel.description), /^Deploy [0-9a-f]{7}: change /);
  const img = await docker.getImage(done.image!).inspect();
  assert.is(img.Config.Labels['io.pleaco.managed'], 'true');
  assert.is(img.Config.Labels['io.pleaco.app'], name);
  assert.is(img.Config.Labels['io.pleaco.build'], b.id);
  const lines = agent.log(name, b.id);
  assert.ok(lines.some((l) => /^-----> Fetching file:\/\/.* \(ref main\)$/.test(l)), lines.join('\n'));
  assert.ok(lines.includes('-----> Building with docker'));
  assert.ok(lines.includes('-----> Testing: sh check.sh'));
  assert.ok(lines.some((l) => /^-----> Test passed in \d+\.\ds$/.test(l)));
  assert.ok(lines.includes('       checking with SECRET=***'), 'config values are masked in the build log');
  assert.ok(!lines.join('\n').includes('hunter2'));
  assert.ok(!logLines.join('\n').includes('hunter2'), 'and never in the process log');
  assert.ok(!(done.test?.output ?? '').includes('hunter2'));
});

test('a failing test fails the build with test_failed and its output; nothing is released', async () => {
  const { name, agent, worker } = await setup({ Dockerfile: DOCKERFILE, 'pleaco.yaml': 'test: echo "1 test failed"; exit 3\nport: 9000\n' });
  const b = await agent.enqueue(name, 'main');
  await worker.start();
  const done = await finished(agent, name, b.id);
  await worker.stop();
  assert.is(done.status, 'failed');
  assert.equal(done.error, { code: 'test_failed', message: 'the test command exited with code 3' });
  assert.is(done.test?.exitCode, 3);
  assert.match(done.test?.output ?? '', /1 test failed/);
  assert.is(done.release, undefined);
  assert.is(agent.releases(name).length, 0);
  assert.ok(agent.log(name, b.id).some((l) => /^-----> Test failed \(exit code 3\) in/.test(l)));
  const filters = JSON.stringify({ label: ['io.pleaco.managed=true', 'io.pleaco.role=test', `io.pleaco.app=${name}`] });
  assert.is((await docker.listContainers({ all: true, filters })).length, 0);
});

test('no test command: released, test.skipped says the release was not gated; app spec port wins', async () => {
  const { name, agent, worker } = await setup({ Dockerfile: DOCKERFILE }, { port: 7000 });
  const b = await agent.enqueue(name, 'main');
  await worker.start();
  const done = await finished(agent, name, b.id);
  await worker.stop();
  assert.is(done.status, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.test, { command: null, skipped: 'no test command in app config or pleaco.json/yaml: release not gated' });
  assert.is(agent.releases(name)[0]!.port, 7000);
});

test('failures carry stable codes: no_dockerfile, unknown_ref, invalid_config, build_failed', async () => {
  const { name, agent, worker, repo: r } = await setup({ 'README.md': 'no dockerfile here\n' });
  await worker.start();
  const b1 = await agent.enqueue(name, 'main');
  const d1 = await finished(agent, name, b1.id);
  assert.is(d1.error?.code, 'no_dockerfile');
  assert.match(d1.error!.message, /^no Dockerfile at the root of file:\/\/.* at [0-9a-f]{7}$/);
  const b2 = await agent.enqueue(name, 'no-such-branch');
  assert.is((await finished(agent, name, b2.id)).error?.code, 'unknown_ref');
  r.commit({ Dockerfile: DOCKERFILE, 'pleaco.json': '{"tests":"oops"}' });
  const b3 = await agent.enqueue(name, 'main');
  const d3 = await finished(agent, name, b3.id);
  assert.equal(d3.error, { code: 'invalid_config', message: 'pleaco.json: unknown key "tests" (allowed: test, port, healthcheck, autoscale)' });
  r.commit({ Dockerfile: 'FROM busybox:latest\nRUN exit 9\n', 'pleaco.json': null });
  const b4 = await agent.enqueue(name, 'main');
  const d4 = await finished(agent, name, b4.id);
  await worker.stop();
  assert.equal(d4.error, { code: 'build_failed', message: "The command '/bin/sh -c exit 9' returned a non-zero code: 9" });
  assert.ok(agent.log(name, b4.id).includes("-----> Build failed: The command '/bin/sh -c exit 9' returned a non-zero code: 9"));
  assert.is(agent.releases(name).length, 0);
});

test('a build superseded while running is aborted and stays superseded; stop() fails a running build as interrupted', async () => {
  const { name, agent, worker } = await setup({ Dockerfile: 'FROM busybox:latest\nRUN sleep 20\n' });
  const b = await agent.enqueue(name, 'main');
  await worker.start();
  await until(() => agent.get<Build>(keys.build(name, b.id))?.stage === 'build');
  await new Promise((r) => setTimeout(r, 500));
  const cur = agent.get<Build>(keys.build(name, b.id))!;
  const t0 = Date.now();
  await agent.put(keys.build(name, b.id), { ...cur, status: 'superseded', error: { code: 'superseded', message: 'superseded by build bX' } });
  await until(() => Object.keys(worker.runningBuilds()).length === 0, 15_000);
  assert.ok(Date.now() - t0 < 10_000);
  const d = agent.get<Build>(keys.build(name, b.id))!;
  assert.is(d.status, 'superseded');
  assert.is(agent.releases(name).length, 0);

  const b2 = await agent.enqueue(name, 'main');
  await until(() => agent.get<Build>(keys.build(name, b2.id))?.stage === 'build');
  await worker.stop();
  const d2 = agent.get<Build>(keys.build(name, b2.id))!;
  assert.is(d2.status, 'failed');
  assert.is(d2.error?.code, 'interrupted');
});

test('crash recovery: a running build of this node is re-queued once, then failed as interrupted', async () => {
  const { name, agent, worker } = await setup({ Dockerfile: DOCKERFILE });
  const b = await agent.enqueue(name, 'main');
  await agent.put(keys.build(name, b.id), { ...agent.get<Build>(keys.build(name, b.id))!, status: 'running', stage: 'build', node: nodeId });
  const other = await agent.record(name, { createdAt: new Date(0).toISOString() });
  await agent.put(keys.build(name, other.id), { ...agent.get<Build>(keys.build(name, other.id))!, status: 'running', stage: 'build', node: 'another-node' });
  const retried = { ...b, id: `${b.id}r`, createdAt: new Date(Date.now() + 60_000).toISOString(), status: 'running', stage: 'test', node: nodeId, retried: true };
  await agent.put(keys.build(name, retried.id), retried);
  await worker.start();
  const r = agent.get<Build & { retried?: boolean }>(keys.build(name, retried.id))!;
  assert.is(r.status, 'failed');
  assert.equal(r.error, { code: 'interrupted', message: 'the builder restarted while this build was running; deploy again' });
  const done = await finished(agent, name, b.id);
  await worker.stop();
  // b was overtaken by a newer build (the retried one): not re-queued either.
  assert.is(done.status, 'failed');
  assert.is(done.error?.code, 'interrupted');
  assert.is(agent.get<Build>(keys.build(name, other.id))!.status, 'running', "another node's build is not touched");
});

test('crash recovery re-queues a lone interrupted build, which then succeeds', async () => {
  const { name, agent, worker } = await setup({ Dockerfile: DOCKERFILE });
  const b = await agent.enqueue(name, 'main');
  await agent.put(keys.build(name, b.id), { ...agent.get<Build>(keys.build(name, b.id))!, status: 'running', stage: 'build', node: nodeId });
  await worker.start();
  const done = await finished(agent, name, b.id);
  await worker.stop();
  assert.is(done.status, 'succeeded', JSON.stringify(done.error));
  assert.is((done as Build & { retried?: boolean }).retried, true);
});

/** Writes a build record 'running' on this node that no worker runs (never queued, so no worker claims it first). */
let orphans = 0;
async function orphan(agent: BuilderAgent, app: string, extra: Partial<Build> & { retried?: boolean } = {}): Promise<Build> {
  const now = new Date();
  return agent.record(app, { id: `b${now.getTime().toString(36)}o${orphans++}`, status: 'running', stage: 'fetch', node: nodeId, startedAt: now.toISOString(), ...extra });
}

test('a claim the agent recorded but whose answer was lost: the retried claim is answered "running on this node" and the build runs', async () => {
  let lost = false;
  const { name, agent, worker } = await setup({ Dockerfile: DOCKERFILE }, {}, {
    recoverMs: 3_600_000, // no periodic recovery: the claim alone must hand the build over
    wrap: (inner, a) => ({
      request: async <T>(method: string, path: string, o?: Parameters<LinkTransport['request']>[2]): Promise<T> => {
        if (!lost && path.endsWith('/claim')) {
          lost = true;
          await inner.request(method, path, o); // the agent records the claim; its answer is lost (ECONNRESET)...
          assert.is(a.list<Build>('builds/')[0]!.value.status, 'running');
        }
        return inner.request<T>(method, path, o); // ...and the client retries
      },
    }),
  });
  const b = await agent.enqueue(name, 'main');
  await worker.start();
  const done = await finished(agent, name, b.id);
  await worker.stop();
  assert.is(agent.claims, 2, 'claimed, then claimed again');
  assert.is(done.status, 'succeeded', JSON.stringify(done.error));
  assert.is(done.node, nodeId);
  assert.is((done as Build & { retried?: boolean }).retried, undefined, 'run from the claim, not re-queued by recovery');
});

test('a build left running on this node while the worker runs is recovered after a sync (and by the periodic check)', async () => {
  const { name, agent, worker } = await setup({ Dockerfile: DOCKERFILE }, {}, { recoverMs: 3_600_000 });
  await worker.start();
  // A claim recorded by the agent whose answer never arrived (the agent was away longer than the client's retries).
  const b = await orphan(agent, name);
  await new Promise((r) => setTimeout(r, 600));
  assert.is(agent.get<Build>(keys.build(name, b.id))!.status, 'running', 'left alone until the next sync');
  assert.equal(worker.runningBuilds(), {});
  agent.view.emit('synced'); // the worker's mirror re-synced with the agent
  const done = await finished(agent, name, b.id);
  assert.is(done.status, 'succeeded', JSON.stringify(done.error));
  assert.is((done as Build & { retried?: boolean }).retried, true, 're-queued once, then run');
  // A build of another node, and the one this worker is running, are never touched.
  const foreign = await agent.record(name, { createdAt: new Date(0).toISOString() });
  await agent.put(keys.build(name, foreign.id), { ...foreign, status: 'running', stage: 'build', node: 'another-node' });
  agent.view.emit('synced');
  await new Promise((r) => setTimeout(r, 300));
  assert.is(agent.get<Build>(keys.build(name, foreign.id))!.status, 'running');
  await worker.stop();

  // The periodic check does the same without a sync; an orphan that was already retried fails as interrupted.
  const w2 = new BuildWorker({ view: agent.view, link: agent.link, git, builder: new DockerBuilder(engine), engine, nodeId, config, log, janitor: false, recoverMs: 200 });
  await w2.start();
  const again = await orphan(agent, name, { retried: true, stage: 'build' });
  const failed = await finished(agent, name, again.id);
  await w2.stop();
  assert.is(failed.status, 'failed');
  assert.equal(failed.error, { code: 'interrupted', message: 'the builder lost track of this build while it was running; deploy again' });
});

test('the final record is retried while the agent is away; recovery meanwhile leaves the running build alone', async () => {
  let failing = 0;
  const { name, agent, worker } = await setup({ Dockerfile: DOCKERFILE }, {}, {
    recoverMs: 100,
    wrap: (inner, a) => ({
      request: async <T>(method: string, path: string, o?: Parameters<LinkTransport['request']>[2]): Promise<T> => {
        const ops = (o?.body as { ops?: { key: string; value: Build | null }[] } | undefined)?.ops ?? [];
        if (ops.some((op) => op.key.startsWith('builds/') && op.value?.status === 'succeeded') && failing < 4) {
          failing++;
          a.view.emit('synced'); // reconnects meanwhile must not re-queue the build being recorded
          throw new PleacoError('unavailable', 'agent unreachable');
        }
        return inner.request<T>(method, path, o);
      },
    }),
  });
  const b = await agent.enqueue(name, 'main');
  await worker.start();
  const done = await finished(agent, name, b.id);
  await worker.stop();
  assert.is(failing, 4);
  assert.is(done.status, 'succeeded', JSON.stringify(done.error));
  assert.is((done as Build & { retried?: boolean }).retried, undefined);
  assert.is(agent.claims, 1);
});

test('poll targets and trigger; an app deleted loses its mirror and unused images', async () => {
  const { name, agent, worker, repo: r } = await setup({ Dockerfile: DOCKERFILE });
  await worker.start();
  assert.equal(worker.pollTargets(), [{ app: name, repo: r.url, branch: 'main', lastCommit: null }]);
  const head = await git.lsRemoteHead(r.url, 'main');
  await worker.triggerPoll(name, head!);
  const b = agent.list<Build>(keys.buildPrefix(name))[0]!.value;
  assert.is(b.trigger, 'poll');
  assert.is(b.ref, head);
  await agent.seen(keys.build(name, b.id)); // the builder's view learns of it over the watch stream
  assert.equal(worker.pollTargets(), [], 'not polled while its build is queued or running');
  const done = await finished(agent, name, b.id);
  assert.is(done.status, 'succeeded', JSON.stringify(done.error));
  assert.equal(worker.pollTargets(), [{ app: name, repo: r.url, branch: 'main', lastCommit: head }]);
  assert.ok(existsSync(join(tmp, 'git', `${name}.git`)));
  await agent.put(keys.app(name), null);
  const filters = JSON.stringify({ label: ['io.pleaco.managed=true', `io.pleaco.app=${name}`] });
  await until(() => !existsSync(join(tmp, 'git', `${name}.git`)), 10_000);
  for (let i = 0; i < 100 && (await docker.listImages({ filters })).length > 0; i++) await new Promise((res) => setTimeout(res, 100));
  assert.is((await docker.listImages({ filters })).length, 0);
  await worker.stop();
});

test('old images go: after a new release only the images of the kept releases stay (PLEACO_KEEP_IMAGES 1)', async () => {
  const { name, agent, worker, repo: r } = await setup({ Dockerfile: DOCKERFILE }, {}, { config: { ...config, build: { ...config.build, keepImages: 1 } }, janitor: true });
  await worker.start();
  const images = async (): Promise<string[]> => (await docker.listImages({ filters: JSON.stringify({ label: ['io.pleaco.managed=true', `io.pleaco.app=${name}`, 'io.pleaco.build'] }) })).map((i) => i.Id).sort();
  const first = await finished(agent, name, (await agent.enqueue(name, 'main')).id);
  assert.is(first.status, 'succeeded', JSON.stringify(first.error));
  r.commit({ 'v2.txt': 'two\n' });
  const second = await finished(agent, name, (await agent.enqueue(name, 'main')).id);
  assert.is(second.status, 'succeeded', JSON.stringify(second.error));
  // keep 1: the current release (v2) is the last one; v1's image is collected once the worker is idle.
  const left = await until(async () => {
    const ids = await images();
    return ids.length === 1 ? ids : null;
  }, 20_000).catch(async () => images());
  assert.equal(left, [second.imageId!], 'only the current release\'s image is left');
  await worker.stop();
});

test('a disk below PLEACO_MIN_FREE_DISK: old images go first, then the build is refused with insufficient_storage', async () => {
  const { name, agent, worker } = await setup({ Dockerfile: DOCKERFILE }, {}, { config: { ...config, disk: { minFreeBytes: 2 ** 60 } } });
  await worker.start();
  const d = await finished(agent, name, (await agent.enqueue(name, 'main')).id);
  await worker.stop();
  assert.is(d.error?.code, 'insufficient_storage');
  assert.match(d.error!.message, /^the build was refused: .+ has [\d.]+ \w+ free of [\d.]+ \w+, below the [\d.]+ \w+ pleaco keeps free \(PLEACO_MIN_FREE_DISK\) even after removing old images/);
  assert.ok(agent.log(name, d.id).some((l) => l.includes('insufficient') || l.includes('the build was refused')), agent.log(name, d.id).join('\n'));
});

test('Docker Engine down: the build fails with docker_unavailable and the worker keeps going', async () => {
  const { name, agent, worker } = await setup({ Dockerfile: DOCKERFILE }, {}, { engine: DockerEngine.connect('/nonexistent/docker.sock') });
  const b = await agent.enqueue(name, 'main');
  await worker.start();
  const d = await finished(agent, name, b.id);
  assert.is(d.error?.code, 'docker_unavailable');
  const b2 = await agent.enqueue(name, 'main');
  assert.is((await finished(agent, name, b2.id)).error?.code, 'docker_unavailable');
  await worker.stop();
});

test('an image that comes out of the builder without its labels fails the build with build_failed naming them; nothing is released', async () => {
  // A builder that loses labels (as a Dockerfile ending in a line continuation once made the Engine builder do):
  // the real Docker build with only io.pleaco.managed and a label of this test run.
  const real = new DockerBuilder(engine);
  const losing: Builder = { name: 'docker', available: () => real.available(), build: (req) => real.build({ ...req, labels: { 'io.pleaco.managed': 'true', 'io.pleaco.test-run': RUN } }) };
  const { name, agent, worker } = await setup({ Dockerfile: DOCKERFILE }, {}, { builder: losing });
  const b = await agent.enqueue(name, 'main');
  await worker.start();
  const d = await finished(agent, name, b.id);
  await worker.stop();
  await docker.getImage(`pleaco/${name}:${b.id}`).remove({ force: true }).catch(() => undefined);
  assert.is(d.status, 'failed');
  assert.is(d.error?.code, 'build_failed');
  assert.match(d.error?.message ?? '', /io\.pleaco\.app/);
  assert.match(d.error?.message ?? '', /io\.pleaco\.build/);
  assert.is(agent.releases(name).length, 0, 'nothing released');
});

test('a build that hangs fails at its deadline; a hanging test fails with test_timeout', async () => {
  const { name, agent, worker, repo: r } = await setup({ Dockerfile: 'FROM busybox:latest\nRUN sleep 30\n' }, {}, { buildTimeoutMs: 1500 });
  await worker.start();
  const b = await agent.enqueue(name, 'main');
  const d = await finished(agent, name, b.id);
  assert.equal(d.error, { code: 'build_failed', message: 'the image build did not finish within 2 s' });
  r.commit({ Dockerfile: DOCKERFILE });
  const w2 = new BuildWorker({ view: agent.view, link: agent.link, git, builder: new DockerBuilder(engine), engine, nodeId, config: { ...config, build: { ...config.build, testTimeoutMs: 1000 } }, log, janitor: false });
  await worker.stop();
  await agent.put(keys.app(name), { ...agent.get<AppSpec>(keys.app(name))!, testCommand: 'echo hanging; sleep 30' });
  await w2.start();
  const b2 = await agent.enqueue(name, 'main');
  const d2 = await finished(agent, name, b2.id);
  await w2.stop();
  assert.equal(d2.error, { code: 'test_timeout', message: 'the test command did not finish within 1 s' });
  assert.is(d2.test?.timedOut, true);
  assert.match(d2.test?.output ?? '', /hanging/);
});

test.run();
