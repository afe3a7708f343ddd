import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DockerBuilder } from '../../src/builder/docker.js';
import { pleacoLabels } from '../../src/builder/builder.js';
import { PleacoError } from '../../src/errors.js';
import { DockerEngine } from '../../src/runtime/docker/index.js';
import { RUN, docker, engine, tarOf, cleanupByLabel } from './_helpers.js';

const app = `bt-${RUN}`;
const builder = new DockerBuilder(engine);
const base = { memoryBytes: 256 * 1024 ** 2, cpuShares: 512 };

/** Tags built here; removed by tag too (an image that lost its labels is not found by them). */
const tags: string[] = [];

test.after(async () => {
  await cleanupByLabel('io.pleaco.app', app);
  for (const t of tags) await docker.getImage(t).remove({ force: true }).catch(() => undefined);
});

test('builds a busybox Dockerfile from a tar; the image carries the labels', async () => {
  const lines: string[] = [];
  const labels = pleacoLabels({ app, build: 'b1' });
  const { imageId } = await builder.build({
    ...base,
    context: await tarOf({ Dockerfile: 'FROM busybox:latest\nCOPY hello.txt /hello.txt\nRUN cat /hello.txt\nEXPOSE 8080\n', 'hello.txt': 'hello from the context\n' }),
    tag: `pleaco/${app}:b1`,
    labels,
    onLog: (l) => lines.push(l),
  });
  assert.match(imageId, /^sha256:[0-9a-f]{64}$/);
  const info = await docker.getImage(`pleaco/${app}:b1`).inspect();
  assert.is(info.Id, imageId);
  assert.equal({ ...info.Config.Labels }, { ...info.Config.Labels, ...labels });
  assert.ok(lines.some((l) => /^Step 1\/\d+ : FROM busybox:latest$/.test(l)), lines.join('\n'));
  assert.ok(lines.includes('hello from the context'), 'RUN output reaches onLog line by line');
  assert.ok(lines.every((l) => !l.includes('\n')));
});

test('a Dockerfile ending in a line continuation still gets every label: the LABEL line is not swallowed', async () => {
  const cases = [
    'FROM busybox:latest\nRUN echo dangling-N-$((20+22)) \\',
    'FROM busybox:latest\nRUN echo dangling-N-$((20+22)) \\  \n\n',
    'FROM busybox:latest\nRUN echo dangling-N-$((20+22)) \\\n# a comment after it\n   \n',
    '# escape=`\nFROM busybox:latest\nRUN echo dangling-N-$((20+22)) `\n',
    'FROM busybox:latest\r\nRUN echo dangling-N-$((20+22)) \\\r\n',
  ];
  for (const [i, dockerfile] of cases.entries()) {
    const tag = `pleaco/${app}:dangling${i}`;
    tags.push(tag);
    const labels = pleacoLabels({ app, build: `dangling${i}` });
    const lines: string[] = [];
    // A case number in the RUN keeps the layer cache from replaying an earlier case's step without running it.
    await builder.build({ ...base, context: await tarOf({ Dockerfile: dockerfile.replace('-N-', `-${i}-`) }), tag, labels, onLog: (l) => lines.push(l) });
    const info = await docker.getImage(tag).inspect();
    assert.equal({ ...info.Config.Labels }, { ...info.Config.Labels, ...labels }, `case ${i}: ${JSON.stringify(dockerfile)}`);
    assert.ok(lines.includes(`dangling-${i}-42`), `case ${i}: the RUN ran as written (${lines.filter((l) => l.includes('dangling')).join(' | ')})`);
  }
});

