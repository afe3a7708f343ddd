/**
 * Host updates on VMs of the golden image (issue #16), shared by the reduced suite in `make test`
 * (test/image/update.test.ts: one VM) and `make test-update` (test/full/update.test.ts: three VMs on a LAN, an app
 * with replicas serving throughout). Releases are made with `make release` (signed with the development key the image
 * trusts): v2 = <image version>.1, and a deliberately broken v3 = <image version>.2 whose agent never starts.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentClient } from '../../src/link/index.js';
import type { BadVersion, DesiredHost, HostStatus } from '../../src/model/index.js';
import { waitFor } from './cluster.js';
import type { Vm } from './vm.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export const imageVersion = (): string => (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

/** `make release VERSION=v` (IMAGE_BREAK=agent for a broken one); returns the bundle's path. */
export function makeRelease(version: string, broken = false): string {
  const t = performance.now();
  execFileSync('make', ['--no-print-directory', 'release', `VERSION=${version}`, ...(broken ? ['IMAGE_BREAK=agent'] : [])], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'], timeout: 20 * 60_000 });
  const path = join(REPO, 'image', 'out', `pleaco-${version}.bundle`);
  console.log(`release ${version}${broken ? ' (broken on purpose)' : ''}: ${(statSync(path).size / 1024 ** 2).toFixed(0)} MiB in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  return path;
}

export type NodeRow = (HostStatus | (Omit<HostStatus, 'state'> & { state: 'unknown' })) & { live: boolean };
export interface UpdateView {
  desired: DesiredHost | null;
  bad: BadVersion[];
  nodes: NodeRow[];
}

/** Uploads a bundle to a VM's agent and starts the rollout there. */
export async function startUpdate(vm: Vm, token: string, version: string, bundle: string): Promise<void> {
  const client = new AgentClient({ url: `http://127.0.0.1:${vm.apiPort}`, token });
  const t = performance.now();
  const taken = await client.upload<{ version: string; bundle: string }>('/v1/update/bundles', { stream: createReadStream(bundle), size: statSync(bundle).size });
  console.log(`bundle ${version} uploaded and verified in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  await client.request('POST', '/v1/update', { body: { version, bundle: taken.bundle } });
}

/** The update as the first VM that answers sees it. */
export async function updateView(vms: Vm[], token: string): Promise<UpdateView | null> {
  for (const vm of vms) {
    const v = await vm.json<UpdateView>('/v1/update', token).catch(() => null);
    if (v) return v;
  }
  return null;
}

export function describe(v: UpdateView | null): string {
  if (!v) return 'no VM answers';
  return v.nodes.map((n) => `${n.node}: ${n.slot ?? '-'} ${n.version ?? '-'} ${n.state}${n.live ? '' : ' (down)'}${n.error ? ` error: ${n.error}` : n.note ? ` (${n.note})` : ''}`).join('; ');
}

/** Waits until `done` holds for the view; logs each change of the nodes' states. */
export async function waitUpdate(vms: Vm[], token: string, what: string, done: (v: UpdateView) => boolean, timeoutMs: number): Promise<UpdateView> {
  let last = '';
  return waitFor(what, async () => {
    const v = await updateView(vms, token);
    const d = describe(v);
    if (d !== last) console.log(`  [${new Date().toISOString().slice(11, 19)}] ${(last = d)}`);
    for (const [i, vm] of vms.entries()) if (!vm.running()) throw new Error(`qemu of VM ${i + 1} exited`);
    return v && done(v) ? v : null;
  }, timeoutMs, 5000).catch((err: Error) => {
    const tails = vms.map((vm, i) => `--- serial of VM ${i + 1} (update lines) ---\n${vm.serial().split('\n').filter((l) => /"proc":"host"|component":"update"|pleaco-node|update-gate|bless|rollback/.test(l)).slice(-25).join('\n')}`);
    throw new Error(`${err.message}; last: ${last}\n${tails.join('\n')}`);
  });
}
