/**
 * Several VMs of the golden image on a LAN of their own (issue #15: make test-image-cluster, make bench-boot): each
 * VM's second NIC is on one qemu socket network (UDP multicast on the host's loopback: the VMs see each other,
 * multicast included, and nothing else), with a static address 10.213.0.i/24 given by NoCloud network-config. The
 * first NIC stays user-mode networking: the default route, and the API and HTTP ports forwarded to 127.0.0.1.
 * Every VM gets the same cluster file (a key, no seeds: they find each other by mDNS on the LAN) and an API token.
 * PLEACO_NODE_ADDR makes the LAN address the node's address (the user-mode NIC is 10.0.2.15 on every VM).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { reservedPort } from './net.js';
import { consoleLogRuncmd, unitsProbeBootcmd, Vm } from './vm.js';

export const LAN_PREFIX = '10.213.0.';
export const lanMac = (i: number): string => `52:54:00:d5:00:${i.toString(16).padStart(2, '0')}`;

/** network-config v2: DHCP on the user-mode NIC (qemu's first default MAC), the static LAN address on the second. */
export function lanNetworkConfig(i: number): string {
  return [
    'version: 2',
    'ethernets:',
    '  wan:',
    "    match: {macaddress: '52:54:00:12:34:56'}",
    '    dhcp4: true',
    '  lan:',
    `    match: {macaddress: '${lanMac(i)}'}`,
    `    addresses: [${LAN_PREFIX}${i}/24]`,
    '',
  ].join('\n');
}

export interface LanOptions {
  /** The cluster key (base64 of 32 bytes); a new one by default. */
  key?: string;
  /** The API token written to every node. */
  token: string;
  /** More lines for /etc/pleaco/pleaco.env. */
  env?: Record<string, string>;
  /** The instance name prefix (node i is `<prefix>-i`). */
  name?: string;
  /** vCPUs per VM: 1 by default (three VMs share this machine's 2 cores; see docs/decisions.md). */
  cpus?: number;
  /** Guests may reboot (host updates). */
  reboot?: boolean;
}

/** User-data of LAN node i: the cluster file (key, no seeds), the token, pleaco.env, the units probe. */
export function lanUserData(i: number, o: LanOptions & { key: string }): string {
  const env = { PLEACO_NODE_ADDR: `${LAN_PREFIX}${i}`, ...o.env };
  return [
    '#cloud-config',
    'write_files:',
    '  - path: /etc/pleaco/cluster.yaml',
    "    permissions: '0600'",
    '    content: |',
    `      key: ${o.key}`,
    '  - path: /var/lib/pleaco/token',
    "    permissions: '0600'",
    `    content: ${o.token}`,
    '  - path: /etc/pleaco/pleaco.env',
    "    permissions: '0644'",
    '    content: |',
    ...Object.entries(env).map(([k, v]) => `      ${k}=${v}`),
    unitsProbeBootcmd(),
    consoleLogRuncmd(),
    '',
  ].join('\n');
}

/** Boots n VMs on one new LAN at once (node i is 10.213.0.i). On a failure the ones started are stopped. */
export async function bootLan(n: number, o: LanOptions): Promise<Vm[]> {
  const key = o.key ?? randomBytes(32).toString('base64');
  const group = `230.${randomInt(1, 255)}.${randomInt(1, 255)}.${randomInt(1, 255)}:${await reservedPort()}`;
  const vms: Vm[] = [];
  try {
    for (let i = 1; i <= n; i++) {
      vms.push(await Vm.boot({
        name: `${o.name ?? 'lan'}-${i}`,
        userData: lanUserData(i, { ...o, key }),
        networkConfig: lanNetworkConfig(i),
        mcast: { group, mac: lanMac(i) },
        cpus: o.cpus ?? 1,
        ...(o.reboot ? { reboot: true } : {}),
      }));
    }
  } catch (err) {
    await Promise.all(vms.map((v) => v.stop()));
    throw err;
  }
  return vms;
}
