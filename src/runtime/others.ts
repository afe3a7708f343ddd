/**
 * What a runner's plan reads of other nodes' records: the servers some proxy still drains (a container listed there
 * is not removed yet), and whether a lower slot of an app has not switched yet elsewhere — rollouts go one slot at a
 * time across the cluster, in slot order.
 */
import { liveMemberIds, type MembersView, type ProxyDraining, type SlotStatus, type StateReader } from '../model/index.js';
import type { PlanInput } from './plan-types.js';

const PROXY_DRAINING_RE = /^obs\/[^/]+\/proxy-draining$/;
/** A proxy-draining record older than this is ignored (its proxy may be gone). */
export const PROXY_DRAINING_FRESH_MS = 10_000;

/** Container ids listed by any fresh `obs/<node>/proxy-draining` record. */
export function drainingIds(state: StateReader, now: number, freshMs = PROXY_DRAINING_FRESH_MS): Set<string> {
  const out = new Set<string>();
  for (const { key, value } of state.list<ProxyDraining>('obs/')) {
    if (!PROXY_DRAINING_RE.test(key) || !value || !Array.isArray(value.ids)) continue;
    const at = Date.parse(value.at);
    if (!Number.isFinite(at) || Math.abs(now - at) > freshMs) continue;
    for (const id of value.ids) if (typeof id === 'string') out.add(id);
  }
  return out;
}

/**
 * The plan's `waitForOthers`: a slot of an app waits while a lower slot of it on another live node has not switched to
 * the release — its record runs another release, or still has a new container pending (`next`). (A switched slot
 * keeps its old container as fallback for a while; the next slot need not wait for that.)
 */
export function othersRollingOut(state: StateReader, view: MembersView | null, self: string): PlanInput['waitForOthers'] {
  if (!view) return undefined;
  const live = liveMemberIds(view.members);
  return (app, index, release) => {
    for (const { key, value: s } of state.list<SlotStatus>('obs/')) {
      const node = key.split('/')[1]!;
      if (node === self || !live.has(node) || !key.includes('/slots/') || s.app !== app) continue;
      const i = Number(s.slot.slice(s.slot.lastIndexOf('#') + 1));
      if (i < index && (s.release !== release || s.next)) return true;
    }
    return false;
  };
}
