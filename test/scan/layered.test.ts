/**
 * The inventory layer by layer (scan/inventory/layered.ts) against the merged filesystem (image.ts) on a real Docker
 * Engine: the same packages, SBOM and matches for the example app, debian:bookworm-slim, an image built here whose
 * layers delete, replace, hard-link and hide files of the layers below, and the ~300-package bench image; a warm scan
 * reads no layer, a one-line change reads only its new top layer; the sources in turn (the engine's layer store, the
 * node's image cache, one `docker save` into it, the merged filesystem) give the same result; a corrupt or foreign
 * record is never used; a layer that does not hash to its diffID is never cached.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pack } from 'tar-stream';
import { PleacoError } from '../../src/errors.js';
import type { Inventory } from '../../src/model/index.js';
import { ImageCache } from '../../src/runtime/index.js';
import { connectDocker, DockerEngine } from '../../src/runtime/docker/index.js';
import { AdvisoryStore, type AdvisoryDb } from '../../src/scan/db/index.js';
import { inventoryImage } from '../../src/scan/inventory/image.js';
import { inventoryByLayers, type LayerEngine, type LayeredStats } from '../../src/scan/inventory/layered.js';
import { LayerInventoryCache } from '../../src/scan/inventory/layercache.js';
import { matchInventory } from '../../src/scan/match.js';
import { toCycloneDx } from '../../src/scan/sbom.js';
import { tempDir } from '../helpers/tmp.js';

const docker = connectDocker('/var/run/docker.sock');
const engine = new DockerEngine(docker);
const RUN = `lay${process.pid}${Date.now().toString(36)}`;
const tmp = tempDir('pleaco-layered-');
const TEST_LABELS = { 'io.pleaco.managed': 'true', 'io.pleaco.role': 'test', 'io.pleaco.test-run': RUN };
const SCAN_LABELS = { 'io.pleaco.managed': 'true', 'io.pleaco.test-run': RUN };
const RULES = `pleaco-test/layered-rules-${RUN}:1`;
const EXAMPLE = `pleaco-test/layered-example-${RUN}:1`;
const CHANGE = `pleaco-test/layered-change-${RUN}`;
const BENCH = 'pleaco-bench/scan-large:latest';
const SERF = '/usr/bin/serf';
const EXAMPLE_DIR = fileURLToPath(new URL('../../../examples/hello', import.meta.url));
const OSV = fileURLToPath(new URL('../../../test/fixtures/osv/valid', import.meta.url));
let db: AdvisoryDb;
let n = 0;

const newCache = (version?: string): LayerInventoryCache => new LayerInventoryCache(join(tmp.dir, `layers-${n++}`), 1 << 30, version);
const deps = (cache: LayerInventoryCache, images: ImageCache | null = null): { cache: LayerInventoryCache; images: ImageCache | null; minFreeBytes: number } => ({ cache, images, minFreeBytes: 0 });

/** Builds `tag` from files written into a tar context here (mode 0755 for names ending in `*`), labelled, no network. */
async function build(tag: string, files: Record<string, Buffer | string>): Promise<void> {
  const p = pack();
  for (const [raw, body] of Object.entries(files)) p.entry({ name: raw.replace(/\*$/, ''), mode: raw.endsWith('*') ? 0o755 : 0o644 }, body);
  p.finalize();
  const stream = await docker.buildImage(p.pipe(new PassThrough()), { t: tag, labels: TEST_LABELS, forcerm: true, networkmode: 'none' });
  const out = await new Promise<Array<{ error?: string }>>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null, res: Array<{ error?: string }>) => (err ? reject(err) : resolve(res))));
  const failed = out.find((o) => o.error);
  if (failed) throw new Error(`building ${tag} failed: ${failed.error}`);
}

const status = (...pkgs: string[]): string => pkgs.map((p) => `Package: ${p.split(' ')[0]}\nStatus: install ok installed\nVersion: ${p.split(' ')[1]}\nArchitecture: amd64\n`).join('\n') + '\n';
const lock = (name: string, version: string): string => JSON.stringify({ lockfileVersion: 3, packages: { '': { name: 'app' }, [`node_modules/${name}`]: { version } } });
const pkgJson = (name: string, version: string): string => JSON.stringify({ name, version });

/** Everything the scan stage derives from an inventory, with what differs run to run (SBOM serial number) left out. */
function outcome(inv: Inventory, imageId: string): string {
  const sbom = toCycloneDx(inv, { image: 'x', imageId, toolVersion: 'test', timestamp: '2024-01-01T00:00:00.000Z' }) as Record<string, unknown>;
  delete sbom['serialNumber'];
  const m = matchInventory(inv, db);
  return JSON.stringify({ inv, sbom, findings: m.findings, skipped: m.skipped });
}

