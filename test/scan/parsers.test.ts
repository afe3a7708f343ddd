/**
 * The inventory's pure parsers on real-shaped files (test/fixtures/scan-images/), a real Go binary of this
 * machine (/usr/bin/serf) and a fake ELF file carrying hand-made Go build info; and the CycloneDX SBOM.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  GoBuildInfoScanner, fileKind, goPackages, inventoryFromFiles, mergePackages, osEcosystem, parseApkInstalled, parseDpkgStatus,
  parseNpmLockfile, parseNpmPackageJson, parseOsRelease, parsePythonMetadata, parseRequirements, readGoBuildInfo, type ImageFile,
} from '../../src/scan/inventory/parsers.js';
import { toCycloneDx } from '../../src/scan/sbom.js';
import type { Inventory, OsInfo, Package } from '../../src/model/index.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/scan-images/', import.meta.url));
const fixture = (p: string): Buffer => readFileSync(FIX + p);
const debian12: OsInfo = { id: 'debian', versionId: '12' };
const pick = (pkgs: Package[]): Array<[string, string]> => pkgs.map((p) => [p.name, p.version]);

test('os-release: Debian → Debian:12, Alpine 3.19.1 → Alpine:v3.19, anything else the bare name', () => {
  const deb = parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n');
  assert.equal(deb, { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' });
  assert.is(osEcosystem(deb, 'debian'), 'Debian:12');
  const alpine = parseOsRelease(fixture('alpine/os-release'));
  assert.is(alpine?.versionId, '3.19.1');
  assert.is(osEcosystem(alpine, 'alpine'), 'Alpine:v3.19');
  assert.is(osEcosystem(parseOsRelease("ID='ubuntu'\nVERSION_ID='22.04'\n"), 'debian'), 'Ubuntu');
  assert.is(osEcosystem(parseOsRelease('ID=debian\nPRETTY_NAME="Debian GNU/Linux trixie/sid"\n'), 'debian'), 'Debian', 'no VERSION_ID: no release to match');
  assert.is(osEcosystem(undefined, 'alpine'), 'Alpine');
  assert.is(parseOsRelease('NAME=nothing\n'), undefined);
});

test('dpkg status: installed paragraphs only, source name and version, purls encoded', () => {
  const pkgs = parseDpkgStatus(fixture('dpkg/status'), '/var/lib/dpkg/status', debian12);
  const by = new Map(pkgs.map((p) => [p.name, p]));
  assert.equal([...by.keys()].sort(), ['bsdutils', 'libc6', 'libgcc-s1', 'libssl3', 'tzdata'], 'nginx-common (deinstall ok config-files) is not installed');
  const bsd = by.get('bsdutils')!;
  assert.is(bsd.version, '1:2.38.1-5+deb12u3');
  assert.is(bsd.sourceName, 'util-linux');
  assert.is(bsd.sourceVersion, '2.38.1-5+deb12u3', 'Source: util-linux (2.38.1-5+deb12u3)');
  assert.is(bsd.purl, 'pkg:deb/debian/bsdutils@1:2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12');
  assert.is(bsd.ecosystem, 'Debian:12');
  assert.equal([by.get('libgcc-s1')!.sourceName, by.get('libgcc-s1')!.sourceVersion], ['gcc-12', by.get('libgcc-s1')!.version], 'Source without a version: the binary version');
  assert.equal([by.get('tzdata')!.sourceName, by.get('tzdata')!.purl], ['tzdata', `pkg:deb/debian/tzdata@${by.get('tzdata')!.version.replace(/\+/g, '%2B')}?arch=all&distro=debian-12`]);
  assert.is(by.get('libc6')!.sourceName, 'glibc', '"hold ok installed" is installed');
  assert.ok(pkgs.every((p) => p.type === 'deb' && p.locations.join() === '/var/lib/dpkg/status'));
  assert.is(parseDpkgStatus(fixture('dpkg/status'), '/var/lib/dpkg/status')[0]!.ecosystem, 'Debian', 'no os-release: bare ecosystem');
});

test('dpkg status.d (distroless): one file per package, no Status field, md5sums files are not read', () => {
  assert.is(fileKind('/var/lib/dpkg/status.d/libssl3'), 'dpkg-status');
  assert.is(fileKind('/var/lib/dpkg/status.d/libssl3.md5sums'), undefined);
  const [ssl, ...rest] = parseDpkgStatus(fixture('dpkg/status.d/libssl3'), '/var/lib/dpkg/status.d/libssl3', debian12);
  assert.is(rest.length, 0);
  assert.equal([ssl!.name, ssl!.version, ssl!.sourceName], ['libssl3', '3.0.15-1~deb12u1', 'openssl']);
  assert.is(ssl!.purl, 'pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12');
});

test('apk installed db: name, version, arch, origin as the source', () => {
  const alpine = parseOsRelease(fixture('alpine/os-release'));
  const pkgs = parseApkInstalled(fixture('alpine/installed'), '/lib/apk/db/installed', alpine);
  assert.equal(pick(pkgs), [['musl', '1.2.4_git20230717-r4'], ['libcrypto3', '3.1.4-r5'], ['busybox-binsh', '1.36.1-r15']]);
  assert.equal(pkgs.map((p) => p.sourceName), ['musl', 'openssl', 'busybox']);
  assert.is(pkgs[1]!.purl, 'pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1');
  assert.ok(pkgs.every((p) => p.ecosystem === 'Alpine:v3.19'));
});

test('package-lock v1: the nested tree, aliases resolved; dev, local and root entries skipped', () => {
  const pkgs = mergePackages(parseNpmLockfile(fixture('npm/package-lock.v1.json'), '/app/package-lock.json'));
  assert.equal(pick(pkgs).sort(), [['@babel/code-frame', '7.12.13'], ['debug', '2.6.9'], ['express', '4.17.1'], ['lodash', '4.17.20'], ['lodash', '4.17.21']]);
  assert.ok(pkgs.some((p) => p.purl === 'pkg:npm/%40babel/code-frame@7.12.13'));
  assert.ok(pkgs.every((p) => p.ecosystem === 'npm' && p.locations.join() === '/app/package-lock.json'));
});

test('package-lock v3: node_modules keys (nested, scoped, aliased); root, links, workspaces and dev skipped', () => {
  const pkgs = parseNpmLockfile(fixture('npm/package-lock.v3.json'), '/app/package-lock.json');
  assert.equal(pick(pkgs).sort(), [['@types/node', '20.11.5'], ['a', '1.0.0'], ['lodash', '4.17.20'], ['minimist', '1.2.5'], ['string-width', '4.2.3'], ['undici-types', '5.26.5']]);
  assert.ok(pkgs.some((p) => p.purl === 'pkg:npm/%40types/node@20.11.5'));
});

test('package.json: only an installed package (node_modules/<name>/ or node_modules/@scope/<name>/) is a dependency', () => {
  const json = JSON.stringify({ name: '@scope/pkg', version: '1.2.3' });
  assert.equal(pick(parseNpmPackageJson(json, '/app/node_modules/@scope/pkg/package.json')), [['@scope/pkg', '1.2.3']]);
  assert.equal(parseNpmPackageJson(json, '/app/package.json'), [], 'the app itself');
  assert.equal(parseNpmPackageJson(json, '/app/node_modules/pkg/lib/package.json'), [], 'a file inside a package');
  assert.equal(parseNpmPackageJson('{"name":"x"}', '/app/node_modules/x/package.json'), [], 'no version');
  assert.equal(parseNpmPackageJson('{not json', '/app/node_modules/x/package.json'), []);
  assert.is(fileKind('/app/node_modules/.package-lock.json'), undefined);
  assert.is(fileKind('/app/node_modules/a/node_modules/minimist/package.json'), 'npm-package');
});

test('python: dist-info METADATA and egg-info PKG-INFO headers (not the description), PEP 503 purls', () => {
  const [req] = parsePythonMetadata(fixture('python/METADATA'), '/usr/lib/python3.11/site-packages/requests-2.30.0.dist-info/METADATA');
  assert.equal(req, { type: 'pypi', ecosystem: 'PyPI', name: 'requests', version: '2.30.0', purl: 'pkg:pypi/requests@2.30.0', locations: ['/usr/lib/python3.11/site-packages/requests-2.30.0.dist-info'] });
  const [zope] = parsePythonMetadata(fixture('python/PKG-INFO'), '/usr/lib/python3/dist-packages/zope.interface-5.5.2.egg-info/PKG-INFO');
  assert.equal([zope!.name, zope!.version, zope!.purl], ['zope.interface', '5.5.2', 'pkg:pypi/zope-interface@5.5.2']);
  assert.is(fileKind('/usr/lib/python3/dist-packages/six-1.16.0.egg-info'), 'python-metadata', 'an egg-info file');
  assert.is(fileKind('/usr/local/lib/python3.11/site-packages/requests-2.30.0.dist-info/RECORD'), undefined);
});

test('requirements*.txt: exact == pins only', () => {
  const pkgs = parseRequirements(fixture('python/requirements.txt'), '/app/requirements.txt');
  assert.equal(pick(pkgs), [['Django', '4.2.7'], ['requests', '2.31.0'], ['PyYAML', '6.0.1'], ['Zope.Interface', '5.5.2']]);
  assert.is(pkgs[3]!.purl, 'pkg:pypi/zope-interface@5.5.2');
  assert.is(fileKind('/app/requirements-dev.txt'), 'requirements');
  assert.is(fileKind('/usr/lib/python3/dist-packages/pkg/requirements.txt'), undefined);
});

// serf (Debian's package, installed by `make deps`) is a real Go binary; without it the check cannot run here.
const serfHere = existsSync('/usr/bin/serf');
(serfHere ? test : test.skip)(`Go: /usr/bin/serf, a real Go binary of this machine${serfHere ? '' : ' (skipped: /usr/bin/serf is not installed; make deps installs it)'}`, () => {
  const file = readFileSync('/usr/bin/serf');
  const info = readGoBuildInfo(file);
  assert.ok(info, 'build info found');
  // independent check: the version string right after the 32-byte header at the first magic
  const at = file.indexOf(Buffer.from('\xff Go buildinf:', 'latin1'));
  assert.is(info.goVersion, file.toString('latin1', at + 33, at + 33 + file[at + 32]!));
  const pkgs = goPackages(info, '/usr/bin/serf');
  const std = pkgs.find((p) => p.name === 'stdlib')!;
  assert.is(std.version, 'v' + info.goVersion.slice(2));
  assert.is(std.purl, `pkg:golang/stdlib@${std.version}`);
  if (!/^mod\t/m.test(info.modInfo)) {
    console.log(`  note: serf's build info has ${info.goVersion} but no module lines (Debian builds it without modules): only stdlib`);
    assert.is(pkgs.length, 1);
  }
});

function uvarint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return Buffer.from(out);
}

/** A fake ELF64 file: text with a decoy magic, then a writable segment holding Go >= 1.18 build info. */
function fakeGoElf(goVersion: string, modInfo: string): Buffer {
  const magic = Buffer.from('\xff Go buildinf:', 'latin1');
  const header = Buffer.concat([magic, Buffer.from([8, 2]), Buffer.alloc(16)]);
  const mod = Buffer.concat([Buffer.alloc(16, 0x30), Buffer.from(modInfo), Buffer.alloc(16, 0x31)]);
  const info = Buffer.concat([header, uvarint(goVersion.length), Buffer.from(goVersion), uvarint(mod.length), mod]);
  const file = Buffer.alloc(0x1000 + 0x20 + info.length + 64);
  file.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  file.writeBigUInt64LE(64n, 0x20); // e_phoff
  file.writeUInt16LE(56, 0x36);
  file.writeUInt16LE(2, 0x38);
  const ph = (i: number, flags: number, offset: number, size: number): void => {
    const o = 64 + i * 56;
    file.writeUInt32LE(1, o);
    file.writeUInt32LE(flags, o + 4);
    file.writeBigUInt64LE(BigInt(offset), o + 8);
    file.writeBigUInt64LE(BigInt(size), o + 32);
  };
  ph(0, 5, 0, 0x1000); // R+X
  ph(1, 6, 0x1000, file.length - 0x1000); // R+W
  header.copy(file, 0x200); // a decoy in the text: not where build info lives
  info.copy(file, 0x1020);
  return file;
}

