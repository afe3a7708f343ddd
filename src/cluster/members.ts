/**
 * The member table: every known member (self included) by id, in a shuffled probe order that is
 * walked round-robin and reshuffled on each wrap, when dead members past the gossip-to-the-dead time
 * are reaped (memberlist's nodes/nodeMap, probe and resetNodes). Pure.
 */
import type { MemberView } from './messages.js';
import { randomInt, shuffle } from './rng.js';

/** A member as the table keeps it: the same fields as the MemberView snapshots handed out, updated in place. */
export type Member = MemberView;

export function viewOf(m: Member): MemberView {
  return { id: m.id, addr: m.addr, state: m.state, incarnation: m.incarnation, meta: { ...m.meta }, since: m.since };
}

export class MemberTable {
  private readonly byId = new Map<string, Member>();
  private order: Member[] = [];
  private probeIndex = 0;

  constructor(private readonly random: () => number) {}

  get(id: string): Member | undefined {
    return this.byId.get(id);
  }

  /** Members known, dead ones not yet reaped included (memberlist's estNumNodes). */
  get size(): number {
    return this.order.length;
  }

  all(): readonly Member[] {
    return this.order;
  }

  /** Adds a new member at a random place in the probe order, so joins do not line up behind each other. */
  add(m: Member): void {
    this.byId.set(m.id, m);
    const n = this.order.length;
    this.order.push(m);
    const offset = randomInt(this.random, n + 1);
    this.order[n] = this.order[offset]!;
    this.order[offset] = m;
  }

  /**
   * The next member to probe (skipping `selfId` and dead/left ones), or undefined when there is none.
   * On wrap-around, members dead or left for longer than `reapAfterMs` are removed (and passed to
   * `onReap`) and the order is reshuffled.
   */
  nextProbe(selfId: string, now: number, reapAfterMs: number, onReap: (m: Member) => void): Member | undefined {
    let checked = 0;
    while (checked <= this.order.length) {
      if (this.probeIndex >= this.order.length) {
        this.reset(now, reapAfterMs, onReap);
        this.probeIndex = 0;
        checked++;
        continue;
      }
      const m = this.order[this.probeIndex++]!;
      checked++;
      if (m.id === selfId || m.state === 'dead' || m.state === 'left') continue;
      return m;
    }
    return undefined;
  }

  /** Up to k distinct random members for which `accept` holds (memberlist's kRandomNodes, 3n tries). */
  randomMembers(k: number, accept: (m: Member) => boolean): Member[] {
    const out: Member[] = [];
    const n = this.order.length;
    if (k <= 0 || n === 0) return out;
    for (let i = 0; i < 3 * n && out.length < k; i++) {
      const m = this.order[randomInt(this.random, n)]!;
      if (!accept(m) || out.includes(m)) continue;
      out.push(m);
    }
    return out;
  }

  private reset(now: number, reapAfterMs: number, onReap: (m: Member) => void): void {
    const keep: Member[] = [];
    for (const m of this.order) {
      if ((m.state === 'dead' || m.state === 'left') && now - m.since > reapAfterMs) {
        this.byId.delete(m.id);
        onReap(m);
      } else keep.push(m);
    }
    this.order = shuffle(this.random, keep);
  }
}

