/**
 * Placement of one app's replica slots `app#0..n-1` over the schedulable nodes, by rendezvous hashing with a spread
 * rule: no node holds more than ceil(n / nodes) slots of the app, so replicas spread across nodes first. Among the
 * pairs (slot, node), the highest score is assigned first while the node has room — the one stable assignment for
 * these scores, so every node that sees the same nodes computes the same placement, and a node that comes or goes
 * moves the slots it wins or held, plus rarely one displaced by the spread rule.
 */
import { hashName, topK, type Candidate } from './hrw.js';

/** Slot index → node id (null: no node can run it). */
export type AppPlacement = (string | null)[];

export function placeApp(app: string, replicas: number, nodes: readonly Candidate[]): AppPlacement {
  const out: AppPlacement = new Array<string | null>(replicas).fill(null);
  if (replicas <= 0 || nodes.length === 0) return out;
  const cap = Math.ceil(replicas / nodes.length);
  // A slot needs only its k best nodes: at most replicas - 1 others can fill nodes before it is placed.
  const k = Math.min(nodes.length, replicas);
  const pairs: { slot: number; id: string; score: number }[] = [];
  for (let i = 0; i < replicas; i++) {
    for (const c of topK(hashName(`${app}#${i}`), nodes, k)) pairs.push({ slot: i, id: c.id, score: c.score });
  }
  pairs.sort((x, y) => y.score - x.score || (x.id < y.id ? -1 : x.id > y.id ? 1 : x.slot - y.slot));
  const load = new Map<string, number>();
  let placed = 0;
  for (const p of pairs) {
    if (out[p.slot] !== null) continue;
    const l = load.get(p.id) ?? 0;
    if (l >= cap) continue;
    out[p.slot] = p.id;
    load.set(p.id, l + 1);
    if (++placed === replicas) break;
  }
  return out;
}
