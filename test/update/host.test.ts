/**
 * The boot side of a host update (update/host.ts) on files standing in for the partitions and the ESP (the real ones
 * are written in the VM suites, test/image/update.test.ts): what slot and version the host runs, writing the spare
 * slot, never the running one, and the trial entry systemd-boot reads.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PleacoError } from '../../src/errors.js';
import { armSlot, generateUpdateKey, hostInfo, loaderEntries, packBundle, readHeader, stagedIn, stageSlot, type HostPaths } from '../../src/update/index.js';
import { tempDir } from '../helpers/tmp.js';

const tmp = tempDir('pleaco-host-');
const d = tmp.dir;
const paths: HostPaths = { osRelease: join(d, 'os-release'), cmdline: join(d, 'cmdline'), esp: join(d, 'esp'), partitions: join(d, 'by-partlabel') };
const OPTIONS = 'root=PARTLABEL=root-a rw console=tty0 console=ttyS0,115200n8 rootwait systemd.show_status=auto';
const rootfs = randomBytes(1 << 20);
const key = generateUpdateKey();

mkdirSync(join(d, 'esp', 'loader', 'entries'), { recursive: true });
mkdirSync(join(d, 'by-partlabel'));
writeFileSync(paths.cmdline, `BOOT_IMAGE=/pleaco/a/vmlinuz ${OPTIONS}\n`);
writeFileSync(paths.osRelease, 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nIMAGE_ID=pleaco\nIMAGE_VERSION=1.0.0\n');
writeFileSync(join(d, 'esp', 'loader', 'entries', 'pleaco-a.conf'), `title pleaco 1.0.0 (slot A)\nsort-key pleaco\nversion 1.0.0\nlinux /pleaco/a/vmlinuz\ninitrd /pleaco/a/initrd.img\noptions ${OPTIONS}\n`);
writeFileSync(join(d, 'by-partlabel', 'root-a'), Buffer.alloc(2 << 20, 7));
writeFileSync(join(d, 'by-partlabel', 'root-b'), Buffer.alloc(2 << 20, 9));
writeFileSync(join(d, 'kernel'), randomBytes(5000));
writeFileSync(join(d, 'initrd'), randomBytes(9000));
writeFileSync(join(d, 'rootfs.gz'), gzipSync(rootfs));

async function bundle(version: string): Promise<string> {
  const out = join(d, `${version}.bundle`);
  await packBundle(out, { version, signWith: [key.privatePem], parts: [{ name: 'kernel', file: join(d, 'kernel') }, { name: 'initrd', file: join(d, 'initrd') }, { name: 'rootfs', file: join(d, 'rootfs.gz'), encoding: 'gzip' }] });
  return out;
}

test('the running host: its slot from the kernel command line, its version from os-release; null off the image', async () => {
  assert.equal(await hostInfo(paths), { slot: 'a', version: '1.0.0' });
  assert.is(await hostInfo({ ...paths, cmdline: join(d, 'missing') }), null);
  const plain = join(d, 'os-release-debian');
  writeFileSync(plain, 'ID=debian\n');
  assert.is(await hostInfo({ ...paths, osRelease: plain }), null, 'no IMAGE_VERSION: not the golden image');
});

test('staging writes the spare slot and its kernel, gives it no entry, and never writes the running slot', async () => {
  const b = await readHeader(await bundle('1.1.0'));
  await stageSlot(b, 'b', paths);
  const part = readFileSync(join(d, 'by-partlabel', 'root-b'));
  assert.ok(part.subarray(0, rootfs.length).equals(rootfs), 'the root filesystem unpacked at the start of the partition');
  assert.ok(readFileSync(join(d, 'esp', 'pleaco', 'b', 'vmlinuz')).equals(readFileSync(join(d, 'kernel'))));
  assert.ok(readFileSync(join(d, 'esp', 'pleaco', 'b', 'initrd.img')).equals(readFileSync(join(d, 'initrd'))));
  assert.equal(await stagedIn('b', paths), { version: '1.1.0', bundle: b.id });
  assert.equal((await loaderEntries(paths)).map((e) => e.file), ['pleaco-a.conf'], 'a staged slot is not bootable yet');
  try {
    await stageSlot(b, 'a', paths);
    assert.unreachable('wrote the running slot');
  } catch (err) {
    assert.instance(err, PleacoError);
    assert.match((err as Error).message, /slot a is the running one/);
  }
  assert.ok(readFileSync(join(d, 'by-partlabel', 'root-a')).equals(Buffer.alloc(2 << 20, 7)), 'the running slot untouched');
});

test('arming gives the staged slot one trial boot of its version, with the running options and its own root', async () => {
  const entry = await armSlot('b', paths);
  assert.equal(entry, { file: 'pleaco-b+1.conf', slot: 'b', version: '1.1.0', triesLeft: 1, bad: false });
  const text = readFileSync(join(d, 'esp', 'loader', 'entries', 'pleaco-b+1.conf'), 'utf8');
  assert.match(text, /^sort-key\s+pleaco$/m);
  assert.match(text, /^version\s+1\.1\.0$/m);
  assert.match(text, /^linux\s+\/pleaco\/b\/vmlinuz$/m);
  assert.match(text, new RegExp(`^options\\s+${OPTIONS.replace('root-a', 'root-b').replace(/[.]/g, '\\.')}$`, 'm'));
  // what systemd-boot leaves after booting it once without a blessing: bad, sorted last
  writeFileSync(join(d, 'esp', 'loader', 'entries', 'pleaco-b+0-1.conf'), text);
  const entries = await loaderEntries(paths);
  assert.ok(entries.some((e) => e.file === 'pleaco-b+0-1.conf' && e.bad && e.triesLeft === 0 && e.version === '1.1.0'));
});

test('a bundle damaged between its check and its write leaves the slot unstaged and unbootable', async () => {
  const path = await bundle('1.2.0');
  const b = await readHeader(path);
  const bytes = readFileSync(path);
  const off = b.offsets.get('rootfs')! + 100;
  bytes[off] = bytes[off]! ^ 0xff;
  writeFileSync(path, bytes);
  try {
    await stageSlot(b, 'b', paths);
    assert.unreachable('staged a damaged bundle');
  } catch (err) {
    assert.match((err as Error).message, /does not match its digest|incorrect header check|invalid/);
  }
  assert.is(await stagedIn('b', paths), null);
  assert.equal(readdirSync(join(d, 'esp', 'loader', 'entries')).filter((f) => f.startsWith('pleaco-b')), [], 'no entry for the slot');
  try {
    await armSlot('b', paths);
    assert.unreachable('armed an unstaged slot');
  } catch (err) {
    assert.match((err as Error).message, /holds no staged system/);
  }
});

test.after(() => tmp.cleanup());
test.run();
