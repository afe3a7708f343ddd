/**
 * Images between nodes, for real: two agents (createAgent) in a cluster on loopback, their sealed stream, and this
 * machine's Docker Engine. Agent A holds an image built FROM busybox (in its cache, exported with `docker save`);
 * the image is removed from the engine (busybox stays); agent B ensures it. The image comes back with the same ID
 * and labels, and what crossed is its top layer, not busybox's; a layer tampered with in A's cache is refused; an
 * image no record names is a clear 404; concurrent asks share one transfer; the runner's hook reaches it through the
 * internal route.
 */
import { createHash } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PleacoError } from '../../src/errors.js';
import { AgentLink, StateMirror } from '../../src/link/index.js';
import { createLogger } from '../../src/log.js';
import { keys, LABELS, type Release, type SlotStatus } from '../../src/model/index.js';
import { connectDocker, DockerRuntime } from '../../src/runtime/docker/index.js';
import { chainIds, imageHook, Runner, runnerPrefixes } from '../../src/runtime/index.js';
import { buildImage, engine, recordBuild, removeImage, RUN, startPair, until, type Pair } from './_pair.js';

interface Ctx {
  pair: Pair;
  app: string;
  imageId: string;
  tag: string;
  base: { diffId: string; size: number };
  top: string;
}

const t = suite<Ctx>('images between nodes');
const docker = connectDocker('/var/run/docker.sock');
const APP = `img${RUN}`;

t.before(async (ctx) => {
  ctx.pair = await startPair();
  ctx.app = APP;
  const { imageId, tag } = await buildImage({ app: APP, build: 'b1', node: ctx.pair.a.id, dockerfile: ['FROM busybox:latest', `RUN echo "hello ${RUN}" > /hello.txt`] });
  ctx.imageId = imageId;
  ctx.tag = tag;
  const layers = (await engine.inspectImage(imageId))!.layers!;
  const busybox = (await engine.inspectImage('busybox:latest'))!.layers!;
  assert.equal(layers.slice(0, busybox.length), busybox, 'the image is busybox plus its own layer');
  ctx.top = layers[layers.length - 1]!;
  await recordBuild(ctx.pair.a, { app: APP, build: 'b1', imageId, tag });
  await until('the build record reached B', () => (ctx.pair.b.agent.store.get(`builds/${APP}/b1`) ? true : null), 15_000);
  // A holds it the way a holder does after a first ask: exported into its cache. Then the engine loses it.
  await ctx.pair.a.agent.images.prepare(imageId);
  ctx.base = { diffId: busybox[0]!, size: (await stat(ctx.pair.a.agent.images.cache.layerPath(busybox[0]!))).size };
  await removeImage(imageId);
  assert.ok(await engine.inspectImage('busybox:latest'), 'busybox stays');
});

t.after(async (ctx) => {
  await removeImage(ctx.imageId).catch(() => undefined);
  await ctx.pair?.close();
});

t('B fetches it from A: the same image ID and labels, and only the top layer crossed', async (ctx) => {
  const { b, a } = ctx.pair;
  assert.is(await engine.inspectImage(ctx.imageId), null, 'not on the engine before');
  const res = await b.agent.images.ensure(ctx.imageId, ctx.app);
  const info = await engine.inspectImage(ctx.imageId);
  assert.ok(info, 'the image is back');
  assert.is(info.id, ctx.imageId);
  assert.is(info.labels['io.pleaco.app'], ctx.app);
  assert.ok(info.tags.includes(ctx.tag), `tagged ${ctx.tag}: ${info.tags.join(', ')}`);
  const tr = res.transfer!;
  assert.ok(tr, 'it was transferred');
  assert.is(tr.from, a.id);
  assert.is(tr.layersFetched, 1, 'one layer fetched');
  assert.is(tr.layersReused, info.layers!.length - 1, 'busybox\'s layer not sent');
  const topSize = (await stat(a.agent.images.cache.layerPath(ctx.top))).size;
  assert.ok(tr.bytes < topSize + 8192, `bytes ${tr.bytes} ≈ the top layer (${topSize}) + the config`);
  assert.ok(tr.bytes * 10 < ctx.base.size, `bytes ${tr.bytes} far below busybox's layer (${ctx.base.size})`);
  assert.ok(tr.imageBytes >= ctx.base.size + topSize, 'imageBytes is the whole image');
  console.log(`  received ${tr.bytes} bytes (${tr.wireBytes} on the wire) of a ${tr.imageBytes}-byte image in ${tr.ms} ms`);
  const c = b.agent.images.counters();
  assert.is(c.transfers, 1);
  assert.is(c.bytes, tr.bytes);
  assert.ok(a.agent.images.counters().served.bytes >= tr.bytes, 'A counted what it served');
  // Present now: no transfer.
  assert.is((await b.agent.images.ensure(ctx.imageId, ctx.app)).transfer, null);
});

