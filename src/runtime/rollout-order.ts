/**
 * Rollouts go one slot at a time across the cluster, in slot order (the plan's `waitForOthers`): a slot of an app
 * waits while a lower slot of it on another live node has not finished moving to the release — its record runs
 * another release, or still has a new container pending (`next`) or an old one kept as its fallback.
 */
import type { MembersView, SlotStatus, StateReader } from '../model/index.js';
import type { PlanInput } from './plan-types.js';

export function othersRollingOut(state: StateReader, view: MembersView | null, self: string): PlanInput['waitForOthers'] {
  if (!view) return undefined;
  const live = new Set(view.members.filter((m) => m.state === 'alive' || m.state === 'suspect').map((m) => m.id));
  return (app, index, release) => {
    for (const { key, value: s } of state.list<SlotStatus>('obs/')) {
      const node = key.split('/')[1]!;
      if (node === self || !live.has(node) || !key.includes('/slots/') || s.app !== app) continue;
      const i = Number(s.slot.slice(s.slot.lastIndexOf('#') + 1));
      if (i < index && (s.release !== release || s.next || s.fallback)) return true;
    }
    return false;
  };
}
