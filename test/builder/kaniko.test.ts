/** KanikoBuilder: argv and availability always; a real build only when the executor image is on this Engine. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KanikoBuilder, kanikoArgs } from '../../src/builder/kaniko.js';
import { pleacoLabels } from '../../src/builder/builder.js';
import { DEFAULTS } from '../../src/config/index.js';
import { PleacoError } from '../../src/errors.js';
import { DockerBuilder } from '../../src/builder/docker.js';
import { RUN, docker, engine, tarOf, cleanupByLabel } from './_helpers.js';

const image = process.env.PLEACO_KANIKO_IMAGE ?? DEFAULTS.build.kanikoImage;
const app = `kt-${RUN}`;
const kaniko = new KanikoBuilder(engine, { image, nodeId: `node-${RUN}` });
const av = await kaniko.available();

test('argv: documented kaniko flags, one --label per label, no shell', () => {
  assert.equal(kanikoArgs('pleaco/web:b1', { 'io.pleaco.managed': 'true', 'io.pleaco.app': 'web' }), [
    '--context=dir:///workspace',
    '--dockerfile=/workspace/Dockerfile',
    '--no-push',
    '--tar-path=/out/image.tar',
    '--destination=pleaco/web:b1',
    '--label=io.pleaco.managed=true',
    '--label=io.pleaco.app=web',
  ]);
});

test('available() names the missing executor image, and build refuses clearly', async () => {
  const missing = new KanikoBuilder(engine, { image: 'pleaco-no-such/executor:none' });
  assert.equal(await missing.available(), { ok: false, reason: 'executor image pleaco-no-such/executor:none not present (no registry here; load it with docker load)' });
  try {
    await missing.build({ context: await tarOf({ Dockerfile: 'FROM busybox:latest\n' }), tag: `pleaco/${app}:x`, labels: pleacoLabels({ app }), memoryBytes: 256 * 1024 ** 2, cpuShares: 512, onLog: () => undefined });
    assert.unreachable('should fail');
  } catch (err) {
    assert.instance(err, PleacoError);
    assert.is((err as PleacoError).code, 'build_failed');
    assert.match((err as PleacoError).message, /not present/);
  }
});

if (!av.ok) {
  process.stdout.write(`SKIP kaniko: ${av.reason}\n`);
  test.skip('kaniko builds a Dockerfile into a labelled, loaded image', () => undefined);
} else {
  test.after(() => cleanupByLabel('io.pleaco.app', app));
  test('kaniko builds a Dockerfile into a labelled, loaded image', async () => {
    const lines: string[] = [];
    const labels = pleacoLabels({ app, build: 'k1' });
    const { imageId } = await kaniko.build({
      context: await tarOf({ Dockerfile: 'FROM busybox:latest\nCOPY a.txt /a.txt\n', 'a.txt': 'a\n' }),
      tag: `pleaco/${app}:k1`,
      labels,
      memoryBytes: 512 * 1024 ** 2,
      cpuShares: 512,
      onLog: (l) => lines.push(l),
    });
    const info = await docker.getImage(`pleaco/${app}:k1`).inspect();
    assert.is(info.Id, imageId);
    for (const [k, v] of Object.entries(labels)) assert.is(info.Config.Labels[k], v);
    const filters = JSON.stringify({ label: ['io.pleaco.managed=true', 'io.pleaco.role=build', `io.pleaco.app=${app}`] });
    assert.is((await docker.listContainers({ all: true, filters })).length, 0, 'executor container removed');
  });
}

/*
 * The container plumbing (context extraction, mounts, labels, log streaming, exit codes, docker load + tag,
 * cleanup) with a stand-in executor image: it checks the argv and copies a prepared image tarball to
 * /out/image.tar, as kaniko's --tar-path does. It does not prove kaniko itself; the test above does when the
 * real executor image is present.
 */
