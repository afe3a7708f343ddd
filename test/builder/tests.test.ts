import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runTests } from '../../src/builder/tests.js';
import { DockerBuilder } from '../../src/builder/docker.js';
import { pleacoLabels } from '../../src/builder/builder.js';
import { PleacoError } from '../../src/errors.js';
import { DockerEngine } from '../../src/runtime/docker/index.js';
import { RUN, docker, engine, tarOf, cleanupByLabel, testContainers } from './_helpers.js';

const app = `tt-${RUN}`;
const image = `pleaco/${app}:img`;
const mem = 128 * 1024 ** 2;
const run = (build: string, command: string, extra: Partial<Parameters<typeof runTests>[1]> = {}, lines: string[] = []) =>
  runTests(engine, { image, command, env: {}, timeoutMs: 20_000, labels: pleacoLabels({ app, build, role: 'test' }), memoryBytes: mem, onLog: (l) => lines.push(l), ...extra });

test.before(async () => {
  // An image with an ENTRYPOINT: the test command must still run through sh -c.
  await new DockerBuilder(engine).build({
    context: await tarOf({ Dockerfile: 'FROM busybox:latest\nWORKDIR /app\nCOPY check.sh /app/check.sh\nENTRYPOINT ["/bin/false"]\n', 'check.sh': 'echo "checking $1"\n' }),
    tag: image,
    labels: pleacoLabels({ app, build: 'img' }),
    memoryBytes: 256 * 1024 ** 2,
    cpuShares: 512,
    onLog: () => undefined,
  });
});

test.after(async () => {
  await cleanupByLabel('io.pleaco.app', app);
});

test('a passing command: exit 0, output streamed and kept, container removed', async () => {
  const lines: string[] = [];
  const r = await run('p1', 'sh check.sh ok && echo to-stderr >&2 && pwd', {}, lines);
  assert.is(r.exitCode, 0);
  assert.is(r.timedOut, false);
  assert.ok(r.durationMs >= 0 && r.durationMs < 20_000);
  // stdout and stderr are separate pipes in Docker: their relative order is not guaranteed.
  assert.equal([...lines].sort(), ['/app', 'checking ok', 'to-stderr']);
  assert.equal(lines.filter((l) => l !== 'to-stderr'), ['checking ok', '/app']);
  assert.equal(r.output.split('\n').sort(), ['', '/app', 'checking ok', 'to-stderr']);
  assert.is(await testContainers('p1'), 0);
});

test('a failing command: its exit code and output tail', async () => {
  const r = await run('f1', 'i=0; while [ $i -lt 3000 ]; do echo "line $i of output padding padding padding"; i=$((i+1)); done; echo boom; exit 7');
  assert.is(r.exitCode, 7);
  assert.is(r.timedOut, false);
  assert.ok(r.output.endsWith('boom\n'));
  assert.ok(r.output.length <= 64 * 1024 && r.output.length > 60 * 1024, `kept ${r.output.length} chars`);
  assert.ok(!r.output.includes('line 0 of output'), 'only the tail is kept');
  assert.is(await testContainers('f1'), 0);
});

test('a command that hangs is killed at the timeout', async () => {
  const lines: string[] = [];
  const t0 = Date.now();
  const r = await run('t1', 'echo started; sleep 60', { timeoutMs: 1500 }, lines);
  assert.is(r.timedOut, true);
  assert.is(r.exitCode, 137);
  assert.ok(Date.now() - t0 < 10_000);
  assert.ok(lines.includes('started'));
  assert.match(r.output, /did not finish within 2 s/);
  assert.is(await testContainers('t1'), 0);
});

test('env reaches the container through Env, never through Cmd; it is not logged by pleaco', async () => {
  const secret = 's3cr3t-value-xyz';
  const lines: string[] = [];
  let seen: { Cmd: string[]; Env: string[]; Labels: Record<string, string>; Ports: unknown } | null = null;
  const p = run('e1', 'test "$API_KEY" = "s3cr3t-value-xyz" && echo env-ok; sleep 2', { env: { API_KEY: secret, OTHER: 'x' } }, lines);
  for (let i = 0; i < 50 && !seen; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const filters = JSON.stringify({ label: ['io.pleaco.managed=true', 'io.pleaco.role=test', 'io.pleaco.build=e1'] });
    const [c] = await docker.listContainers({ all: true, filters });
    if (c) {
      const info = await docker.getContainer(c.Id).inspect();
      seen = { Cmd: info.Config.Cmd, Env: info.Config.Env, Labels: info.Config.Labels, Ports: info.HostConfig.PortBindings };
    }
  }
  const r = await p;
  assert.is(r.exitCode, 0);
  assert.ok(seen, 'saw the test container');
  assert.equal(seen.Cmd, ['sh', '-c', 'test "$API_KEY" = "s3cr3t-value-xyz" && echo env-ok; sleep 2']);
  assert.ok(seen.Env.includes(`API_KEY=${secret}`));
  assert.is(seen.Labels['io.pleaco.role'], 'test');
  assert.is(seen.Labels['io.pleaco.managed'], 'true');
  assert.equal(seen.Ports ?? {}, {});
  assert.equal(lines, ['env-ok']);
  assert.is(await testContainers('e1'), 0);
});

test('the memory limit applies to the test container (OOM is reported)', async () => {
  const r = await run('m1', 'dd if=/dev/zero of=/dev/null bs=300M count=1');
  assert.is(r.exitCode, 137);
  assert.is(r.oomKilled, true);
  assert.match(r.output, /out of memory \(limit 128 MiB\)/);
  assert.is(await testContainers('m1'), 0);
});

test('abort kills the run, removes the container, rejects with the reason', async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(new PleacoError('interrupted', 'stop')), 800);
  try {
    await run('a1', 'sleep 60', { signal: ac.signal });
    assert.unreachable('should reject');
  } catch (err) {
    assert.is((err as PleacoError).code, 'interrupted');
  }
  assert.is(await testContainers('a1'), 0);
});

test('the test container runs with no-new-privileges and a process limit', async () => {
  const lines: string[] = [];
  const r = await run('np', 'grep NoNewPrivs /proc/self/status; cat /sys/fs/cgroup/pids/pids.max', { pids: 256 }, lines);
  assert.is(r.exitCode, 0, lines.join('\n'));
  assert.equal(lines.map((l) => l.replace(/\s+/g, ' ')), ['NoNewPrivs: 1', '256']);
});

test('engine unreachable → docker_unavailable', async () => {
  try {
    await runTests(DockerEngine.connect('/nonexistent/docker.sock'), { image, command: 'true', env: {}, timeoutMs: 1000, labels: pleacoLabels({ app, role: 'test' }), memoryBytes: mem, onLog: () => undefined });
    assert.unreachable('should fail');
  } catch (err) {
    assert.is((err as PleacoError).code, 'docker_unavailable');
  }
});

test('no test container of this run is left', async () => {
  const filters = JSON.stringify({ label: ['io.pleaco.managed=true', 'io.pleaco.role=test', `io.pleaco.app=${app}`] });
  assert.is((await docker.listContainers({ all: true, filters })).length, 0);
});

test.run();
