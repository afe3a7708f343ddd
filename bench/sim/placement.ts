/**
 * The placement scenario of `make sim`: apps × replicas slots placed over the simulated cluster by the real ranking
 * code (src/scale placeApp), then one node crashes and one joins. For each change: how many slots moved against how
 * many had to (those on the node that left, or placed on the node that joined), and the time until every up node
 * agrees on the placement. A node's placement is a pure function of the live members it sees (every simulated node
 * has the same capacity), so nodes agree on it exactly when their live-member sets are equal: that is what is
 * measured, on the real SWIM core.
 */
import { randomInt } from '../../src/cluster/index.js';
import { candidate, placeApp, type Candidate } from '../../src/scale/index.js';
import type { Host } from './network.js';
import type { SimCluster, Timing } from './scenarios.js';

export interface PlacementChange {
  moved: number;
  must: number;
  agree: Timing;
}

export interface PlacementResult {
  slots: number;
  /** Wall ms to place every slot once (one node's work for one view). */
  placeMs: number;
  crash: PlacementChange;
  join: PlacementChange;
}

function liveIds(h: Host): string[] {
  return h.node.members().filter((m) => m.state === 'alive' || m.state === 'suspect').map((m) => m.id);
}

/** Every up node sees exactly `expected` as live. */
function agreed(c: SimCluster, expected: Set<string>): boolean {
  for (const h of c.up()) {
    const ids = liveIds(h);
    if (ids.length !== expected.size || !ids.every((id) => expected.has(id))) return false;
  }
  return true;
}

function placeAll(apps: number, replicas: number, nodes: Candidate[]): (string | null)[][] {
  return Array.from({ length: apps }, (_, a) => placeApp(`app${a}`, replicas, nodes));
}

function diff(before: (string | null)[][], after: (string | null)[][], gone: string | null, added: string | null): { moved: number; must: number } {
  let moved = 0;
  let must = 0;
  before.forEach((p, a) => p.forEach((node, i) => {
    const now = after[a]![i];
    if (node !== now) moved++;
    if (node === gone || now === added) must++;
  }));
  return { moved, must };
}

export function placementScenario(c: SimCluster, apps = 1000, replicas = 10, limitMs = 120_000): PlacementResult {
  const ids = () => c.up().map((h) => h.id).sort();
  const t0 = performance.now();
  const before = placeAll(apps, replicas, ids().map((id) => candidate(id)));
  const placeMs = performance.now() - t0;

  // One node crashes: until no up node counts it live any more.
  const victim = c.up()[randomInt(c.random, c.up().length)]!;
  c.net.crash(victim);
  const start1 = c.net.now;
  const afterCrashIds = new Set(ids());
  const ok1 = c.net.run(start1 + limitMs, () => agreed(c, afterCrashIds), 250);
  const afterCrash = placeAll(apps, replicas, [...afterCrashIds].sort().map((id) => candidate(id)));
  const crash = { ...diff(before, afterCrash, victim.id, null), agree: c.timing(ok1 ? c.net.now - start1 : null) };

  // One node joins through a random member: until every up node (the newcomer too) sees the same members.
  const n = c.net.hosts.length;
  const fresh = c.net.add(`n${n}`, `127.${1 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}:7946`);
  const start2 = c.net.now;
  c.net.start(fresh, [c.pick(c.up().filter((h) => h !== fresh)).addr]);
  const afterJoinIds = new Set(ids());
  const ok2 = c.net.run(start2 + limitMs, () => agreed(c, afterJoinIds), 250);
  const afterJoin = placeAll(apps, replicas, [...afterJoinIds].sort().map((id) => candidate(id)));
  const join = { ...diff(afterCrash, afterJoin, null, fresh.id), agree: c.timing(ok2 ? c.net.now - start2 : null) };
  return { slots: apps * replicas, placeMs, crash, join };
}
