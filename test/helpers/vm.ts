/**
 * qemu VMs of the golden image for tests and benchmarks (issue #15): each boots a copy-on-write overlay of
 * image/out/pleaco.qcow2 under UEFI (OVMF) with TCG (this machine has no KVM), a NoCloud seed ISO made with
 * cloud-localds, user-mode networking whose API and HTTP ports are forwarded to 127.0.0.1 only, and optionally a
 * second NIC on a qemu socket network of its own (UDP multicast on loopback: the VMs of one test see each other,
 * multicast included, and nothing else). The serial console goes to a file the test reads. Everything lives in a temp
 * dir removed by `stop()`; the qemu process is killed on stop and on exit.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reservedPort } from './net.js';
import { tempDir } from './tmp.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const IMAGE = process.env.PLEACO_IMAGE ?? join(REPO, 'image', 'out', 'pleaco.qcow2');
const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

/** Why VMs cannot run here, or null. */
export function vmUnavailable(): string | null {
  for (const tool of ['qemu-system-x86_64', 'qemu-img', 'cloud-localds']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is missing (apt-get install qemu-system-x86 qemu-utils cloud-image-utils ovmf)`;
    }
  }
  if (!existsSync(OVMF_CODE)) return `${OVMF_CODE} is missing (apt-get install ovmf)`;
  if (!existsSync(IMAGE)) return `no image at ${IMAGE} (make image)`;
  return null;
}

export interface VmOptions {
  name: string;
  /** NoCloud user-data (a #cloud-config document). */
  userData: string;
  memoryMb?: number;
  cpus?: number;
  /** Size of the VM's disk (default 12 GiB; sparse: only what is written takes space). */
  diskGiB?: number;
  /** A second NIC on this qemu socket network ("230.x.y.z:port", multicast on loopback), with this MAC. */
  mcast?: { group: string; mac: string };
  /** NoCloud network-config (version 2), e.g. from `lanNetworkConfig` (vm-lan.ts). */
  networkConfig?: string;
  /**
   * A guest reboot is a power cycle: qemu exits on it (-no-reboot) and is started again on the same disk and UEFI
   * variables, as a machine resets (host updates). By default a reboot ends the VM. Why not qemu's own warm reset:
   * under TCG here, the kernel systemd-boot hands over to after one never starts (docs/decisions.md, "Host updates").
   */
  reboot?: boolean;
}

/** The pleaco units the image starts (systemd/). */
export const UNITS = ['pleaco-agent', 'pleaco-builder', 'pleaco-runner', 'pleaco-proxy'] as const;

/**
 * User-data lines (a `bootcmd:` list): every 3 s (at most 40 min) the guest prints `pleaco-units: <state> x4` on its
 * serial console, from `systemctl is-active` of the four units. bootcmd runs early, in cloud-init's init stage (before
 * basic.target): the probe is a transient unit without default dependencies, started without waiting for its job.
 */
export function unitsProbeBootcmd(): string {
  const loop = `for i in $(seq 1 800); do echo "pleaco-units: $(systemctl is-active ${UNITS.join(' ')} | tr "\\n" " ")" >/dev/ttyS0; sleep 3; done`;
  return `bootcmd:\n  - [systemd-run, --no-block, -p, DefaultDependencies=no, --unit=pleaco-units-probe, sh, -c, '${loop}']`;
}

/**
 * User-data lines (a `runcmd:` list): the pleaco units' journal since boot, then as it grows, on the serial console,
 * for failure messages. runcmd runs in cloud-final, after multi-user.target; `--no-tail -b` shows what came before.
 */
export function consoleLogRuncmd(more: string[] = []): string {
  return `runcmd:\n  - [systemd-run, --unit=pleaco-console-log, -p, StandardOutput=tty, -p, TTYPath=/dev/ttyS0, journalctl, -b, --no-tail, -f, -o, cat, ${[...UNITS, ...more].map((u) => `-u, ${u}`).join(', ')}]`;
}

/**
 * User-data of a node on its own: the test's API token, these lines of /etc/pleaco/pleaco.env, the units probe, and the
 * journal of the four units (and of `moreUnits`) on the console.
 */
export function nodeUserData(token: string, env: Record<string, string>, moreUnits: string[] = []): string {
  return [
    '#cloud-config',
    'write_files:',
    '  - path: /var/lib/pleaco/token',
    "    permissions: '0600'",
    `    content: ${token}`,
    '  - path: /etc/pleaco/pleaco.env',
    "    permissions: '0644'",
    '    content: |',
    ...Object.entries(env).map(([k, v]) => `      ${k}=${v}`),
    unitsProbeBootcmd(),
    consoleLogRuncmd(moreUnits),
    '',
  ].join('\n');
}

/** Whether the guest's last probe line says all four units are active. */
export function unitsActive(serial: string): boolean {
  const st = unitStates(serial);
  return st !== null && Object.values(st).every((x) => x === 'active');
}

/** The guest's unit states from its last complete probe line, or null before the first. */
export function unitStates(serial: string): Record<string, string> | null {
  const re = /pleaco-units: ([a-z-]+) ([a-z-]+) ([a-z-]+) ([a-z-]+) ?$/gm;
  const last = [...serial.matchAll(re)].pop();
  return last ? Object.fromEntries(UNITS.map((u, i) => [u, last[i + 1]!])) : null;
}

export class Vm {
  readonly apiPort: number;
  readonly httpPort: number;
  readonly serialPath: string;
  startedAt = 0;
  /** Guest reboots so far (a VM with `reboot`). */
  reboots = 0;
  private stopping = false;
  private proc: ChildProcess | null = null;
  private readonly onExit = (): void => void this.proc?.kill('SIGKILL');

  private constructor(private readonly o: VmOptions, private readonly tmp: { dir: string; cleanup: () => void }, ports: [number, number]) {
    [this.apiPort, this.httpPort] = ports;
    this.serialPath = join(tmp.dir, 'serial.log');
  }

  /** Prepares the overlay, the UEFI variables and the seed ISO, then starts qemu. */
  static async boot(o: VmOptions): Promise<Vm> {
    const tmp = tempDir(`pleaco-vm-${o.name}-`);
    const vm = new Vm(o, tmp, [await reservedPort(), await reservedPort()]);
    try {
      vm.prepare();
      vm.start();
    } catch (err) {
      tmp.cleanup();
      throw err;
    }
    return vm;
  }

  private prepare(): void {
    const d = this.tmp.dir;
    // A bigger disk than the image: the data partition grows into it on first boot (systemd-repart), as on a real machine.
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', IMAGE, '-F', 'qcow2', join(d, 'disk.qcow2'), `${this.o.diskGiB ?? 12}G`]);
    copyFileSync(OVMF_VARS, join(d, 'vars.fd'));
    writeFileSync(join(d, 'user-data'), this.o.userData);
    writeFileSync(join(d, 'meta-data'), `instance-id: ${this.o.name}\nlocal-hostname: ${this.o.name}\n`);
    const net = this.o.networkConfig ? [`--network-config=${join(d, 'network-config')}`] : [];
    if (this.o.networkConfig) writeFileSync(join(d, 'network-config'), this.o.networkConfig);
    execFileSync('cloud-localds', [...net, join(d, 'seed.iso'), join(d, 'user-data'), join(d, 'meta-data')]);
  }

  private start(): void {
    const d = this.tmp.dir;
    const argv = [
      '-machine', 'q35,accel=tcg', '-cpu', 'max', '-m', String(this.o.memoryMb ?? 2048), '-smp', String(this.o.cpus ?? 2),
      '-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${join(d, 'vars.fd')}`,
      '-drive', `file=${join(d, 'disk.qcow2')},if=virtio,format=qcow2`, '-drive', `file=${join(d, 'seed.iso')},if=virtio,format=raw,readonly=on`,
      '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${this.apiPort}-:7070,hostfwd=tcp:127.0.0.1:${this.httpPort}-:80`, '-device', 'virtio-net-pci,netdev=n0',
      ...(this.o.mcast ? ['-netdev', `socket,id=n1,mcast=${this.o.mcast.group},localaddr=127.0.0.1`, '-device', `virtio-net-pci,netdev=n1,mac=${this.o.mcast.mac}`] : []),
      '-chardev', `file,id=con,path=${this.serialPath},append=on`, '-serial', 'chardev:con', '-display', 'none', '-monitor', 'none', '-no-reboot',
    ];
    this.startedAt = performance.now();
    // setpriv: qemu dies with this process even when it is killed (a suite's time-out is a SIGKILL, which skips the
    // exit handler below); three orphaned VMs would slow everything after them.
    this.proc = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'qemu-system-x86_64', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    this.proc.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-2000)));
    const proc = this.proc;
    proc.on('exit', (code) => {
      if (code) writeFileSync(join(d, 'qemu.err'), err);
      // exit 0 without our kill: the guest rebooted (-no-reboot); a VM that may reboot is powered on again
      else if (this.o.reboot && !this.stopping && proc.signalCode === null) {
        this.reboots++;
        this.start();
      }
    });
    if (this.reboots === 0) process.once('exit', this.onExit);
  }

  /** The serial console so far. */
  serial(): string {
    try {
      return readFileSync(this.serialPath, 'utf8');
    } catch {
      return '';
    }
  }

  /** Whether qemu still runs. */
  running(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** GET the forwarded API (token from the user-data the test wrote). */
  api(path: string, token?: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (token) headers.set('authorization', `Bearer ${token}`);
    return fetch(`http://127.0.0.1:${this.apiPort}${path}`, { ...init, headers, signal: init.signal ?? AbortSignal.timeout(10_000) });
  }

  /** The API's answer as JSON; a status other than 2xx throws with the method, path, status and body. */
  async json<T>(path: string, token: string, init: RequestInit = {}): Promise<T> {
    const res = await this.api(path, token, { ...init, headers: { 'content-type': 'application/json', ...init.headers } });
    const text = await res.text();
    if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${text.slice(0, 200)}`);
    return JSON.parse(text) as T;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    process.off('exit', this.onExit);
    if (this.running()) {
      this.proc!.kill('SIGKILL');
      await new Promise((r) => this.proc!.once('exit', r));
    }
    this.tmp.cleanup();
  }
}