/** Scans `image` merged, then by layers cold and warm; all three must agree. Returns the layered stats. */
async function sameBothWays(image: string): Promise<{ cold: LayeredStats; warm: LayeredStats; inventory: Inventory }> {
  const id = (await engine.inspectImage(image))!.id;
  const merged = await inventoryImage(engine, image, { labels: SCAN_LABELS });
  const cache = newCache();
  const cold = await inventoryByLayers(engine, image, deps(cache), { labels: SCAN_LABELS });
  const warm = await inventoryByLayers(engine, image, deps(cache), { labels: SCAN_LABELS });
  const want = outcome(merged.inventory, id);
  assert.is(outcome(cold.inventory, id), want, `${image}: cold layered scan = merged`);
  assert.is(outcome(warm.inventory, id), want, `${image}: warm layered scan = merged`);
  const unique = new Set((await engine.inspectImage(image))!.layers).size;
  assert.equal([cold.stats.read.store, cold.stats.merged], [unique, false], 'every layer from the layer store');
  assert.equal([warm.stats.cached, warm.stats.bytes, warm.stats.read], [warm.stats.layers, 0, { images: 0, store: 0, save: 0 }], 'warm: nothing read');
  console.log(`  ${image}: ${merged.inventory.packages.length} packages, ${cold.stats.layers} layers; merged ${merged.stats.ms} ms, cold ${cold.stats.ms} ms, warm ${warm.stats.ms} ms`);
  return { cold: cold.stats, warm: warm.stats, inventory: cold.inventory };
}

test.before(async () => {
  const store = new AdvisoryStore(join(tmp.dir, 'db'));
  db = await store.open((await store.importFrom(OSV)).digest);
  const go = existsSync(SERF) ? readFileSync(SERF) : Buffer.from('#!/bin/sh\n');
  await build(RULES, {
    Dockerfile: [
      'FROM busybox:latest',
      'COPY a/ /',
      // layer 3: hard links (copy-up), a deleted package dir, an opaque dir, a dir replaced by a file, an os-release
      // link to a lower file, a rewritten dpkg status, a deleted status.d entry
      'RUN ln /usr/local/bin/zserf /usr/local/bin/aserf && ln /usr/local/bin/zserf /usr/local/bin/mserf' +
        ' && rm -rf /app/node_modules/gone && rm -rf /app/old && mkdir -p /app/old/sub && cp /tmp/newlock /app/old/sub/package-lock.json' +
        ' && rm -rf /usr/local/lib/python3.11/site-packages && echo file > /usr/local/lib/python3.11/site-packages' +
        ' && ln -s ../usr/lib/os-release /etc/os-release && cp /tmp/status2 /var/lib/dpkg/status && rm /var/lib/dpkg/status.d/c',
      // layer 4: the first path of a hard-link group deleted, a Go binary overwritten, a package.json replaced by a dir
      "RUN rm /usr/local/bin/aserf && printf '#!/bin/sh\\n' > /usr/local/bin/serf2 && rm /app/node_modules/kept/package.json && mkdir /app/node_modules/kept/package.json",
    ].join('\n'),
    'a/usr/lib/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
    'a/var/lib/dpkg/status': status('libc6 2.36-9', 'openssl 3.0.11-1~deb12u1'),
    'a/var/lib/dpkg/status.d/c': status('distroless 1.0'),
    'a/app/node_modules/gone/package.json': pkgJson('minimist', '1.2.5'),
    'a/app/node_modules/kept/package.json': pkgJson('lodash', '4.17.20'),
    'a/app/node_modules/stay/package.json': pkgJson('left-pad', '1.3.0'),
    'a/app/old/package-lock.json': lock('old-only', '1.0.0'),
    'a/usr/local/lib/python3.11/site-packages/requests-2.30.0.dist-info/METADATA': 'Metadata-Version: 2.1\nName: requests\nVersion: 2.30.0\n',
    'a/usr/local/bin/zserf*': go,
    'a/usr/local/bin/serf2*': go,
    'a/tmp/newlock': lock('new-only', '2.0.0'),
    'a/tmp/status2': status('libc6 2.36-9+deb12u4'),
  });
  execFileSync('docker', ['build', '-q', '-t', EXAMPLE, ...Object.entries(TEST_LABELS).flatMap(([k, v]) => ['--label', `${k}=${v}`]), EXAMPLE_DIR], { stdio: ['ignore', 'ignore', 'pipe'] });
});

