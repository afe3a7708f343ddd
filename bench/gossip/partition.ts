/**
 * Network partitions between groups of namespace hosts: every host drops (iptables, chain PL-PART on INPUT)
 * packets whose source is a host of another group, so both directions are cut for UDP and TCP alike while
 * traffic inside a group flows. Healing flushes the chain on every host.
 */
import { mapLimit } from './proc.js';
import type { Host, NetnsLab } from './netns.js';

/** Splits `hosts` into consecutive groups of the given sizes, e.g. sizes [3, 2] for 5 hosts. */
export function splitHosts(hosts: Host[], sizes: number[]): Host[][] {
  if (sizes.reduce((a, b) => a + b, 0) !== hosts.length) throw new Error(`group sizes ${sizes.join('/')} do not add up to ${hosts.length} hosts`);
  const groups: Host[][] = [];
  let at = 0;
  for (const s of sizes) {
    groups.push(hosts.slice(at, at + s));
    at += s;
  }
  return groups;
}

/** Cuts all traffic between different groups (hosts in no group are not touched). Undo with `heal`. */
export async function partition(lab: NetnsLab, groups: Host[][]): Promise<void> {
  const jobs: Array<{ h: Host; others: Host[] }> = [];
  groups.forEach((g, gi) => {
    const others = groups.filter((_, oi) => oi !== gi).flat();
    for (const h of g) if (others.length) jobs.push({ h, others });
  });
  await mapLimit(jobs, 4, ({ h, others }) => lab.iptables(h, ['-A', 'PL-PART', '-s', others.map((o) => o.addr).join(','), '-j', 'DROP']));
}

/** Removes every partition rule on every host of the lab. */
export async function heal(lab: NetnsLab): Promise<void> {
  await mapLimit(lab.hosts, 4, (h) => lab.iptables(h, ['-F', 'PL-PART']));
}

/**
 * Partitions into `groups`, runs `during` (e.g. writes on both sides), keeps the split for at least `holdMs`
 * in total, then heals — also when `during` throws. Resolves with what `during` returned.
 */
export async function withPartition<T>(lab: NetnsLab, groups: Host[][], holdMs: number, during: () => Promise<T>): Promise<T> {
  const started = Date.now();
  await partition(lab, groups);
  try {
    const out = await during();
    const left = holdMs - (Date.now() - started);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
    return out;
  } finally {
    await heal(lab);
  }
}