test('Go (fake ELF): main module, deps, a replacement by a module, a local replacement skipped, stdlib; chunked the same', () => {
  const modInfo = [
    'path\texample.com/fake/cmd/fake',
    'mod\texample.com/fake\tv1.4.0\th1:Zm9v=',
    'dep\tgolang.org/x/net\tv0.17.0\th1:YmFy=',
    'dep\tgithub.com/gorilla/websocket\tv1.4.0\th1:YmF6=',
    '=>\tgithub.com/gorilla/websocket\tv1.5.1\th1:cXV4=',
    'dep\texample.com/internal/lib\tv0.0.0-00010101000000-000000000000\t',
    '=>\t../lib\t\t',
    'build\t-compiler=gc',
    '',
  ].join('\n');
  const file = fakeGoElf('go1.21.4', modInfo);
  const info = readGoBuildInfo(file);
  assert.equal(info, { goVersion: 'go1.21.4', modInfo });
  assert.equal(pick(goPackages(info!, '/usr/local/bin/fake')), [['example.com/fake', 'v1.4.0'], ['golang.org/x/net', 'v0.17.0'], ['github.com/gorilla/websocket', 'v1.5.1'], ['stdlib', 'v1.21.4']]);
  assert.is(goPackages(info!, '/x')[1]!.purl, 'pkg:golang/golang.org/x/net@v0.17.0');
  const s = new GoBuildInfoScanner();
  for (let o = 0; o < file.length && !s.done; o += 100) s.push(file.subarray(o, o + 100));
  assert.equal(s.result(), info);
  assert.is(readGoBuildInfo(Buffer.from('#!/bin/sh\necho not a binary at all, just a script of some length\n')), undefined);
});