const fakeApp = `kf-${RUN}`;
const fakeExecutor = `pleaco-test/fake-kaniko:${RUN}`;
test.before(async () => {
  const dockerBuilder = new DockerBuilder(engine);
  const quiet = { memoryBytes: 256 * 1024 ** 2, cpuShares: 512, onLog: () => undefined };
  await dockerBuilder.build({ ...quiet, context: await tarOf({ Dockerfile: 'FROM busybox:latest\nCOPY a.txt /a.txt\n', 'a.txt': 'a\n' }), tag: `pleaco/${fakeApp}:built`, labels: pleacoLabels({ app: fakeApp, build: 'k2' }) });
  const chunks: Buffer[] = [];
  for await (const c of (await docker.getImage(`pleaco/${fakeApp}:built`).get()) as AsyncIterable<Buffer>) chunks.push(c);
  await docker.getImage(`pleaco/${fakeApp}:built`).remove();
  const script = [
    'echo "INFO executor argv: $*"',
    'for a in "$@"; do case "$a" in --context=dir:///workspace|--dockerfile=/workspace/Dockerfile|--no-push|--tar-path=/out/image.tar|--destination=*|--label=*) ;; *) echo "error: unexpected flag $a"; exit 2;; esac; done',
    'if grep -q FAIL /workspace/Dockerfile; then echo "error building image: parsing dockerfile: FAIL"; exit 1; fi',
    'cp /image.tar /out/image.tar && echo "INFO wrote /out/image.tar"',
  ].join('\n');
  const ctx = await tarOf({ Dockerfile: 'FROM busybox:latest\nCOPY image.tar executor.sh /\nENTRYPOINT ["sh", "/executor.sh"]\n', 'executor.sh': script + '\n', 'image.tar': Buffer.concat(chunks) });
  await dockerBuilder.build({ ...quiet, context: ctx, tag: fakeExecutor, labels: pleacoLabels({ app: fakeApp, build: 'executor' }) });
});
test.after(() => cleanupByLabel('io.pleaco.app', fakeApp));

test('with a stand-in executor: context mounted, argv checked, tarball loaded and tagged, container removed', async () => {
  const fake = new KanikoBuilder(engine, { image: fakeExecutor, nodeId: `node-${RUN}` });
  const lines: string[] = [];
  const { imageId } = await fake.build({ context: await tarOf({ Dockerfile: 'FROM busybox:latest\n' }), tag: `pleaco/${fakeApp}:k2`, labels: pleacoLabels({ app: fakeApp, build: 'k2' }), memoryBytes: 256 * 1024 ** 2, cpuShares: 512, onLog: (l) => lines.push(l) });
  const info = await docker.getImage(`pleaco/${fakeApp}:k2`).inspect();
  assert.is(info.Id, imageId);
  assert.is(info.Config.Labels['io.pleaco.build'], 'k2');
  assert.ok(lines.some((l) => l.startsWith('INFO executor argv: --context=dir:///workspace ')), lines.join('\n'));
  assert.ok(lines.includes('INFO wrote /out/image.tar'));
  const filters = JSON.stringify({ label: ['io.pleaco.managed=true', 'io.pleaco.role=build', `io.pleaco.app=${fakeApp}`] });
  assert.is((await docker.listContainers({ all: true, filters })).length, 0);
  try {
    await fake.build({ context: await tarOf({ Dockerfile: 'FAIL\n' }), tag: `pleaco/${fakeApp}:k3`, labels: pleacoLabels({ app: fakeApp, build: 'k3' }), memoryBytes: 256 * 1024 ** 2, cpuShares: 512, onLog: () => undefined });
    assert.unreachable('should fail');
  } catch (err) {
    assert.is((err as PleacoError).code, 'build_failed');
    assert.is((err as PleacoError).message, 'error building image: parsing dockerfile: FAIL');
  }
  assert.is((await docker.listContainers({ all: true, filters })).length, 0);
});

test.run();
