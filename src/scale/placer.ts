/**
 * One node's answer to "which slots do I run?" for one reconcile pass: the placement of every app over the
 * schedulable nodes (computed once per app per pass), plus the hand-over rule: a slot this node runs and no longer
 * wins keeps running until its new node reports it running, so a slot that moves (a node joined, or this one was
 * drained) is started elsewhere before it stops here. While two nodes' views differ a slot may briefly run twice;
 * it never stays at zero because of a move.
 */
import { keys, type ClusterMember, type SlotStatus, type StateReader } from '../model/index.js';
import type { Candidate } from './hrw.js';
import { schedulable } from './nodes.js';
import { placeApp, type AppPlacement } from './place.js';

/** Decides whether slot `app#index` (of `replicas`) runs on this node. */
export type Placement = (app: string, index: number, replicas: number) => boolean;

export interface PlacementPass {
  readonly wins: Placement;
  /** The node slot `app#index` is placed on (null: no schedulable node). */
  nodeOf(app: string, index: number, replicas: number): string | null;
  readonly nodes: readonly Candidate[];
}

/** The placement for one pass over `state` as `self` sees the members. */
export function placementPass(self: string, state: StateReader, members: readonly ClusterMember[]): PlacementPass {
  const nodes = schedulable(state, members);
  const cache = new Map<string, AppPlacement>();
  const nodeOf = (app: string, index: number, replicas: number): string | null => {
    const id = `${app}\u0000${replicas}`;
    let p = cache.get(id);
    if (!p) cache.set(id, (p = placeApp(app, replicas, nodes)));
    return p[index] ?? null;
  };
  const wins: Placement = (app, index, replicas) => {
    const node = nodeOf(app, index, replicas);
    if (node === self) return true;
    // Hand-over: keep what runs here until the slot's new node runs it (or no node can).
    const mine = state.get<SlotStatus>(keys.slot(self, app, index));
    if (!mine || mine.state !== 'running') return false;
    if (node === null) return true;
    return state.get<SlotStatus>(keys.slot(node, app, index))?.state !== 'running';
  };
  return { wins, nodeOf, nodes };
}
