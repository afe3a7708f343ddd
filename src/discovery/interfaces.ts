/**
 * Which of this host's network interfaces a node announces itself on (and, bound to every address, advertises the
 * first of): those with an IPv4 address, not loopback, not container plumbing. Read from the OS each time: interfaces
 * come and go (DHCP late at boot, hot-plug).
 */
import os from 'node:os';

export interface MdnsInterface {
  name: string;
  address: string;
}

/** Container plumbing: Docker's bridges (docker0, br-<12 hex> of user networks), veth pairs, CNI, flannel, calico. */
const PLUMBING = /^(docker|br-[0-9a-f]{12}$|veth|cni|flannel|cali)/;

/** Non-internal IPv4 addresses, the first of each interface, without container plumbing and loopback. */
export function eligibleInterfaces(ifs: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()): MdnsInterface[] {
  const out: MdnsInterface[] = [];
  for (const [name, addrs] of Object.entries(ifs)) {
    if (!addrs || PLUMBING.test(name)) continue;
    const v4 = addrs.find((a) => a.family === 'IPv4' && !a.internal);
    if (v4) out.push({ name, address: v4.address });
  }
  return out;
}
