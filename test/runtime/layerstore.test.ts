/**
 * Reading one layer from Docker's overlay2 layer store (runtime/docker/layers.ts) against a store laid out here on disk
 * the way Docker lays it out (layerdb/sha256/<chain>/{diff,cache-id,tar-split.json.gz}, overlay2/<id>/diff): the bytes
 * are the layer's tar again; what the store does not hold as expected answers false before any byte; names that would
 * leave the layer (`..`, a symlinked directory), a FIFO, a file of another size are refused without reading elsewhere.
 * The real store under a real Engine is read by test/scan/layered.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { readStoredLayer } from '../../src/runtime/docker/layers.js';
import { PleacoError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

const tmp = tempDir('pleaco-layerstore-');
test.after(() => tmp.cleanup());

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  p.entry({ name: 'app/', type: 'directory', mode: 0o755 });
  for (const [name, body] of Object.entries(files)) p.entry({ name, mode: 0o644 }, body);
  p.finalize();
  const parts: Buffer[] = [];
  for await (const c of p.pipe(new PassThrough())) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** tar-split lines for a tar of short (ustar) names: header blocks and padding as segments, bodies by name. */
function tarSplit(tar: Buffer, rename: (name: string) => string = (n) => n): string {
  const lines: string[] = [];
  let seg: Buffer[] = [];
  let off = 0;
  const flush = (): void => {
    if (seg.length) lines.push(JSON.stringify({ type: 2, payload: Buffer.concat(seg).toString('base64'), position: lines.length }));
    seg = [];
  };
  while (off < tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) {
      seg.push(tar.subarray(off));
      break;
    }
    const name = h.toString('utf8', 0, h.indexOf(0));
    const size = parseInt(h.toString('latin1', 124, 135), 8);
    seg.push(h);
    flush();
    lines.push(JSON.stringify({ type: 1, name: rename(name), size, payload: null, position: lines.length }));
    off += 512 + size;
    const pad = (512 - (size % 512)) % 512;
    if (pad) seg.push(tar.subarray(off, off + pad));
    off += pad;
  }
  flush();
  return lines.join('\n') + '\n';
}

/** A store holding one single-layer chain made of `files`; `diffDir` is where the bodies go. */
async function store(files: Record<string, string>, o: { rename?: (n: string) => string; diffFile?: string } = {}): Promise<{ root: string; diffId: string; tar: Buffer; diffDir: string }> {
  const root = join(tmp.dir, randomBytes(4).toString('hex'));
  const tar = await tarOf(files);
  const diffId = sha(tar);
  const cacheId = randomBytes(32).toString('hex');
  const db = join(root, 'image', 'overlay2', 'layerdb', 'sha256', diffId.slice(7)); // one layer: chain ID = diffID
  mkdirSync(db, { recursive: true });
  writeFileSync(join(db, 'diff'), o.diffFile ?? diffId);
  writeFileSync(join(db, 'cache-id'), cacheId);
  writeFileSync(join(db, 'tar-split.json.gz'), gzipSync(tarSplit(tar, o.rename)));
  const diffDir = join(root, 'overlay2', cacheId, 'diff');
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(dirname(join(diffDir, name)), { recursive: true });
    writeFileSync(join(diffDir, name), body);
  }
  return { root, diffId, tar, diffDir };
}

async function read(root: string, chain: string[], driver = 'overlay2'): Promise<Buffer | false> {
  const parts: Buffer[] = [];
  const ok = await readStoredLayer({ root, driver }, chain, (c) => parts.push(Buffer.from(c)));
  return ok && Buffer.concat(parts);
}

const FILES = { 'app/package.json': '{"name":"web"}', 'app/big.bin': 'x'.repeat(3 * 1024 * 1024 + 7), 'app/empty': '' };

test('the layer comes back byte for byte: it hashes to its diffID', async () => {
  const s = await store(FILES);
  const got = await read(s.root, [s.diffId]);
  assert.ok(got, 'read');
  assert.ok(got.equals(s.tar));
  assert.is(sha(got), s.diffId);
});

test('false before any byte: another driver, a relative root, a chain it does not hold, a layerdb naming another diffID', async () => {
  const s = await store(FILES);
  assert.is(await read(s.root, [s.diffId], 'vfs'), false);
  assert.is(await read('relative/root', [s.diffId]), false);
  assert.is(await read(s.root, [sha(Buffer.from('other'))]), false);
  assert.is(await read(s.root, ['sha256:../../etc']), false, 'a chain of no digests');
  const lying = await store(FILES, { diffFile: sha(Buffer.from('not this')) });
  assert.is(await read(lying.root, [lying.diffId]), false);
});

async function refused(s: { root: string; diffId: string }, re: RegExp): Promise<void> {
  try {
    await read(s.root, [s.diffId]);
    assert.unreachable('should be refused');
  } catch (err) {
    assert.instance(err, PleacoError);
    assert.is((err as PleacoError).code, 'internal');
    assert.match((err as PleacoError).message, re);
  }
}

test('refused: a name with .., a directory that is a symlink (never followed out of the layer), a FIFO, another size', async () => {
  await refused(await store(FILES, { rename: (n) => (n === 'app/package.json' ? '../../etc/passwd' : n) }), /leaves the layer/);

  const outside = join(tmp.dir, `outside-${randomBytes(3).toString('hex')}`);
  mkdirSync(outside);
  writeFileSync(join(outside, 'package.json'), FILES['app/package.json']);
  const viaLink = await store(FILES, { rename: (n) => n.replace(/^app\/package\.json$/, 'lnk/package.json') });
  symlinkSync(outside, join(viaLink.diffDir, 'lnk'));
  await refused(viaLink, /lnk is not a directory of the layer/);

  const fifo = await store(FILES, { rename: (n) => n.replace(/^app\/package\.json$/, 'app/fifo') });
  execFileSync('mkfifo', [join(fifo.diffDir, 'app', 'fifo')]);
  await refused(fifo, /not the regular file/);

  const changed = await store(FILES);
  writeFileSync(join(changed.diffDir, 'app', 'package.json'), '{"name":"web","changed":true}');
  await refused(changed, /not the regular file of 14 bytes/);
});

test('an error of the sink passes on as it is, an abort as the signal says', async () => {
  const s = await store(FILES);
  const mine = new PleacoError('payload_too_large', 'the sink says no');
  try {
    await readStoredLayer({ root: s.root, driver: 'overlay2' }, [s.diffId], () => {
      throw mine;
    });
    assert.unreachable();
  } catch (err) {
    assert.is(err, mine);
  }
  const ac = new AbortController();
  ac.abort(new PleacoError('interrupted', 'stop'));
  try {
    await readStoredLayer({ root: s.root, driver: 'overlay2' }, [s.diffId], () => undefined, ac.signal);
    assert.unreachable();
  } catch (err) {
    assert.is((err as PleacoError).code, 'interrupted');
  }
});

test.run();
