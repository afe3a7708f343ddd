/**
 * `make bench-boot` (issue #15): how fast the golden image becomes a pleaco node under qemu (TCG: this machine has
 * no KVM), UEFI, a NoCloud seed, 2 vCPUs and 2 GiB per VM.
 *
 * - boot_to_ready_s: from qemu's start until the API answers /v1/health, one VM with no cluster key in its user-data
 *   (zero-touch: it becomes the first node of a new cluster). The median of PLEACO_BENCH_ROUNDS (default 2).
 * - units_active_s: until `systemctl is-active` says all four pleaco units are active (the guest prints it every 3 s,
 *   so up to 3 s late).
 * - cluster_3_s: three VMs started at once on a LAN of their own with one cluster key and no seeds; until the first
 *   one's API lists three alive members (found by mDNS). Three VMs share this machine's 2 cores.
 * - image_mib: the qcow2's size (what is shipped), and the raw image's apparent size.
 * Last line `boot_to_ready_s=X` (goal ≤ 40).
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { IMAGE, unitsActive, unitsProbeBootcmd, Vm, vmUnavailable } from '../test/helpers/vm.js';
import { bootLan } from '../test/helpers/vm-lan.js';

const ROUNDS = Math.max(1, Math.min(5, Number(process.env.PLEACO_BENCH_ROUNDS ?? 2) || 2));
const LIMIT_MS = 15 * 60_000;

const secs = (vm: Vm): number => (performance.now() - vm.startedAt) / 1000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Polls every 250 ms until `ok` holds (or the VM's qemu exits, or 15 min pass); returns the VM's seconds then. */
async function until(vm: Vm, what: string, ok: () => Promise<boolean> | boolean): Promise<number> {
  const deadline = performance.now() + LIMIT_MS;
  while (performance.now() < deadline) {
    if (!vm.running()) throw new Error(`${what}: qemu exited; serial: ${vm.serial().slice(-1500)}`);
    if (await ok()) return secs(vm);
    await sleep(250);
  }
  throw new Error(`${what}: not within ${LIMIT_MS / 60_000} min; serial: ${vm.serial().slice(-1500)}`);
}

const healthy = async (vm: Vm): Promise<boolean> => (await vm.api('/v1/health', undefined, { signal: AbortSignal.timeout(2000) }).catch(() => null))?.ok === true;

async function single(round: number): Promise<{ ready: number; units: number }> {
  const token = randomBytes(24).toString('base64url');
  const userData = ['#cloud-config', 'write_files:', '  - path: /var/lib/pleaco/token', "    permissions: '0600'", `    content: ${token}`, unitsProbeBootcmd(), ''].join('\n');
  const vm = await Vm.boot({ name: `bench-boot-${round}`, userData });
  try {
    const ready = await until(vm, 'API ready', () => healthy(vm));
    const units = await until(vm, 'units active', () => unitsActive(vm.serial()));
    console.log(`one VM, round ${round}: API ready after ${ready.toFixed(1)} s, the four units active after ${units.toFixed(1)} s`);
    return { ready, units };
  } finally {
    await vm.stop();
  }
}

async function cluster(): Promise<number> {
  const token = randomBytes(24).toString('base64url');
  const vms = await bootLan(3, { token, name: 'bench-lan' });
  try {
    const first = vms[0]!;
    const s = await until(first, 'a 3-node cluster', async () => {
      const res = await first.api('/v1/cluster', token, { signal: AbortSignal.timeout(2000) }).catch(() => null);
      if (!res?.ok) return false;
      const c = (await res.json()) as { members: { state: string }[] };
      return c.members.filter((m) => m.state === 'alive').length === 3;
    });
    console.log(`three VMs: one cluster of three after ${s.toFixed(1)} s`);
    return s;
  } finally {
    await Promise.all(vms.map((v) => v.stop()));
  }
}

async function main(): Promise<void> {
  const why = vmUnavailable();
  if (why) throw new Error(`cannot boot VMs here: ${why}`);
  const qcow = statSync(IMAGE).size / 2 ** 20;
  const raw = statSync(IMAGE.replace(/\.qcow2$/, '.raw'), { throwIfNoEntry: false });
  console.log(`image ${IMAGE}: qcow2 ${qcow.toFixed(0)} MiB${raw ? `, raw ${(raw.size / 2 ** 20).toFixed(0)} MiB apparent, ${((raw.blocks * 512) / 2 ** 20).toFixed(0)} MiB on disk` : ''}`);
  const runs = [];
  for (let r = 1; r <= ROUNDS; r++) runs.push(await single(r));
  const cluster3 = await cluster();
  console.log(`image_mib=${qcow.toFixed(0)}`);
  console.log(`units_active_s=${median(runs.map((x) => x.units)).toFixed(1)}`);
  console.log(`cluster_3_s=${cluster3.toFixed(1)}`);
  console.log(`boot_to_ready_s=${median(runs.map((x) => x.ready)).toFixed(1)}`);
}

main().catch((err: unknown) => {
  console.error(`bench-boot failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
