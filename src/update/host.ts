/**
 * The host's boot side, as the golden image lays it out (image/build.sh): two root slots (GPT names root-a, root-b),
 * the ESP with systemd-boot, a kernel and initrd per slot under /pleaco/<slot>/, and one loader entry per slot that
 * holds a system. systemd-boot boots the entry of the highest `version` that is not bad (its boot counter at +0),
 * so an update is: write the spare slot, then give it an entry `pleaco-<slot>+1.conf` of the new version (one try).
 * The loader renames it to `+0-1` as it boots it; `systemd-bless-boot` renames it to `pleaco-<slot>.conf` once
 * boot-complete.target is reached (pleaco-update-gate: healthy and back in the cluster). A trial boot that never
 * gets there leaves a bad entry, and the next boot takes the old slot: the rollback needs nobody.
 *
 * This is the privileged side (pleaco-host.service, main/host.ts): the agent has no capabilities and no devices.
 * Every path is an option, so the tests run it on files standing in for the partitions and the ESP.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { PleacoError } from '../errors.js';
import { isHostVersion } from '../model/index.js';
import { partStream, type BundleHeader } from './bundle.js';

export type Slot = 'a' | 'b';

export interface HostPaths {
  /** os-release of the running root (IMAGE_VERSION). */
  osRelease: string;
  /** The kernel's command line (root=PARTLABEL=root-<slot>). */
  cmdline: string;
  /** The ESP's mount point (/efi). */
  esp: string;
  /** Where the partitions are by GPT name (/dev/disk/by-partlabel). */
  partitions: string;
}

export const HOST_PATHS: HostPaths = { osRelease: '/etc/os-release', cmdline: '/proc/cmdline', esp: '/efi', partitions: '/dev/disk/by-partlabel' };

export interface LoaderEntry {
  file: string;
  slot: Slot;
  version: string | null;
  /** Boot counting: tries left, or null for an entry without a counter (blessed, or never on trial). */
  triesLeft: number | null;
  /** Tries left at 0: the loader sorts it last and never boots it by default. */
  bad: boolean;
}

const ENTRY_RE = /^pleaco-([ab])(?:\+(\d+)(?:-(\d+))?)?\.conf$/;

export const otherSlot = (s: Slot): Slot => (s === 'a' ? 'b' : 'a');

/** The running host: its slot and version, or null off the golden image (no slot on the command line). */
export async function hostInfo(p: HostPaths = HOST_PATHS): Promise<{ slot: Slot; version: string } | null> {
  const cmdline = await readFile(p.cmdline, 'utf8').catch(() => '');
  const slot = /(?:^|\s)root=PARTLABEL=root-([ab])(?:\s|$)/.exec(cmdline)?.[1] as Slot | undefined;
  if (!slot) return null;
  const os = await readFile(p.osRelease, 'utf8').catch(() => '');
  const version = /^IMAGE_VERSION="?([^"\n]*)"?$/m.exec(os)?.[1] ?? '';
  if (!isHostVersion(version)) return null;
  return { slot, version };
}

export async function loaderEntries(p: HostPaths = HOST_PATHS): Promise<LoaderEntry[]> {
  const dir = join(p.esp, 'loader', 'entries');
  const files = await readdir(dir).catch(() => [] as string[]);
  const out: LoaderEntry[] = [];
  for (const file of files.sort()) {
    const m = ENTRY_RE.exec(file);
    if (!m) continue;
    const text = await readFile(join(dir, file), 'utf8').catch(() => '');
    const version = /^version\s+(\S+)\s*$/m.exec(text)?.[1] ?? null;
    const triesLeft = m[2] === undefined ? null : Number(m[2]);
    out.push({ file, slot: m[1] as Slot, version, triesLeft, bad: triesLeft === 0 });
  }
  return out;
}

/** The options line of the running slot's entry with its root= replaced: the new slot boots with the same ones. */
async function optionsFor(p: HostPaths, slot: Slot): Promise<string> {
  const dir = join(p.esp, 'loader', 'entries');
  for (const e of await loaderEntries(p)) {
    if (e.slot === slot) continue;
    const opts = /^options\s+(.*)$/m.exec(await readFile(join(dir, e.file), 'utf8'))?.[1];
    if (opts) return opts.replace(/root=PARTLABEL=root-[ab]/, `root=PARTLABEL=root-${slot}`);
  }
  return `root=PARTLABEL=root-${slot} rw console=tty0 console=ttyS0,115200n8 rootwait`;
}

