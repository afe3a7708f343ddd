/**
 * pleaco-host's work (main/host.ts runs it as root when the agent files a request, requests.ts): write a verified
 * bundle into the spare slot, or give the staged slot its trial entry and ask for the reboot. Nothing the agent says
 * is taken on trust: the bundle is verified again here, against the keys of the running image, and a reboot arms
 * only the slot this side staged from that same bundle.
 */
import { copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PleacoError } from '../errors.js';
import type { Logger } from '../log.js';
import { checkBundle, readHeader } from './bundle.js';
import { armSlot, hostInfo, otherSlot, stagedIn, stageSlot, type HostPaths } from './host.js';
import { hostDir, type HostRequest } from './requests.js';
import type { TrustedKeys } from './trust.js';

export interface HostSideOptions {
  stateDir: string;
  trusted: TrustedKeys;
  paths: HostPaths;
  /** The node's configuration directory (/etc/pleaco): carried to the new slot (pleaco-node boot puts it back). */
  etcPleaco: string;
  log: Logger;
}

/** Where the node's /etc/pleaco is kept across a slot change (on the data partition). */
export const carryDir = (stateDir: string): string => join(hostDir(stateDir), 'carry', 'etc-pleaco');

async function carry(o: HostSideOptions): Promise<number> {
  const to = carryDir(o.stateDir);
  await mkdir(to, { recursive: true, mode: 0o700 });
  let n = 0;
  for (const f of await readdir(o.etcPleaco).catch(() => [] as string[])) {
    const from = join(o.etcPleaco, f);
    if (!(await stat(from)).isFile()) continue;
    await copyFile(from, join(to, f));
    n++;
  }
  return n;
}

/** Does one request; resolves with whether the host should now reboot. Throws what the agent is told. */
export async function doRequest(req: HostRequest, o: HostSideOptions): Promise<{ reboot: boolean }> {
  const info = await hostInfo(o.paths);
  if (!info) throw new PleacoError('conflict', 'this host does not run the golden image (no root slot on its command line, or no IMAGE_VERSION): it cannot be updated');
  const spare = otherSlot(info.slot);
  if (req.op === 'stage') {
    // signature, version, parts here; every part's digest as stageSlot reads it (one pass over the bundle, not two)
    const b = await checkBundle(req.bundle, o.trusted, { running: info.version });
    o.log.info('writing the spare slot', { slot: spare, version: b.manifest.version, bundle: b.id.slice(0, 12), key: b.keyId });
    const total = b.manifest.parts.find((p) => p.name === 'rootfs')?.size ?? 0;
    let next = 0.1;
    await stageSlot(b, spare, o.paths, (part, bytes) => {
      if (total > 0 && bytes / total >= next) {
        o.log.info('writing the spare slot', { part, percent: Math.floor((bytes / total) * 100) });
        next += 0.1;
      }
    });
    o.log.info('spare slot written', { slot: spare, version: b.manifest.version });
    return { reboot: false };
  }
  const header = await readHeader(req.bundle);
  const staged = await stagedIn(spare, o.paths);
  if (!staged || staged.bundle !== header.id || staged.version !== req.version) {
    throw new PleacoError('conflict', `slot ${spare} does not hold ${req.version} from this bundle (it holds ${staged ? staged.version : 'nothing staged'}); stage it first`);
  }
  const files = await carry(o);
  const entry = await armSlot(spare, o.paths);
  o.log.info('rebooting into the new slot on trial', { slot: spare, version: req.version, entry: entry.file, carried: files });
  return { reboot: true };
}
