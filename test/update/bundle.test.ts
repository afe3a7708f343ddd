import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, gunzipSync } from 'node:zlib';
import { PleacoError } from '../../src/errors.js';
import { generateUpdateKey, MAGIC, packBundle, partStream, readHeader, TrustedKeys, verifyBundle, type PackOptions } from '../../src/update/index.js';
import { tempDir } from '../helpers/tmp.js';

const tmp = tempDir('pleaco-bundle-');
const release = generateUpdateKey();
const other = generateUpdateKey();
const trusted = new TrustedKeys([release.publicPem]);
const rootfs = randomBytes(300_000);
writeFileSync(join(tmp.dir, 'kernel'), randomBytes(4096));
writeFileSync(join(tmp.dir, 'initrd'), randomBytes(70_000));
writeFileSync(join(tmp.dir, 'rootfs.gz'), gzipSync(rootfs));

function opts(version: string, signWith: string[] = [release.privatePem]): PackOptions {
  return { version, signWith, parts: [{ name: 'kernel', file: join(tmp.dir, 'kernel') }, { name: 'initrd', file: join(tmp.dir, 'initrd') }, { name: 'rootfs', file: join(tmp.dir, 'rootfs.gz'), encoding: 'gzip' }] };
}

async function refusedWith(p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, PleacoError);
    assert.is((err as PleacoError).code, 'bundle_refused', (err as Error).message);
    assert.match((err as Error).message, re);
    return;
  }
  assert.unreachable(`accepted, expected ${re}`);
}

async function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('a signed bundle verifies, names its key, and gives its parts back byte for byte', async () => {
  const file = join(tmp.dir, 'v2.bundle');
  await packBundle(file, opts('2.0.0'));
  const b = await verifyBundle(file, trusted, { running: '1.9.3' });
  assert.is(b.manifest.version, '2.0.0');
  assert.is(b.keyId, release.keyId);
  assert.equal(b.manifest.parts.map((p) => p.name), ['kernel', 'initrd', 'rootfs']);
  assert.is(b.manifest.parts[2]!.encoding, 'gzip');
  assert.ok(readFileSync(file).subarray(0, MAGIC.length).equals(MAGIC));
  assert.ok(gunzipSync(await collect(partStream(b, 'rootfs'))).equals(rootfs));
  assert.ok((await collect(partStream(b, 'kernel'))).equals(readFileSync(join(tmp.dir, 'kernel'))));
  assert.match(b.id, /^[0-9a-f]{64}$/);
});

test('unsigned, signed by an untrusted key, and trusted by nobody: refused, saying which keys', async () => {
  const unsigned = join(tmp.dir, 'unsigned.bundle');
  await packBundle(unsigned, opts('2.0.0', []));
  await refusedWith(verifyBundle(unsigned, trusted), /not signed/);
  const foreign = join(tmp.dir, 'foreign.bundle');
  await packBundle(foreign, opts('2.0.0', [other.privatePem]));
  await refusedWith(verifyBundle(foreign, trusted), new RegExp(`signed by ${other.keyId}, and this node trusts ${release.keyId}`));
  await refusedWith(verifyBundle(foreign, new TrustedKeys([])), /trusts no update key/);
  // signed by both: the trusted signature is enough
  const both = join(tmp.dir, 'both.bundle');
  await packBundle(both, opts('2.0.0', [other.privatePem, release.privatePem]));
  assert.is((await verifyBundle(both, trusted)).keyId, release.keyId);
});

test('a manifest altered after signing is refused (the signature no longer verifies)', async () => {
  const file = join(tmp.dir, 'altered.bundle');
  await packBundle(file, opts('2.0.0'));
  const bytes = readFileSync(file);
  const at = bytes.indexOf(Buffer.from('\\"version\\":\\"2.0.0\\"'));
  assert.ok(at > 0, 'the version is in the header');
  bytes.write('\\"version\\":\\"9.0.0\\"', at); // same length: the header still parses
  writeFileSync(file, bytes);
  assert.is((await readHeader(file)).manifest.version, '9.0.0');
  await refusedWith(verifyBundle(file, trusted), new RegExp(`signature by key ${release.keyId} does not verify`));
});

test('a part altered, a bundle cut short or with bytes appended is refused', async () => {
  const file = join(tmp.dir, 'tampered.bundle');
  const h = await packBundle(file, opts('2.0.0'));
  const bytes = readFileSync(file);
  const off = h.offsets.get('rootfs')! + 1000;
  bytes[off] = bytes[off]! ^ 0xff;
  writeFileSync(file, bytes);
  await refusedWith(verifyBundle(file, trusted), /part rootfs does not match its digest/);

  const cut = join(tmp.dir, 'cut.bundle');
  await packBundle(cut, opts('2.0.0'));
  truncateSync(cut, h.size - 10);
  await refusedWith(verifyBundle(cut, trusted), new RegExp(`truncated: ${h.size - 10} bytes of ${h.size}`));
  truncateSync(cut, 20);
  await refusedWith(verifyBundle(cut, trusted), /truncated: it ends inside its header/);

  const longer = join(tmp.dir, 'longer.bundle');
  await packBundle(longer, opts('2.0.0'));
  appendFileSync(longer, 'x');
  await refusedWith(verifyBundle(longer, trusted), /1 bytes after its last part/);

  const junk = join(tmp.dir, 'junk.bundle');
  writeFileSync(junk, randomBytes(5000));
  await refusedWith(verifyBundle(junk, trusted), /not a pleaco update bundle/);
});

test('a version not newer than the running one is refused as a downgrade', async () => {
  const file = join(tmp.dir, 'old.bundle');
  await packBundle(file, opts('1.4.0'));
  await refusedWith(verifyBundle(file, trusted, { running: '1.10.0' }), /1\.4\.0 is not newer than the running 1\.10\.0 \(a downgrade\)/);
  await refusedWith(verifyBundle(file, trusted, { running: '1.4.0' }), /not newer/);
  await verifyBundle(file, trusted, { running: '1.4.0-rc2' });
});

test('a bundle whose part changes after it was verified fails while it is read', async () => {
  const file = join(tmp.dir, 'later.bundle');
  await packBundle(file, opts('3.0.0'));
  const b = await verifyBundle(file, trusted);
  const bytes = readFileSync(file);
  bytes[b.offsets.get('initrd')!] = bytes[b.offsets.get('initrd')!]! ^ 1;
  writeFileSync(file, bytes);
  await refusedWith(collect(partStream(b, 'initrd')), /part initrd does not match its digest/);
});

test.after(() => tmp.cleanup());
test.run();