test('inventory from files: os-release via its symlink, duplicates merged by purl with their locations', () => {
  const files: ImageFile[] = [
    { kind: 'os-release', path: '/usr/lib/os-release', body: fixture('alpine/os-release') },
    { kind: 'apk-installed', path: '/lib/apk/db/installed', body: fixture('alpine/installed') },
    { kind: 'npm-lockfile', path: '/app/package-lock.json', body: fixture('npm/package-lock.v3.json') },
    { kind: 'npm-package', path: '/app/node_modules/lodash/package.json', body: Buffer.from('{"name":"lodash","version":"4.17.20"}') },
  ];
  const inv = inventoryFromFiles(files, [], new Map([['/etc/os-release', '../usr/lib/os-release']]));
  assert.is(inv.os?.id, 'alpine');
  const lodash = inv.packages.filter((p) => p.name === 'lodash');
  assert.is(lodash.length, 1);
  assert.equal(lodash[0]!.locations, ['/app/node_modules/lodash/package.json', '/app/package-lock.json']);
  assert.equal(inv.packages.map((p) => p.purl), inv.packages.map((p) => p.purl).sort());
});

test('CycloneDX 1.5: the image, the OS, one library per purl with pleaco properties, sorted by purl', () => {
  const fake: Inventory = {
    os: { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
    packages: [
      { type: 'npm', ecosystem: 'npm', name: 'lodash', version: '4.17.20', purl: 'pkg:npm/lodash@4.17.20', locations: ['/app/package-lock.json', '/app/node_modules/lodash/package.json'] },
      { type: 'deb', ecosystem: 'Debian:12', name: 'libssl3', version: '3.0.15-1~deb12u1', sourceName: 'openssl', sourceVersion: '3.0.15-1~deb12u1', purl: 'pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12', locations: ['/var/lib/dpkg/status'] },
    ],
  };
  const bom = toCycloneDx(fake, { image: 'pleaco/web:b1', imageId: 'sha256:' + 'a'.repeat(64), app: 'web', timestamp: '2024-01-02T03:04:05.000Z', toolVersion: '0.1.0' }) as any;
  assert.is(bom.bomFormat, 'CycloneDX');
  assert.is(bom.specVersion, '1.5');
  assert.match(bom.serialNumber, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.is(bom.version, 1);
  assert.equal(bom.metadata.tools.components, [{ type: 'application', name: 'pleaco', version: '0.1.0' }]);
  assert.equal([bom.metadata.component.type, bom.metadata.component.name, bom.metadata.component.version], ['container', 'pleaco/web:b1', 'sha256:' + 'a'.repeat(64)]);
  assert.is(bom.metadata.timestamp, '2024-01-02T03:04:05.000Z');
  assert.equal(bom.components.map((c: any) => c.type), ['operating-system', 'library', 'library']);
  assert.equal(bom.components.slice(1).map((c: any) => c['bom-ref']), ['pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12', 'pkg:npm/lodash@4.17.20']);
  const ssl = bom.components[1];
  assert.equal([ssl.name, ssl.version, ssl.purl], ['libssl3', '3.0.15-1~deb12u1', ssl['bom-ref']]);
  assert.ok(ssl.properties.some((p: any) => p.name === 'pleaco:source-name' && p.value === 'openssl'));
  assert.ok(ssl.properties.some((p: any) => p.name === 'pleaco:ecosystem' && p.value === 'Debian:12'));
  assert.equal(bom.components[2].properties.filter((p: any) => p.name === 'pleaco:location').map((p: any) => p.value).sort(), fake.packages[0]!.locations.slice().sort());
  const again = toCycloneDx(fake, { image: 'pleaco/web:b1', imageId: 'sha256:' + 'a'.repeat(64), toolVersion: '0.1.0' }) as any;
  assert.is.not(again.serialNumber, bom.serialNumber);
  assert.equal(again.components, bom.components);
});

test.run();