/** Removes every loader entry of `slot`: a slot being written must never be bootable. */
async function unbootable(p: HostPaths, slot: Slot): Promise<void> {
  for (const e of await loaderEntries(p)) if (e.slot === slot) await rm(join(p.esp, 'loader', 'entries', e.file), { force: true });
}

async function writeFileSynced(path: string, data: NodeJS.ReadableStream): Promise<void> {
  const tmp = `${path}.new`;
  await pipeline(data, createWriteStream(tmp));
  const fh = await open(tmp, 'r+');
  await fh.sync().finally(() => fh.close());
  await rename(tmp, path);
}

export interface StageProgress {
  (part: string, bytes: number): void;
}

/**
 * Writes a verified bundle into `slot` (never the running one): its entries removed first, the root filesystem
 * unpacked onto the partition (every part checked against its digest as it is read; a mismatch fails the stage), the
 * kernel and initrd onto the ESP. The slot gets no entry here: `arm` gives it one when the node's turn comes.
 */
export async function stageSlot(b: BundleHeader, slot: Slot, p: HostPaths = HOST_PATHS, progress?: StageProgress): Promise<void> {
  const running = await hostInfo(p);
  if (running?.slot === slot) throw new PleacoError('conflict', `slot ${slot} is the running one; only the spare slot is written`);
  await unbootable(p, slot);
  await rm(join(p.esp, 'pleaco', slot, 'version'), { force: true }); // staged by nobody until this write ends well
  const dev = join(p.partitions, `root-${slot}`);
  const fh = await open(dev, 'r+').catch((err: unknown) => {
    throw new PleacoError('unavailable', `cannot open the spare root slot ${dev}: ${(err as Error).message}`);
  });
  let written = 0;
  const sink = createWriteStream('', { fd: fh.fd, autoClose: false, start: 0 });
  const rootfs = partStream(b, 'rootfs');
  rootfs.on('data', (c: Buffer) => progress?.('rootfs', (written += c.length)));
  const encoding = b.manifest.parts.find((x) => x.name === 'rootfs')?.encoding;
  try {
    await (encoding === 'gzip' ? pipeline(rootfs, createGunzip(), sink) : pipeline(rootfs, sink));
    await fh.sync();
  } finally {
    await fh.close();
  }
  const dir = join(p.esp, 'pleaco', slot);
  await mkdir(dir, { recursive: true });
  await writeFileSynced(join(dir, 'vmlinuz'), partStream(b, 'kernel'));
  await writeFileSynced(join(dir, 'initrd.img'), partStream(b, 'initrd'));
  await writeFile(join(dir, 'version'), `${b.manifest.version}\n${b.id}\n`);
}

/** What `stageSlot` left in a slot: its version and bundle id, or null. */
export async function stagedIn(slot: Slot, p: HostPaths = HOST_PATHS): Promise<{ version: string; bundle: string } | null> {
  const text = await readFile(join(p.esp, 'pleaco', slot, 'version'), 'utf8').catch(() => null);
  const [version, bundle] = text?.split('\n') ?? [];
  return version && bundle ? { version, bundle } : null;
}

/** Gives a staged slot its trial entry (one try): the next boot takes it. */
export async function armSlot(slot: Slot, p: HostPaths = HOST_PATHS): Promise<LoaderEntry> {
  const staged = await stagedIn(slot, p);
  if (!staged) throw new PleacoError('conflict', `slot ${slot} holds no staged system`);
  await unbootable(p, slot);
  const file = `pleaco-${slot}+1.conf`;
  const text = [
    `title      pleaco ${staged.version} (slot ${slot.toUpperCase()})`,
    'sort-key   pleaco',
    `version    ${staged.version}`,
    `linux      /pleaco/${slot}/vmlinuz`,
    `initrd     /pleaco/${slot}/initrd.img`,
    `options    ${await optionsFor(p, slot)}`,
    '',
  ].join('\n');
  const path = join(p.esp, 'loader', 'entries', file);
  await writeFile(`${path}.new`, text);
  await rename(`${path}.new`, path);
  return { file, slot, version: staged.version, triesLeft: 1, bad: false };
}