test('every step\'s image carries the stable labels: the cache still works, a failed build\'s layers are pruned by label, others\' are not', async () => {
  const node = `node-${RUN}-dangling`;
  const dockerfile = 'FROM busybox:latest\nRUN echo one > /one\nRUN echo two > /two\nRUN exit 7\n';
  const attempt = async (build: string, text: string, lines: string[] = []) =>
    builder.build({ ...base, context: await tarOf({ Dockerfile: text }), tag: `pleaco/${app}:${build}`, labels: pleacoLabels({ app, build, node }), onLog: (l) => lines.push(l) });
  const dangling = async (label?: string): Promise<Set<string>> => new Set((await docker.listImages({ filters: JSON.stringify({ dangling: ['true'], ...(label ? { label: [label] } : {}) }) })).map((i) => i.Id));
  assert.is(((await attempt('d1', dockerfile).then(() => null, (e: unknown) => e)) as PleacoError).code, 'build_failed');
  assert.ok((await dangling(`io.pleaco.node=${node}`)).size >= 1, 'the failed build left layers carrying pleaco\'s labels');
  // The next attempt of the same app reuses them: the stable labels do not change from build to build.
  const lines: string[] = [];
  await attempt('d2', dockerfile.replace('exit 7', 'true'), lines);
  assert.ok(lines.filter((l) => l.includes('Using cache')).length >= 2, lines.join('\n'));
  await docker.getImage(`pleaco/${app}:d2`).remove();
  // A failed build again, and someone else's failed build (no pleaco labels) beside it.
  await attempt('d3', dockerfile.replace('two', 'three')).catch(() => undefined);
  const earlier = await dangling();
  const theirs = await docker.buildImage(await tarOf({ Dockerfile: `FROM busybox:latest\nRUN echo ${RUN} > /t\nRUN exit 3\n` }), { rm: true, forcerm: true });
  await new Promise((r) => docker.modem.followProgress(theirs, r));
  const unlabelled = [...(await dangling())].filter((id) => !earlier.has(id));
  assert.ok(unlabelled.length >= 1, 'the unlabelled failed build left a dangling layer');
  assert.ok((await dangling(`io.pleaco.node=${node}`)).size >= 1);
  const pruned = await engine.pruneDangling({ 'io.pleaco.node': node });
  assert.ok(pruned.removed >= 1, JSON.stringify(pruned));
  assert.is((await dangling(`io.pleaco.node=${node}`)).size, 0);
  const left = await dangling();
  assert.ok(unlabelled.every((id) => left.has(id)), 'dangling images without pleaco\'s labels are untouched');
  for (const id of unlabelled) await docker.getImage(id).remove().catch(() => undefined); // this test's own
});

test('a failing RUN → build_failed with the message from docker', async () => {
  const lines: string[] = [];
  try {
    await builder.build({ ...base, context: await tarOf({ Dockerfile: 'FROM busybox:latest\nRUN echo about to fail && exit 3\n' }), tag: `pleaco/${app}:b2`, labels: pleacoLabels({ app, build: 'b2' }), onLog: (l) => lines.push(l) });
    assert.unreachable('should fail');
  } catch (err) {
    assert.instance(err, PleacoError);
    assert.is((err as PleacoError).code, 'build_failed');
    assert.is((err as PleacoError).message, "The command '/bin/sh -c echo about to fail && exit 3' returned a non-zero code: 3");
    assert.ok(lines.includes('about to fail'));
  }
});

test('a broken Dockerfile (unknown instruction) → build_failed', async () => {
  try {
    await builder.build({ ...base, context: await tarOf({ Dockerfile: 'FROM busybox:latest\nFROBNICATE now\n' }), tag: `pleaco/${app}:b3`, labels: pleacoLabels({ app, build: 'b3' }), onLog: () => undefined });
    assert.unreachable('should fail');
  } catch (err) {
    assert.is((err as PleacoError).code, 'build_failed');
    assert.match((err as PleacoError).message, /unknown instruction: FROBNICATE/i);
  }
});

