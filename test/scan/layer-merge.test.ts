/**
 * The per-layer inventory's pure parts: the push tar reader against tar-stream on the same bytes (names, types, sizes,
 * bodies; PAX and GNU long names, ustar prefixes), its bounds, and the merge rules over synthetic layers (whiteouts,
 * opaque directories, a file replaced by a directory and the reverse, hard links, os-release links).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PassThrough } from 'node:stream';
import { extract, pack } from 'tar-stream';
import { LayerReader, type LayerRecord } from '../../src/scan/inventory/layer.js';
import { mergeLayers, walkOrder } from '../../src/scan/inventory/merge.js';
import { TarWalker, type TarHeader } from '../../src/scan/inventory/tarwalk.js';
import { readGoBuildInfo } from '../../src/scan/inventory/parsers.js';
import { PleacoError } from '../../src/errors.js';
import { existsSync, readFileSync } from 'node:fs';

type Member = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; body?: string | Buffer; linkname?: string; mode?: number };

/** A tar made by tar-stream's packer (the same library the merged walk reads with). */
async function tarOf(members: Member[]): Promise<Buffer> {
  const p = pack();
  for (const m of members) {
    const type = m.type ?? 'file';
    const header = { name: m.name, type, mode: m.mode ?? (type === 'directory' ? 0o755 : 0o644), ...(m.linkname ? { linkname: m.linkname } : {}) };
    if (type === 'file') p.entry(header, m.body ?? '');
    else p.entry(header, (err) => void err);
  }
  p.finalize();
  const parts: Buffer[] = [];
  for await (const c of p.pipe(new PassThrough())) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** What tar-stream reads from `tar`: header fields and bodies. */
async function viaTarStream(tar: Buffer): Promise<Array<[string, string | null, number, string | null, string]>> {
  const ex = extract();
  const src = new PassThrough();
  src.end(tar);
  src.pipe(ex);
  const out: Array<[string, string | null, number, string | null, string]> = [];
  for await (const e of ex) {
    const parts: Buffer[] = [];
    for await (const c of e) parts.push(c as Buffer);
    out.push([e.header.name, e.header.type ?? null, e.header.size ?? 0, e.header.linkname ?? null, Buffer.concat(parts).toString('latin1')]);
  }
  return out;
}

/** What TarWalker reads from `tar`, fed in chunks of `step` bytes. */
function viaWalker(tar: Buffer, step: number, max = 1000): Array<[string, string | null, number, string | null, string]> {
  const out: Array<[string, string | null, number, string | null, string]> = [];
  const w = new TarWalker((h: TarHeader) => {
    const parts: Buffer[] = [];
    return { data: (c) => parts.push(Buffer.from(c)), end: () => out.push([h.name, h.type, h.type === 'directory' ? 0 : h.size, h.linkname, Buffer.concat(parts).toString('latin1')]) };
  }, max);
  for (let i = 0; i < tar.length; i += step) w.push(tar.subarray(i, i + step));
  w.end();
  return out;
}

const LONG = `app/${'deep/'.repeat(40)}node_modules/@scope/pkg/package.json`;

test('TarWalker reads what tar-stream reads: ustar, PAX long names and link names, any chunking', async () => {
  const tar = await tarOf([
    { name: './', type: 'directory' },
    { name: 'usr/lib/os-release', body: 'ID=debian\nVERSION_ID="12"\n' },
    { name: 'etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' },
    { name: LONG, body: '{"name":"@scope/pkg","version":"1.2.3"}' },
    { name: `x/${'l'.repeat(120)}`, type: 'symlink', linkname: `/${'t'.repeat(130)}` },
    { name: 'bin/a', body: Buffer.alloc(1025, 7), mode: 0o755 },
    { name: 'bin/b', type: 'link', linkname: 'bin/a' },
    { name: 'empty', body: '' },
  ]);
  const want = await viaTarStream(tar);
  assert.ok(want.some(([n]) => n === LONG), 'tar-stream wrote a PAX path');
  for (const step of [1, 511, 512, 513, 4096, tar.length]) assert.equal(viaWalker(tar, step), want, `chunks of ${step}`);
});

test('TarWalker: GNU long names, a ustar prefix, base-256 size fields', () => {
  const header = (name: string, flag: string, size: number, o: { gnu?: boolean; prefix?: string; b256?: boolean } = {}): Buffer => {
    const b = Buffer.alloc(512);
    b.write(name, 0, 'utf8');
    b.write('0000644\0', 100);
    if (o.b256) {
      b[124] = 0x80;
      b.writeUIntBE(size, 136 - 6, 6);
    } else b.write(size.toString(8).padStart(11, '0') + '\0', 124);
    b.write(flag, 156);
    b.write(o.gnu ? 'ustar  \0' : 'ustar\x0000', 257, 'latin1');
    if (o.prefix) b.write(o.prefix, 345);
    b.fill(0x20, 148, 156);
    let sum = 0;
    for (const x of b) sum += x;
    b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    return b;
  };
  const pad = (s: string): Buffer => Buffer.concat([Buffer.from(s), Buffer.alloc((512 - (s.length % 512)) % 512)]);
  const longName = `gnu/${'n'.repeat(300)}`;
  const tar = Buffer.concat([
    header('././@LongLink', 'L', longName.length + 1, { gnu: true }), pad(longName + '\0'),
    header('ignored', '0', 3, { gnu: true }), pad('abc'),
    header('file', '0', 2, { prefix: 'var/lib/dpkg' }), pad('hi'),
    header('big', '0', 5, { b256: true }), pad('12345'),
    Buffer.alloc(1024),
  ]);
  const got = viaWalker(tar, 100);
  assert.equal(got.map(([n, , s, , b]) => [n, s, b]), [[longName, 3, 'abc'], ['var/lib/dpkg/file', 2, 'hi'], ['big', 5, '12345']]);
});

test('TarWalker bounds: too many entries, a bad checksum, a tar cut inside an entry', async () => {
  const tar = await tarOf([{ name: 'a', body: 'x'.repeat(700) }, { name: 'b', body: 'y' }, { name: 'c', body: 'z' }]);
  assert.throws(() => viaWalker(tar, 4096, 2), (e: unknown) => e instanceof PleacoError && e.code === 'payload_too_large');
  const broken = Buffer.from(tar);
  broken[0] = 0x41; // the name changes, the checksum does not
  assert.throws(() => viaWalker(broken, 4096), (e: unknown) => e instanceof PleacoError && e.code === 'bad_request' && /checksum/.test(e.message));
  assert.throws(() => viaWalker(tar.subarray(0, 512 + 100), 4096), (e: unknown) => e instanceof PleacoError && e.code === 'bad_request');
  assert.throws(() => viaWalker(Buffer.alloc(512, 0x41), 512), /unknown format|checksum/);
});

async function layer(members: Member[]): Promise<LayerRecord> {
  const r = new LayerReader();
  r.push(await tarOf(members));
  return r.finish();
}

const status = (...pkgs: string[]): string => pkgs.map((p) => `Package: ${p.split(' ')[0]}\nStatus: install ok installed\nVersion: ${p.split(' ')[1]}\nArchitecture: amd64\n`).join('\n');

test('LayerReader: package files, whiteouts, opaque dirs, AUFS metadata left out, a repeated member replaces the first', async () => {
  const l = await layer([
    { name: 'var/lib/dpkg/status', body: status('a 1') },
    { name: 'var/lib/dpkg/status', body: status('a 2') },
    { name: 'app/.wh.old', body: '' },
    { name: 'srv/.wh..wh..opq', body: '' },
    { name: '.wh..wh.plnk', type: 'directory' },
    { name: 'etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' },
    { name: 'usr/bin/tool', body: Buffer.alloc(100), mode: 0o755 },
  ]);
  assert.equal(l.files.map((f) => [f.kind, f.path, f.body.toString()]), [['dpkg-status', '/var/lib/dpkg/status', status('a 2')]]);
  assert.equal([l.deleted, l.opaque, l.links], [['/app/old'], ['/srv'], [['/etc/os-release', '../usr/lib/os-release']]]);
  assert.not.ok(l.others.some((p) => p.includes('.wh.')) || l.dirs.some((p) => p.includes('.wh.')), 'whiteouts are no entries');
  assert.equal(l.go, [], 'no Go build info in zeros');
});

test('mergeLayers: upper layers replace, delete and hide what is below; os-release links; walk order', async () => {
  const base = await layer([
    { name: 'var/lib/dpkg/status', body: status('a 1', 'b 1') },
    { name: 'var/lib/dpkg/status.d/c', body: status('c 1') },
    { name: 'app/node_modules/gone/package.json', body: '{"name":"gone","version":"1.0.0"}' },
    { name: 'app/node_modules/kept/package.json', body: '{"name":"kept","version":"1.0.0"}' },
    { name: 'app/old/package-lock.json', body: '{"packages":{"node_modules/x":{"version":"1.0.0"}}}' },
    { name: 'py/site-packages/r-1.dist-info/METADATA', body: 'Name: r\nVersion: 1\n' },
    { name: 'usr/lib/os-release', body: 'ID=debian\nVERSION_ID="12"\n' },
    { name: 'opt/a/package-lock.json', body: '{"packages":{"node_modules/y":{"version":"1.0.0"}}}' },
  ]);
  const upper = await layer([
    { name: 'var/lib/dpkg/status', body: status('a 2') },
    { name: 'var/lib/dpkg/status.d/.wh.c', body: '' },
    { name: 'app/node_modules/.wh.gone', body: '' },
    { name: 'app/old', type: 'directory' },
    { name: 'app/old/.wh..wh..opq', body: '' },
    { name: 'app/old/sub/package-lock.json', body: '{"packages":{"node_modules/x":{"version":"2.0.0"}}}' },
    { name: 'py/site-packages', body: 'a file where a directory was' },
    { name: 'etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' },
    { name: 'opt/a/package-lock.json', type: 'directory' },
  ]);
  const m = mergeLayers([base, upper]);
  assert.equal(m.files.map((f) => f.path), [
    '/app/node_modules/kept/package.json', '/app/old/sub/package-lock.json', '/usr/lib/os-release', '/var/lib/dpkg/status',
  ]);
  assert.is(m.files.find((f) => f.path === '/var/lib/dpkg/status')!.body.toString(), status('a 2'), 'the topmost status wins');
  assert.equal([...m.links], [['/etc/os-release', '../usr/lib/os-release']]);
  assert.equal(mergeLayers([upper, base]).files.map((f) => f.path).includes('/app/old/sub/package-lock.json'), true, 'order matters: the base hides nothing');
});

test('mergeLayers: a hard-link group shows once, at its first path in walk order that is still there', async () => {
  const SERF = '/usr/bin/serf';
  const go = existsSync(SERF) ? readFileSync(SERF) : null;
  if (!go || !readGoBuildInfo(go)) return void console.log('  (Go part not run: no Go binary at /usr/bin/serf)');
  const l = await layer([
    { name: 'usr/local/bin/zz', body: go, mode: 0o755 },
    { name: 'usr/local/bin/aa', type: 'link', linkname: 'usr/local/bin/zz' },
    { name: 'usr/local/bin/mm', type: 'link', linkname: 'usr/local/bin/zz' },
  ]);
  assert.equal(mergeLayers([l]).goBinaries.map((g) => g.path), ['/usr/local/bin/aa']);
  const del = await layer([{ name: 'usr/local/bin/.wh.aa', body: '' }]);
  assert.equal(mergeLayers([l, del]).goBinaries.map((g) => g.path), ['/usr/local/bin/mm']);
  const all = await layer([{ name: 'usr/local/.wh.bin', body: '' }]);
  assert.equal(mergeLayers([l, all]).goBinaries, []);
});

test('walkOrder is a depth-first walk in byte order', () => {
  const paths = ['/a-c', '/a/b', '/a', '/B', '/a/b/c', '/ab'];
  assert.equal([...paths].sort(walkOrder), ['/B', '/a', '/a/b', '/a/b/c', '/a-c', '/ab']);
});

test.run();
