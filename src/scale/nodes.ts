/**
 * Which nodes may win slots, as every node computes it from the same facts: a member that is alive or suspected (a
 * suspected node keeps its slots until the suspicion timeout declares it dead: a slow node must not make its slots
 * move), not drained (`nodes/<node>`), whose runner reports a working Docker Engine (`obs/<node>/node`). Its
 * weight is its capacity: the geometric mean of its CPUs and its memory in GiB, so a node with twice both wins twice
 * the slots, and equal machines weigh the same.
 */
import { isLiveMember, keys, type ClusterMember, type NodeSpec, type NodeStatus, type StateReader } from '../model/index.js';
import { candidate, winner, type Candidate } from './hrw.js';

const GIB = 1024 ** 3;

/** A node's weight from what its runner reports (declared capacity wins over detected: see config). */
export function capacityWeight(status: Pick<NodeStatus, 'cpus' | 'memoryBytes'>): number {
  const cpus = Number.isFinite(status.cpus) && status.cpus > 0 ? status.cpus : 1;
  const mem = Number.isFinite(status.memoryBytes) && status.memoryBytes > 0 ? status.memoryBytes / GIB : 1;
  return Math.sqrt(Math.min(cpus, 4096) * Math.min(mem, 1 << 20));
}

export const isLive = isLiveMember;

/** Why a member wins no slots (null: it is schedulable). */
export function unschedulable(state: StateReader, m: ClusterMember): string | null {
  if (!isLive(m)) return m.state;
  if (state.get<NodeSpec>(keys.nodeSpec(m.id))?.drain === true) return 'drained';
  const status = state.get<NodeStatus>(keys.node(m.id));
  if (!status) return 'no status from its runner yet';
  if (status.docker?.ok !== true) return 'its Docker Engine is not answering';
  return null;
}

/** The schedulable members as rendezvous candidates, sorted by id (the same list on every node). */
export function schedulable(state: StateReader, members: readonly ClusterMember[]): Candidate[] {
  const out: Candidate[] = [];
  for (const m of members) {
    if (unschedulable(state, m) !== null) continue;
    out.push(candidate(m.id, capacityWeight(state.get<NodeStatus>(keys.node(m.id))!)));
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The owner of a decision about `key` (an app's release numbers, builds, replica count): HRW over the live members. */
export function ownerOf(key: string, members: readonly ClusterMember[]): string | null {
  return winner(key, members.filter(isLive).map((m) => candidate(m.id)));
}