t('concurrent asks for one image share one transfer (the route and the service)', async (ctx) => {
  const { b } = ctx.pair;
  await removeImage(ctx.imageId);
  const before = b.agent.images.counters().transfers;
  const link = new AgentLink(b.client);
  const results = await Promise.all([
    b.agent.images.ensure(ctx.imageId, ctx.app),
    link.ensureImage(ctx.imageId, ctx.app),
    link.ensureImage(ctx.imageId, ctx.app),
    b.agent.images.ensure(ctx.imageId, ctx.app),
  ]);
  assert.is(b.agent.images.counters().transfers, before + 1, 'one transfer');
  const ats = new Set(results.map((r) => r.transfer?.at));
  assert.is(ats.size, 1, `every ask got the same transfer: ${[...ats].join(', ')}`);
  assert.ok(await engine.inspectImage(ctx.imageId));
  const { counters, recent } = await b.client.request<{ counters: { transfers: number }; recent: Array<{ imageId: string }> }>('GET', '/v1/internal/images');
  assert.is(counters.transfers, before + 1);
  assert.is(recent[0]!.imageId, ctx.imageId);
});

t('the runner\'s hook: nothing asked while the image is here; fetched through the agent when it is not', async (ctx) => {
  const { b } = ctx.pair;
  const link = new AgentLink(b.client);
  let asks = 0;
  const hook = imageHook(engine, (id, app) => (asks++, link.ensureImage(id, app)), createLogger({ proc: 'runner-test' }));
  await hook(ctx.imageId, ctx.app);
  assert.is(asks, 0, 'present: not asked');
  await removeImage(ctx.imageId);
  await hook(ctx.imageId, ctx.app);
  assert.is(asks, 1);
  assert.ok(await engine.inspectImage(ctx.imageId), 'fetched');
  await hook('pleaco/some:tag', ctx.app);
  assert.is(asks, 1, 'a tag is left to the engine');
});

