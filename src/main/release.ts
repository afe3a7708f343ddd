/**
 * Release tooling that runs off the cluster: `pleaco update:keys` (a signing pair) and `make release` (node
 * dist/src/main/release.js pack …: a signed host update bundle from the image build's root filesystem, kernel and
 * initrd).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PleacoError } from '../errors.js';
import { generateUpdateKey, packBundle } from '../update/index.js';

export async function writeUpdateKeys(dir: string): Promise<{ keyId: string; privateFile: string; publicFile: string }> {
  const d = resolve(dir);
  mkdirSync(d, { recursive: true });
  const privateFile = join(d, 'release.key');
  const publicFile = join(d, 'release.pub');
  if (existsSync(privateFile)) throw new PleacoError('conflict', `${privateFile} exists; pleaco update:keys never overwrites a key`);
  const k = generateUpdateKey();
  writeFileSync(privateFile, k.privatePem, { mode: 0o600, flag: 'wx' });
  writeFileSync(publicFile, k.publicPem, { mode: 0o644 });
  return { keyId: k.keyId, privateFile, publicFile };
}

/** `release.js pack OUT VERSION KEYFILE KERNEL INITRD ROOTFS_GZ`: prints the bundle's id, version and size. */
async function main(argv: string[]): Promise<number> {
  const [cmd, out, version, keyFile, kernel, initrd, rootfs] = argv;
  if (cmd !== 'pack' || !rootfs) {
    process.stderr.write('usage: release.js pack OUT VERSION KEYFILE KERNEL INITRD ROOTFS_GZ\n');
    return 2;
  }
  const b = await packBundle(out!, {
    version: version!,
    signWith: [readFileSync(keyFile!, 'utf8')],
    parts: [{ name: 'kernel', file: kernel! }, { name: 'initrd', file: initrd! }, { name: 'rootfs', file: rootfs, encoding: 'gzip' }],
  });
  process.stdout.write(`bundle=${out} version=${b.manifest.version} id=${b.id} bytes=${b.size}\n`);
  return 0;
}

if (process.argv[1] && /release\.js$/.test(process.argv[1])) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`release: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