test.after(async () => {
  const filters = JSON.stringify({ label: [`io.pleaco.test-run=${RUN}`] });
  for (const c of await docker.listContainers({ all: true, filters })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  for (const i of await docker.listImages({ filters })) await docker.getImage(i.Id).remove({ force: true }).catch(() => undefined);
  tmp.cleanup();
});

test('layers that delete, replace, hard-link and hide: the same packages, SBOM and matches as the merged filesystem', async () => {
  const { inventory } = await sameBothWays(RULES);
  const names = inventory.packages.map((p) => `${p.name} ${p.version} ${p.locations.join(',')}`);
  const has = (re: RegExp): boolean => names.some((x) => re.test(x));
  assert.ok(has(/^libc6 2\.36-9\+deb12u4 /), 'the topmost dpkg status');
  assert.not.ok(has(/^openssl |^distroless |^minimist |^lodash |^old-only |^requests 2\.30\.0/), `hidden: ${names.join('; ')}`);
  assert.ok(has(/^left-pad 1\.3\.0 /) && has(/^new-only 2\.0\.0 /), 'what the layers above left or added');
  assert.equal(inventory.os && [inventory.os.id, inventory.os.versionId], ['debian', '12'], 'os-release through a link to a lower layer');
  if (existsSync(SERF)) {
    const go = inventory.packages.filter((p) => p.type === 'golang');
    assert.ok(go.length > 0 && go.every((p) => p.locations.join() === '/usr/local/bin/mserf'), `one path of the hard-link group: ${go.map((p) => p.locations.join()).join('; ')}`);
  }
});

test('the example app and debian:bookworm-slim: the same both ways', async () => {
  await sameBothWays(EXAMPLE);
  await sameBothWays('debian:bookworm-slim');
});

const bench = existsSync('/var/run/docker.sock') && execFileSync('docker', ['images', '-q', BENCH]).toString().trim() !== '';
(bench ? test : test.skip)(`the ~300-package bench image: the same both ways${bench ? '' : ` (skipped: ${BENCH} is missing; make bench-scan builds it with scripts/scan-bench-image.sh)`}`, async () => {
  const { cold, inventory } = await sameBothWays(BENCH);
  assert.ok(inventory.packages.length > 250, `${inventory.packages.length} packages`);
  assert.ok(cold.files > 20_000, `${cold.files} entries read`);
});

test('a one-line change on top of a scanned image reads only its new top layer', async () => {
  const cache = newCache();
  await inventoryByLayers(engine, 'debian:bookworm-slim', deps(cache), { labels: SCAN_LABELS });
  await build(`${CHANGE}:1`, { Dockerfile: 'FROM debian:bookworm-slim\nCOPY change /srv/change\n', change: `one line ${RUN}\n` });
  const lines: string[] = [];
  const changed = await inventoryByLayers(engine, `${CHANGE}:1`, deps(cache), { labels: SCAN_LABELS, onProgress: (l) => lines.push(l) });
  assert.equal([changed.stats.layers, changed.stats.cached, changed.stats.read.store], [2, 1, 1]);
  assert.ok(changed.stats.bytes < 64 * 1024, `${changed.stats.bytes} bytes read`);
  const merged = await inventoryImage(engine, `${CHANGE}:1`, { labels: SCAN_LABELS });
  assert.is(JSON.stringify(changed.inventory), JSON.stringify(merged.inventory));
  assert.match(lines.at(-1)!, /from 2 layer\(s\): 1 cached, 1 from the layer store/);
});

/** The real engine, except that its layer store cannot be read from here (as from another mount namespace). */
function withoutStore(): LayerEngine {
  return { where: engine.where, inspectImage: (r) => engine.inspectImage(r), exportImage: engine.exportImage.bind(engine), readImageFiles: engine.readImageFiles.bind(engine), readLayer: () => Promise.resolve(false) };
}

test('no layer store: one docker save into the image cache, then the image cache; an unmanaged image: the merged filesystem', async () => {
  const images = new ImageCache(join(tmp.dir, 'images'), 1 << 34);
  const want = JSON.stringify((await inventoryImage(engine, RULES, { labels: SCAN_LABELS })).inventory);
  const layers = new Set((await engine.inspectImage(RULES))!.layers).size;
  const saved = await inventoryByLayers(withoutStore(), RULES, deps(newCache(), images), { labels: SCAN_LABELS });
  assert.equal([saved.stats.read, saved.stats.merged], [{ images: 0, store: 0, save: layers }, false]);
  assert.is(JSON.stringify(saved.inventory), want);
  assert.is(readdirSync(join(images.root, 'layers')).length, layers, 'the layers are in the image cache (for peers too)');
  const fromImages = await inventoryByLayers(withoutStore(), RULES, deps(newCache(), images), { labels: SCAN_LABELS });
  assert.equal(fromImages.stats.read, { images: layers, store: 0, save: 0 });
  assert.is(JSON.stringify(fromImages.inventory), want);

  const bb = await inventoryByLayers(withoutStore(), 'busybox:latest', deps(newCache(), new ImageCache(join(tmp.dir, 'images-bb'), 1 << 34)), { labels: SCAN_LABELS });
  assert.ok(bb.stats.merged, 'busybox is not managed: never exported, read merged');
  assert.is(JSON.stringify(bb.inventory), JSON.stringify((await inventoryImage(engine, 'busybox:latest', { labels: SCAN_LABELS })).inventory));
});

test('bytes that do not hash to the diffID are never used: the next source is read', async () => {
  const images = new ImageCache(join(tmp.dir, 'images-bad'), 1 << 34);
  const top = (await engine.inspectImage(RULES))!.layers!.at(-1)!;
  mkdirSync(join(images.root, 'layers'), { recursive: true });
  writeFileSync(images.layerPath(top), Buffer.alloc(2048)); // an empty tar, under the wrong name
  const lines: string[] = [];
  const cache = newCache();
  const r = await inventoryByLayers(engine, RULES, deps(cache, images), { labels: SCAN_LABELS, onProgress: (l) => lines.push(l) });
  assert.ok(lines.some((l) => /could not be read from the node's image cache: a layer read as sha256:\w+ hashed to sha256:/.test(l)), lines.join('\n'));
  assert.is(JSON.stringify(r.inventory), JSON.stringify((await inventoryImage(engine, RULES, { labels: SCAN_LABELS })).inventory));
  assert.is(r.stats.read.store, new Set((await engine.inspectImage(RULES))!.layers).size);
});

test('records: another code version starts over (and collect removes the old one); a corrupt or foreign record is a miss', async () => {
  const cache = newCache('aaaaaaaaaaaaaaaa');
  await inventoryByLayers(engine, EXAMPLE, deps(cache), { labels: SCAN_LABELS });
  const other = new LayerInventoryCache(cache.root, 1 << 30, 'bbbbbbbbbbbbbbbb');
  const again = await inventoryByLayers(engine, EXAMPLE, deps(other), { labels: SCAN_LABELS });
  assert.is(again.stats.cached, 0, 'a record of another version is not used');
  await other.collect();
  assert.equal(readdirSync(cache.root), ['bbbbbbbbbbbbbbbb']);

  const dir = join(cache.root, 'bbbbbbbbbbbbbbbb');
  const [first, second] = readdirSync(dir).sort();
  truncateSync(join(dir, first!), 40);
  rmSync(join(dir, second!));
  copyFileSync(join(dir, readdirSync(dir).sort().find((f) => f !== first)!), join(dir, second!)); // another layer's record under this name
  const diffIds = (await engine.inspectImage(EXAMPLE))!.layers!;
  const got = await inventoryByLayers(engine, EXAMPLE, deps(other), { labels: SCAN_LABELS });
  assert.is(got.stats.cached, diffIds.filter((d) => ![first, second].includes(`${d.slice(7)}.json.gz`)).length, 'the two bad records were not used');
  assert.is(JSON.stringify(got.inventory), JSON.stringify(again.inventory));
});

test('the bound: collect keeps the cache within maxBytes, least recently used first', async () => {
  const cache = newCache();
  await inventoryByLayers(engine, EXAMPLE, deps(cache), { labels: SCAN_LABELS });
  const small = new LayerInventoryCache(cache.root, 1, undefined);
  const removed = await small.collect();
  assert.ok(removed.files > 0);
  const left = readdirSync(cache.root).flatMap((v) => readdirSync(join(cache.root, v)));
  assert.ok(left.length <= 1, `${left.length} records left`);
});

test('aborted while reading: interrupted; Engine not reachable: docker_unavailable', async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 30);
  try {
    await inventoryByLayers(engine, 'debian:bookworm-slim', deps(newCache()), { labels: SCAN_LABELS, signal: ac.signal });
    assert.unreachable('should fail');
  } catch (err) {
    assert.is((err as PleacoError).code, 'interrupted', String(err));
  }
  try {
    await inventoryByLayers(DockerEngine.connect(`/tmp/pleaco-no-engine-${RUN}.sock`), 'debian:bookworm-slim', deps(newCache()), { labels: SCAN_LABELS });
    assert.unreachable('should fail');
  } catch (err) {
    assert.is((err as PleacoError).code, 'docker_unavailable');
  }
});

test.run();
