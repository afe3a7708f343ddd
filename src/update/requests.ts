/**
 * How the agent (no capabilities, no devices) asks the privileged host side (pleaco-host.service) to write the spare
 * slot or to reboot into it: a request file in `<stateDir>/host/`, which a systemd path unit turns into a run of
 * pleaco-host; the answer comes back as a result file. The host side trusts nothing in a request: a bundle must be
 * a file in `<stateDir>/host/bundles/` and is verified again (signature, version, digests) as it is written.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PleacoError } from '../errors.js';
import { isHostVersion } from '../model/index.js';
import { isBundleId } from './bundle.js';

export type HostAsk = { op: 'stage'; bundle: string } | { op: 'reboot'; version: string; bundle: string };
export type HostRequest = HostAsk & { id: string };
export interface HostResult {
  id: string;
  ok: boolean;
  error: string | null;
  at: string;
}

const ID_RE = /^[0-9a-f]{16}$/;

export const hostDir = (stateDir: string): string => join(stateDir, 'host');
export const bundlesDir = (stateDir: string): string => join(hostDir(stateDir), 'bundles');
export const bundlePath = (stateDir: string, id: string): string => join(bundlesDir(stateDir), `${id}.bundle`);

async function writeAtomic(path: string, value: unknown): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(value));
  await rename(`${path}.tmp`, path);
}

/** The agent's side: files a request and waits for its result (or fails after `timeoutMs`). */
export async function askHost(stateDir: string, req: HostAsk, timeoutMs: number, signal?: AbortSignal): Promise<HostResult> {
  const dir = hostDir(stateDir);
  await mkdir(dir, { recursive: true });
  const id = randomBytes(8).toString('hex');
  await writeAtomic(join(dir, `request-${id}.json`), { ...req, id });
  const resultFile = join(dir, `result-${id}.json`);
  const end = Date.now() + timeoutMs;
  while (Date.now() < end && !signal?.aborted) {
    const text = await readFile(resultFile, 'utf8').catch(() => null);
    if (text) {
      await rm(resultFile, { force: true });
      return JSON.parse(text) as HostResult;
    }
    await sleep(500, undefined, { signal }).catch(() => undefined);
  }
  await rm(join(dir, `request-${id}.json`), { force: true });
  throw new PleacoError('unavailable', `pleaco-host did not answer a ${req.op} request within ${Math.round(timeoutMs / 1000)} s (is pleaco-host.path enabled?)`);
}

function parseRequest(stateDir: string, text: string): HostRequest {
  const r = JSON.parse(text) as Record<string, unknown>;
  if (typeof r.id !== 'string' || !ID_RE.test(r.id)) throw new PleacoError('bad_request', 'a request needs an id');
  const bundle = typeof r.bundle === 'string' && isBundleId(basename(r.bundle, '.bundle')) && r.bundle === bundlePath(stateDir, basename(r.bundle, '.bundle')) ? r.bundle : null;
  if (!bundle) throw new PleacoError('bad_request', `a request's bundle must be a file in ${bundlesDir(stateDir)}`);
  if (r.op === 'stage') return { id: r.id, op: 'stage', bundle };
  if (r.op === 'reboot' && isHostVersion(r.version)) return { id: r.id, op: 'reboot', version: r.version, bundle };
  throw new PleacoError('bad_request', `unknown request ${JSON.stringify(String(r.op).slice(0, 20))}`);
}

/** The host side: every pending request (oldest first), each removed as it is taken; malformed ones answered at once. */
export async function takeRequests(stateDir: string): Promise<HostRequest[]> {
  const dir = hostDir(stateDir);
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => /^request-[0-9a-f]{16}\.json$/.test(f)).sort();
  const out: HostRequest[] = [];
  for (const f of files) {
    const text = await readFile(join(dir, f), 'utf8').catch(() => null);
    await rm(join(dir, f), { force: true });
    if (text === null) continue;
    try {
      out.push(parseRequest(stateDir, text));
    } catch (err) {
      await answer(stateDir, { id: f.slice(8, 24), ok: false, error: (err as Error).message, at: new Date().toISOString() });
    }
  }
  return out;
}

export async function answer(stateDir: string, result: HostResult): Promise<void> {
  await writeAtomic(join(hostDir(stateDir), `result-${result.id}.json`), result);
}
