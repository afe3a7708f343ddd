/**
 * The inventory against a real Docker Engine: debian:bookworm-slim compared with what dpkg says inside it,
 * and two images built here from busybox:latest (an app with npm, Python and Go packages; an Alpine-shaped
 * one), plus the failures a user meets (missing image, Engine down, abort). Every scan container must be
 * gone afterwards.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pack } from 'tar-stream';
import { inventoryImage } from '../../src/scan/inventory/image.js';
import { readGoBuildInfo } from '../../src/scan/inventory/parsers.js';
import { toCycloneDx } from '../../src/scan/sbom.js';
import type { Package } from '../../src/model/index.js';
import { PleacoError } from '../../src/errors.js';
import { connectDocker, DockerEngine } from '../../src/runtime/docker/index.js';

const docker = connectDocker('/var/run/docker.sock');
const engine = new DockerEngine(docker);
const RUN = `scan${process.pid}${Date.now().toString(36)}`;
const FIX = fileURLToPath(new URL('../../../test/fixtures/scan-images/', import.meta.url));
const fixture = (p: string): Buffer => readFileSync(FIX + p);
const TEST_LABELS = { 'io.pleaco.managed': 'true', 'io.pleaco.role': 'test', 'io.pleaco.test-run': RUN };
/** What the scans pass in: inventoryImage adds io.pleaco.role=scan. */
const SCAN_LABELS = { 'io.pleaco.managed': 'true', 'io.pleaco.test-run': RUN };
const APP = `pleaco-test/scan-app-${RUN}:1`;
const ALPINE = `pleaco-test/scan-alpine-${RUN}:1`;
const SERF = '/usr/bin/serf';

async function scanContainers(): Promise<Array<{ Id: string; State: string }>> {
  const filters = JSON.stringify({ label: ['io.pleaco.role=scan', `io.pleaco.test-run=${RUN}`] });
  return docker.listContainers({ all: true, filters });
}

/** Builds `tag` from a tar context written here (tar-stream pack), labelled, without network. */
async function build(tag: string, files: Record<string, Buffer | string>): Promise<void> {
  const p = pack();
  for (const [name, body] of Object.entries(files)) p.entry({ name, mode: name === 'serf' ? 0o755 : 0o644 }, body);
  p.finalize();
  const stream = await docker.buildImage(p.pipe(new PassThrough()), { t: tag, labels: TEST_LABELS, forcerm: true, networkmode: 'none' });
  const out = await new Promise<Array<{ error?: string }>>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null, res: Array<{ error?: string }>) => (err ? reject(err) : resolve(res))));
  const failed = out.find((o) => o.error);
  if (failed) throw new Error(`building ${tag} failed: ${failed.error}`);
}

const nv = (pkgs: Package[]): string[] => pkgs.map((p) => `${p.name} ${p.version}`).sort();

