/**
 * memberlist's TransmitLimitedQueue: broadcasts waiting to be piggybacked on outgoing packets. Each
 * is sent at most retransmitMult * ceil(log10(n+1)) times; the least-sent go first; a broadcast with
 * the same name replaces a queued one (a newer state of the same member, a newer user payload).
 * Pure data structure.
 */
import { retransmitLimit } from './config.js';
import type { PacketPart, UserMsg } from './messages.js';

interface Entry {
  name: string;
  msg: PacketPart;
  size: number;
  transmits: number;
  /** False once sent its last time or replaced. A slot in tier t holds a queued entry iff live && transmits === t. */
  live: boolean;
}

/** Give up filling a packet after this many queued messages that did not fit (the packet is about full). */
const MAX_SKIPS = 16;

export class TransmitQueue {
  /**
   * tiers[i] holds the broadcasts sent i times, newest last (taken first, as memberlist's btree
   * orders a tier newest first). Slots whose entry moved on or was replaced stay until compaction.
   */
  private readonly tiers: Entry[][] = [];
  private readonly byName = new Map<string, Entry>();
  private slots = 0;

  constructor(
    private readonly retransmitMult: number,
    /** Hard cap on queued broadcasts (Serf's queue depth): the most-sent, oldest are dropped first. */
    private readonly maxDepth: (numNodes: number) => number = (n) => Math.max(4096, 2 * n),
  ) {}

  /** Number of queued broadcasts. */
  get length(): number {
    return this.byName.size;
  }

  /** Whether a broadcast with this name is still queued. */
  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Queues `msg` (whose encoded size is `size`) under `name`, replacing any queued broadcast of that name. */
  queue(name: string, msg: PacketPart, size: number, numNodes: number): void {
    const old = this.byName.get(name);
    if (old) old.live = false;
    const e: Entry = { name, msg, size, transmits: 0, live: true };
    this.byName.set(name, e);
    this.push(e);
    const cap = this.maxDepth(numNodes);
    for (let t = this.tiers.length - 1; t >= 0 && this.byName.size > cap; t--) {
      for (const x of this.tiers[t]!) {
        if (this.byName.size <= cap) break;
        if (!valid(x, t)) continue;
        x.live = false;
        this.byName.delete(x.name);
      }
    }
  }

  /**
   * Takes broadcasts that fit in `limit` bytes, counting `overhead` bytes per message, least-sent
   * first, and counts one transmission for each. Returns the messages and the bytes used.
   */
  take(limit: number, overhead: number, numNodes: number): { msgs: PacketPart[]; bytes: number } {
    const msgs: PacketPart[] = [];
    if (this.byName.size === 0) return { msgs, bytes: 0 };
    const max = retransmitLimit(this.retransmitMult, numNodes);
    const bumped: Entry[] = [];
    let used = 0;
    let skips = 0;
    outer: for (let t = 0; t < this.tiers.length; t++) {
      const items = this.tiers[t]!;
      for (let i = items.length - 1; i >= 0; i--) {
        const e = items[i]!;
        if (!valid(e, t)) {
          if (i === items.length - 1) items.pop(), this.slots--;
          continue;
        }
        const free = limit - used - overhead;
        if (free <= 0 || skips >= MAX_SKIPS) break outer;
        if (e.size > free) {
          skips++;
          continue;
        }
        used += overhead + e.size;
        msgs.push(e.msg);
        e.live = false;
        if (i === items.length - 1) items.pop(), this.slots--;
        if (e.transmits + 1 >= max) this.byName.delete(e.name);
        else bumped.push(e);
      }
    }
    // Re-tier after the walk so a message is not picked twice in one packet.
    for (const e of bumped) {
      e.transmits++;
      e.live = true;
      this.push(e);
    }
    if (this.slots > 2 * this.byName.size + 256) this.compact();
    return { msgs, bytes: used };
  }

  private push(e: Entry): void {
    while (this.tiers.length <= e.transmits) this.tiers.push([]);
    this.tiers[e.transmits]!.push(e);
    this.slots++;
  }

  private compact(): void {
    this.slots = 0;
    this.tiers.forEach((items, t) => {
      const keep = items.filter((e) => valid(e, t));
      this.tiers[t] = keep;
      this.slots += keep.length;
    });
  }
}

/** Whether a slot in tier t still holds a queued entry (not replaced, sent out, or moved to a later tier). */
function valid(e: Entry, t: number): boolean {
  return e.live && e.transmits === t;
}

/**
 * Ordering and de-duplication of user broadcasts. Each carries a Lamport time and its origin; per key
 * the greatest (ltime, origin) wins, and a message is delivered only if it beats what this node has
 * seen for its key, so each (key, version) is delivered once per node and an older payload that
 * arrives late never replaces a newer one. Seen versions are forgotten after `ttlMs` or beyond `max`
 * keys (oldest first).
 */
export class UserLog {
  private clock = 0;
  private readonly seen = new Map<string, { ltime: number; origin: string; at: number }>();
  /** The latest accepted message of the most recently updated keys, replayed in push-pull (Serf's event buffer). */
  private readonly recentByKey = new Map<string, UserMsg>();

  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
    private readonly replayMax: number,
  ) {}

  /** A Lamport time for a local broadcast, greater than any seen so far. */
  stamp(): number {
    return ++this.clock;
  }

  /** Records `m` if it is newer than what was seen for its key; returns whether it was. */
  accept(m: UserMsg, now: number): boolean {
    const { key, ltime, origin } = m;
    if (ltime > this.clock) this.clock = ltime;
    const s = this.seen.get(key);
    if (s && (ltime < s.ltime || (ltime === s.ltime && origin <= s.origin))) return false;
    if (s) this.seen.delete(key);
    this.seen.set(key, { ltime, origin, at: now });
    for (const [k, v] of this.seen) {
      if (this.seen.size <= this.max && now - v.at <= this.ttlMs) break;
      this.seen.delete(k);
    }
    this.recentByKey.delete(key);
    if (this.replayMax > 0) this.recentByKey.set(key, m);
    for (const k of this.recentByKey.keys()) {
      if (this.recentByKey.size <= this.replayMax) break;
      this.recentByKey.delete(k);
    }
    return true;
  }

  /** The recent messages to replay to a push-pull peer. */
  recent(): UserMsg[] {
    return [...this.recentByKey.values()];
  }
}