test('a missing base image is not pulled (no registry): build_failed quickly', async () => {
  const t0 = Date.now();
  try {
    await builder.build({ ...base, context: await tarOf({ Dockerfile: 'FROM pleaco-no-such-image-anywhere:1\n' }), tag: `pleaco/${app}:b4`, labels: pleacoLabels({ app, build: 'b4' }), onLog: () => undefined });
    assert.unreachable('should fail');
  } catch (err) {
    assert.is((err as PleacoError).code, 'build_failed');
    assert.match((err as PleacoError).message, /^base image pleaco-no-such-image-anywhere:1 is not on this node and could not be pulled: /);
  }
  assert.ok(Date.now() - t0 < 30_000);
});

test('the memory limit applies to RUN steps: 200 MiB buffer fails under 64 MiB, passes under 512 MiB', async () => {
  const dockerfile = 'FROM busybox:latest\nRUN dd if=/dev/zero of=/dev/null bs=200M count=1\n';
  try {
    await builder.build({ memoryBytes: 64 * 1024 ** 2, cpuShares: 512, context: await tarOf({ Dockerfile: dockerfile }), tag: `pleaco/${app}:m1`, labels: pleacoLabels({ app, build: 'm1' }), onLog: () => undefined });
    assert.unreachable('should be killed');
  } catch (err) {
    assert.is((err as PleacoError).code, 'build_failed');
    assert.match((err as PleacoError).message, /returned a non-zero code: 137/);
  }
  const ok = await builder.build({ memoryBytes: 512 * 1024 ** 2, cpuShares: 512, context: await tarOf({ Dockerfile: dockerfile }), tag: `pleaco/${app}:m2`, labels: pleacoLabels({ app, build: 'm2' }), onLog: () => undefined });
  assert.match(ok.imageId, /^sha256:/);
});

test('abort stops the build with the signal reason', async () => {
  const ac = new AbortController();
  const p = builder.build({ ...base, context: await tarOf({ Dockerfile: 'FROM busybox:latest\nRUN sleep 30\n' }), tag: `pleaco/${app}:a1`, labels: pleacoLabels({ app, build: 'a1' }), onLog: () => undefined, signal: ac.signal });
  setTimeout(() => ac.abort(new PleacoError('superseded', 'superseded')), 1500);
  const t0 = Date.now();
  try {
    await p;
    assert.unreachable('should abort');
  } catch (err) {
    assert.is((err as PleacoError).code, 'superseded');
  }
  assert.ok(Date.now() - t0 < 15_000);
});

test('engine unreachable → docker_unavailable; available() says why', async () => {
  const down = new DockerBuilder(DockerEngine.connect('/nonexistent/docker.sock'));
  const av = await down.available();
  assert.is(av.ok, false);
  assert.match(av.reason ?? '', /not reachable/);
  try {
    await down.build({ ...base, context: await tarOf({ Dockerfile: 'FROM busybox:latest\n' }), tag: `pleaco/${app}:x`, labels: pleacoLabels({ app }), onLog: () => undefined });
    assert.unreachable('should fail');
  } catch (err) {
    assert.is((err as PleacoError).code, 'docker_unavailable');
  }
  assert.equal(await builder.available(), { ok: true });
});

test('a build context that fails midway → build_failed, no hang, nothing left behind', async () => {
  const { PassThrough } = await import('node:stream');
  const ctx = new PassThrough();
  const tar = await tarOf({ Dockerfile: 'FROM busybox:latest\n', 'big.bin': 'x'.repeat(256 * 1024) });
  let sent = 0;
  tar.on('data', (c: Buffer) => {
    if (sent < 64 * 1024) ctx.write(c);
    else if (!ctx.destroyed) ctx.destroy(new Error('git archive failed: simulated'));
    sent += c.length;
  });
  const t0 = Date.now();
  try {
    await builder.build({ ...base, context: ctx, tag: `pleaco/${app}:c1`, labels: pleacoLabels({ app, build: 'c1' }), onLog: () => undefined });
    assert.unreachable('should fail');
  } catch (err) {
    assert.is((err as PleacoError).code, 'build_failed');
    assert.is((err as PleacoError).message, 'could not read the build context: git archive failed: simulated');
  }
  assert.ok(Date.now() - t0 < 10_000);
});

test.run();