test.after(async () => {
  for (const c of await scanContainers()) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  const filters = JSON.stringify({ label: ['io.pleaco.managed=true', `io.pleaco.test-run=${RUN}`] });
  for (const c of await docker.listContainers({ all: true, filters })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  for (const tag of [APP, ALPINE]) await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
  for (const i of await docker.listImages({ filters })) await docker.getImage(i.Id).remove({ force: true }).catch(() => undefined);
});

test('debian:bookworm-slim: the inventory is what dpkg-query says inside the image', async () => {
  // the truth, from dpkg inside the image: argv (a constant script), no network, labelled, removed by --rm
  const truth = execFileSync('docker', ['run', '--rm', '--network', 'none', '--label', 'io.pleaco.managed=true', '--label', 'io.pleaco.role=test', '--label', `io.pleaco.test-run=${RUN}`,
    'debian:bookworm-slim', 'sh', '-c', '. /etc/os-release && echo "$VERSION_ID" && dpkg-query -W -f \'${db:Status-Status} ${Package} ${Version} ${Architecture} ${source:Package} ${source:Version}\\n\''])
    .toString().trim().split('\n');
  const versionId = truth.shift()!;
  const installed = truth.filter((l) => l.startsWith('installed ')).map((l) => l.split(' ').slice(1));

  let during: Promise<Array<{ Id: string; State: string }>> = Promise.resolve([]);
  const lines: string[] = [];
  const { inventory, stats } = await inventoryImage(engine, 'debian:bookworm-slim', {
    labels: SCAN_LABELS,
    onProgress: (l) => {
      lines.push(l);
      if (l.startsWith('inventory: reading')) during = scanContainers();
    },
  });
  const debs = inventory.packages.filter((p) => p.type === 'deb');
  assert.equal(nv(debs), installed.map(([n, v]) => `${n} ${v}`).sort());
  assert.ok(installed.length > 50, `${installed.length} packages`);
  const arch = new Map(installed.map(([n, , a]) => [n, a]));
  assert.ok(debs.every((p) => p.purl.includes(`?arch=${arch.get(p.name)}&distro=debian-${versionId}`)), 'purls carry arch and distro');
  assert.equal(inventory.os && [inventory.os.id, inventory.os.versionId], ['debian', versionId]);
  assert.ok(debs.every((p) => p.ecosystem === `Debian:${versionId}`));
  assert.equal(debs.map((p) => `${p.name} ${p.sourceName} ${p.sourceVersion}`).sort(), installed.map(([n, , , sn, sv]) => `${n} ${sn} ${sv}`).sort(), 'source packages as dpkg names them');
  assert.ok(debs.some((p) => p.sourceName !== p.name), 'some binary packages come from another source');
  const seen = await during;
  assert.is(seen.length, 1, 'one scan container while reading');
  assert.is(seen[0]!.State, 'created', 'never started');
  assert.is((await scanContainers()).length, 0, 'the scan container is gone');
  assert.ok(lines.some((l) => l.includes(`${inventory.packages.length} packages`)), lines.join('\n'));
  console.log(`  debian:bookworm-slim: ${debs.length} packages, ${stats.files} files, ${(stats.bytes / 1e6).toFixed(1)} MB, ${stats.ms} ms`);
});

test('an app image: installed and locked npm packages, a dist-info, a Go binary; the app itself is no dependency', async () => {
  const files: Record<string, Buffer | string> = {
    Dockerfile: ['FROM busybox:latest', 'COPY app/ /app/', 'COPY site-packages/ /usr/local/lib/python3.11/site-packages/', existsSync(SERF) ? 'COPY serf /usr/local/bin/serf' : ''].join('\n'),
    'app/package.json': JSON.stringify({ name: 'web', version: '2.3.0', dependencies: { a: '^1.0.0', lodash: '^4.17.20' } }),
    'app/package-lock.json': fixture('npm/package-lock.v3.json'),
    'app/node_modules/lodash/package.json': JSON.stringify({ name: 'lodash', version: '4.17.20', main: 'lodash.js' }),
    'app/node_modules/a/package.json': JSON.stringify({ name: 'a', version: '1.0.0', dependencies: { minimist: '1.2.5' } }),
    'app/node_modules/a/node_modules/minimist/package.json': JSON.stringify({ name: 'minimist', version: '1.2.5' }),
    'app/node_modules/a/lib/package.json': JSON.stringify({ name: 'not-a-package', version: '9.9.9', type: 'module' }),
    'app/requirements.txt': fixture('python/requirements.txt'),
    'site-packages/requests-2.30.0.dist-info/METADATA': fixture('python/METADATA'),
  };
  if (existsSync(SERF)) files['serf'] = readFileSync(SERF);
  await build(APP, files);

  const { inventory } = await inventoryImage(engine, APP, { labels: SCAN_LABELS });
  const npm = inventory.packages.filter((p) => p.type === 'npm');
  const lodash = npm.find((p) => p.name === 'lodash')!;
  assert.equal([lodash.version, lodash.purl], ['4.17.20', 'pkg:npm/lodash@4.17.20']);
  assert.equal(lodash.locations, ['/app/node_modules/lodash/package.json', '/app/package-lock.json'], 'one package, both places');
  const minimist = npm.find((p) => p.name === 'minimist')!;
  assert.equal([minimist.version, minimist.purl], ['1.2.5', 'pkg:npm/minimist@1.2.5']);
  assert.ok(minimist.locations.includes('/app/node_modules/a/node_modules/minimist/package.json'));
  assert.ok(npm.some((p) => p.purl === 'pkg:npm/%40types/node@20.11.5'), 'from the lockfile');
  assert.not.ok(npm.some((p) => p.name === 'web' || p.name === 'not-a-package' || p.name === 'typescript'), nv(npm).join(', '));

  const requests = inventory.packages.filter((p) => p.type === 'pypi' && p.name === 'requests');
  assert.equal(requests.map((p) => [p.version, p.purl, p.locations.join()]), [
    ['2.30.0', 'pkg:pypi/requests@2.30.0', '/usr/local/lib/python3.11/site-packages/requests-2.30.0.dist-info'],
    ['2.31.0', 'pkg:pypi/requests@2.31.0', '/app/requirements.txt'],
  ]);
  assert.is(inventory.os, undefined, 'busybox has no os-release');
  assert.not.ok(inventory.packages.some((p) => p.type === 'deb' || p.type === 'apk'));

  const go = inventory.packages.filter((p) => p.type === 'golang');
  assert.ok(existsSync(SERF), `${SERF} (Debian's serf, installed by make deps) is the Go binary this test puts in the image`);
  const info = readGoBuildInfo(readFileSync(SERF))!;
  const std = go.find((p) => p.name === 'stdlib');
  assert.equal(std && [std.version, std.locations], ['v' + info.goVersion.split(' ')[0]!.slice(2), ['/usr/local/bin/serf']]);
  assert.not.ok(go.some((p) => p.locations.some((l) => l.startsWith('/bin/'))), 'busybox is not a Go binary');

  const bom = toCycloneDx(inventory, { image: APP, imageId: (await docker.getImage(APP).inspect()).Id, toolVersion: '0.1.0' }) as { components: Array<{ purl?: string; 'bom-ref': string }> };
  assert.equal(bom.components.map((c) => c.purl), inventory.packages.map((p) => p.purl));
  assert.is(new Set(bom.components.map((c) => c['bom-ref'])).size, bom.components.length);
  assert.is((await scanContainers()).length, 0);
});

test('an Alpine-shaped image: the apk db, and /etc/os-release followed through its symlink', async () => {
  await build(ALPINE, {
    Dockerfile: 'FROM busybox:latest\nCOPY installed /lib/apk/db/installed\nCOPY os-release /usr/lib/os-release\nRUN ln -s ../usr/lib/os-release /etc/os-release\n',
    installed: fixture('alpine/installed'),
    'os-release': fixture('alpine/os-release'),
  });
  const { inventory } = await inventoryImage(engine, ALPINE, { labels: SCAN_LABELS });
  assert.equal(inventory.os, { id: 'alpine', versionId: '3.19.1', prettyName: 'Alpine Linux v3.19' });
  const apk = inventory.packages.filter((p) => p.type === 'apk');
  assert.equal(nv(apk), ['busybox-binsh 1.36.1-r15', 'libcrypto3 3.1.4-r5', 'musl 1.2.4_git20230717-r4']);
  assert.ok(apk.every((p) => p.ecosystem === 'Alpine:v3.19' && p.locations.join() === '/lib/apk/db/installed'));
  assert.ok(apk.some((p) => p.purl === 'pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1' && p.sourceName === 'openssl'));
  assert.is((await scanContainers()).length, 0);
});

test('a missing image: not_found that names it; no container left', async () => {
  const name = `pleaco-test/no-such-image-${RUN}:1`;
  try {
    await inventoryImage(engine, name, { labels: SCAN_LABELS });
    assert.unreachable('should fail');
  } catch (err) {
    assert.instance(err, PleacoError);
    assert.is((err as PleacoError).code, 'not_found');
    assert.ok((err as PleacoError).message.includes(name), (err as PleacoError).message);
  }
  assert.is((await scanContainers()).length, 0);
});

test('Docker Engine not reachable: docker_unavailable naming the socket', async () => {
  const sock = `/tmp/pleaco-no-engine-${RUN}.sock`;
  try {
    await inventoryImage(DockerEngine.connect(sock), 'debian:bookworm-slim', { labels: SCAN_LABELS });
    assert.unreachable('should fail');
  } catch (err) {
    assert.is((err as PleacoError).code, 'docker_unavailable');
    assert.ok((err as PleacoError).message.includes(sock));
  }
});

test('aborted while reading: interrupted, and the scan container is removed', async () => {
  const ac = new AbortController();
  const lines: string[] = [];
  try {
    await inventoryImage(engine, 'debian:bookworm-slim', {
      labels: SCAN_LABELS,
      signal: ac.signal,
      onProgress: (l) => {
        lines.push(l);
        if (l.startsWith('inventory: reading')) setImmediate(() => ac.abort());
      },
    });
    assert.unreachable('should fail');
  } catch (err) {
    assert.is((err as PleacoError).code, 'interrupted', String(err));
  }
  assert.not.ok(lines.some((l) => l.includes(' packages (')), 'it stopped before the end');
  assert.is((await scanContainers()).length, 0);
});

test.run();