t('a real runner on B starts a slot whose image only A holds: its hook asks B\'s agent, which fetches it', async (ctx) => {
  const { a, b } = ctx.pair;
  const app = `web${RUN}`;
  const web = await buildImage({ app, build: 'w1', node: a.id, dockerfile: ['FROM busybox:latest', `RUN mkdir -p /www && echo "hello ${RUN}" > /www/index.html`, 'CMD ["sh", "-c", "exec httpd -f -p $PORT -h /www"]'] });
  const log = createLogger({ proc: 'runner-test', node: b.id });
  const view = new StateMirror(b.client, runnerPrefixes(b.id));
  let runner: Runner | undefined;
  try {
    await recordBuild(a, { app, build: 'w1', imageId: web.imageId, tag: web.tag });
    await a.agent.images.prepare(web.imageId);
    await removeImage(web.imageId);
    // What the agent's services write for a deploy: the app, its release naming the image by ID, current.
    const release: Release = { app, number: 1, kind: 'deploy', description: 'test', commit: null, image: web.tag, imageId: web.imageId, build: 'w1', test: null, port: 8080, config: {}, createdAt: new Date().toISOString() };
    await b.agent.store.batch([
      { key: keys.app(app), value: { name: app, repo: 'file:///dev/null', branch: 'main', webhookSecret: 'x', createdAt: release.createdAt } },
      { key: keys.release(app, 1), value: release },
      { key: keys.current(app), value: { release: 1 } },
    ]);
    await until('the build record reached B', () => (b.agent.store.get(`builds/${app}/w1`) ? true : null), 15_000);
    await view.start();
    const link = new AgentLink(b.client, view);
    const ensureImage = imageHook(engine, (id, name) => link.ensureImage(id, name), log);
    runner = new Runner({ view, link, runtime: new DockerRuntime({ engine: docker, nodeId: b.id, bindHost: '127.0.0.1' }), nodeId: b.id, config: b.config, log, ensureImage, tickMs: 500 });
    await runner.start();
    const slot = await until('the slot runs', () => {
      const st = view.get<SlotStatus>(keys.slot(b.id, app, 0));
      return st?.state === 'running' && st.hostPort ? st : null;
    }, 60_000);
    const res = await fetch(`http://127.0.0.1:${slot.hostPort}/`);
    assert.is((await res.text()).trim(), `hello ${RUN}`);
    assert.ok(ctx.pair.lines.some((l) => l.includes('image fetched for a slot') && l.includes(web.imageId)), 'the runner logged the fetch');
  } finally {
    await runner?.stop();
    view.stop();
    for (const c of await docker.listContainers({ all: true, filters: { label: [`${LABELS.managed}=true`, `${LABELS.node}=${b.id}`] } })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    await removeImage(web.imageId).catch(() => undefined);
  }
});

t('a layer that does not hash to its diffID is refused, and nothing is loaded', async (ctx) => {
  const { a, b } = ctx.pair;
  await removeImage(ctx.imageId);
  // B must not find the layer in its own cache (it stored what it received): take it out, and corrupt A's copy.
  await rm(b.agent.images.cache.layerPath(ctx.top), { force: true });
  const path = a.agent.images.cache.layerPath(ctx.top);
  const good = await readFile(path);
  const bad = Buffer.from(good);
  bad[bad.length - 1024] = bad[bad.length - 1024]! ^ 0xff;
  await writeFile(path, bad);
  const before = b.agent.images.counters();
  try {
    await b.agent.images.ensure(ctx.imageId, ctx.app);
    assert.unreachable('a tampered layer must be refused');
  } catch (err) {
    assert.instance(err, PleacoError);
    assert.is((err as PleacoError).code, 'digest_mismatch', (err as Error).message);
    assert.match((err as Error).message, ctx.top);
  } finally {
    await writeFile(path, good);
  }
  assert.is(await engine.inspectImage(ctx.imageId), null, 'nothing was loaded');
  assert.is(b.agent.images.counters().digestMismatches, before.digestMismatches + 1);
  assert.is(b.agent.images.counters().failures, before.failures + 1);
  // Restored: it comes over again.
  await b.agent.images.ensure(ctx.imageId, ctx.app);
  assert.ok(await engine.inspectImage(ctx.imageId));
});

t('an image no record names is a 404; one nobody holds says who was asked', async (ctx) => {
  const { b, a } = ctx.pair;
  const unknown = `sha256:${createHash('sha256').update(`nothing ${RUN}`).digest('hex')}`;
  const link = new AgentLink(b.client);
  try {
    await link.ensureImage(unknown, ctx.app);
    assert.unreachable();
  } catch (err) {
    assert.is((err as PleacoError).status, 404);
    assert.match((err as Error).message, `no build or release of app ${ctx.app} names image ${unknown}`);
  }
  await recordBuild(a, { app: ctx.app, build: 'b2', imageId: unknown, tag: `pleaco/${ctx.app}:b2` });
  await until('the record reached B', () => (b.agent.store.get(`builds/${ctx.app}/b2`) ? true : null), 15_000);
  try {
    await link.ensureImage(unknown, ctx.app);
    assert.unreachable();
  } catch (err) {
    assert.is((err as PleacoError).code, 'not_found');
    assert.match((err as Error).message, `no live member holds image ${unknown} (asked ${a.id})`);
  }
  try {
    await link.ensureImage('sha256:../../etc', ctx.app);
    assert.unreachable();
  } catch (err) {
    assert.is((err as PleacoError).status, 400);
  }
});

/** A one-line change of an app on debian:bookworm-slim: what crosses vs the whole image (the bench's figure). */
async function oneLineChange(ctx: Ctx): Promise<void> {
  const { a, b } = ctx.pair;
  const app = `one${RUN}`;
  const script = (n: number): string => Array.from({ length: 200 }, (_, i) => (i === 100 ? `echo "version ${n}"` : `echo "line ${i} of the app ${RUN}"`)).join('\n') + '\n';
  const dockerfile = ['FROM debian:bookworm-slim', 'COPY app.sh /app/app.sh', 'CMD ["sh", "/app/app.sh"]'];
  const v1 = await buildImage({ app, build: 'v1', node: a.id, dockerfile, files: { 'app.sh': script(1) } });
  const v2 = await buildImage({ app, build: 'v2', node: a.id, dockerfile, files: { 'app.sh': script(2) } });
  try {
    await recordBuild(a, { app, build: 'v2', imageId: v2.imageId, tag: v2.tag });
    await until('the v2 record reached B', () => (b.agent.store.get(`builds/${app}/v2`) ? true : null), 15_000);
    await a.agent.images.prepare(v2.imageId);
    await removeImage(v2.imageId); // the engine (B's view) keeps v1: debian's layer and v1's are here
    const { transfer } = await b.agent.images.ensure(v2.imageId, app);
    assert.ok(transfer && (await engine.inspectImage(v2.imageId))?.id === v2.imageId);
    assert.is(transfer.layersFetched, 1);
    assert.ok(transfer.bytes * 100 < transfer.imageBytes, `${transfer.bytes} bytes of a ${transfer.imageBytes}-byte image`);
    console.log(`  one-line change on debian:bookworm-slim: ${transfer.bytes} bytes received (${transfer.wireBytes} on the wire), the whole image is ${transfer.imageBytes} bytes; ${transfer.ms} ms`);
  } finally {
    await removeImage(v2.imageId).catch(() => undefined);
    await removeImage(v1.imageId).catch(() => undefined);
  }
}

const debian = await engine.inspectImage('debian:bookworm-slim').catch(() => null);
if (debian) t('a one-line change on debian:bookworm-slim sends its top layer, not the base', oneLineChange);
else t.skip('a one-line change on debian:bookworm-slim: skipped, no debian:bookworm-slim here (make base-images)', () => undefined);

t('a holder asked for an image it has but never exported exports it on demand, answering `preparing` meanwhile', async (ctx) => {
  const { a } = ctx.pair;
  const app = `dem${RUN}`;
  const img = await buildImage({ app, build: 'd1', node: a.id, dockerfile: ['FROM busybox:latest', `RUN echo "on demand ${RUN}" > /d.txt`] });
  try {
    const before = a.agent.images.counters().served.prepares;
    let res: Record<string, unknown> = {};
    await until('the config is served', async () => {
      res = await a.agent.images.source.answer({ op: 'config', image: img.imageId });
      assert.ok(res.found !== false, 'found');
      return typeof res.config === 'string' ? res : null;
    }, 30_000);
    const bytes = Buffer.from(res.config as string, 'base64');
    assert.is(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, img.imageId, 'the config hashes to the image ID');
    assert.is(a.agent.images.counters().served.prepares, before + 1, 'one export');
    const layers = (await engine.inspectImage(img.imageId))!.layers!;
    assert.equal((res.sizes as Array<number | null>).map((x) => x !== null && x > 0), layers.map(() => true), 'every layer is in the cache');
    const chunk = await a.agent.images.source.answer({ op: 'layer', image: img.imageId, diffId: layers[layers.length - 1], offset: 0, length: 100 });
    assert.is(chunk.size, (res.sizes as number[])[layers.length - 1]);
    assert.ok(typeof chunk.data === 'string' && Buffer.from(chunk.data, 'base64').length <= 100, 'a chunk is at most what was asked');
    const other = await a.agent.images.source.answer({ op: 'layer', image: img.imageId, diffId: `sha256:${'0'.repeat(64)}`, offset: 0 });
    assert.equal(other, { found: false }, 'a layer the image does not list is not served');
  } finally {
    await removeImage(img.imageId);
  }
});

t('only pleaco images are served: busybox (not managed) is not found, however it is asked', async (ctx) => {
  const busybox = (await engine.inspectImage('busybox:latest'))!;
  const src = ctx.pair.a.agent.images.source;
  assert.equal(await src.answer({ op: 'config', image: busybox.id }), { found: false });
  assert.equal(await src.answer({ op: 'layer', image: busybox.id, diffId: busybox.layers![0], offset: 0 }), { found: false });
  assert.is(chainIds(busybox.layers!)[0], busybox.layers![0], 'the first chain ID is the first diffID');
});

t.run();
