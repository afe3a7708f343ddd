/**
 * A map of last-writer-wins registers. Each entry carries the HLC stamp of its write; a delete is a
 * tombstone (value null) so it wins over older writes that arrive later. Merge is commutative,
 * associative and idempotent: any order and duplication of entries converges to the same map.
 */
import { compareHlc, type Hlc } from './hlc.js';

export interface Entry {
  key: string;
  /** null marks a tombstone. */
  value: unknown;
  ts: Hlc;
}

/**
 * True when `a` replaces `b`. Stamps are unique per writer, so equal stamps mean the same write;
 * should two ever carry different values, the larger serialized value wins so merge stays order-free.
 */
export function wins(a: Entry, b: Entry): boolean {
  const c = compareHlc(a.ts, b.ts);
  if (c !== 0) return c > 0;
  return JSON.stringify(a.value) > JSON.stringify(b.value);
}

export class LwwMap {
  private readonly entries = new Map<string, Entry>();
  /** Keys whose entry is a tombstone, so reaping scans only those. */
  private readonly tombstones = new Set<string>();
  /**
   * No tombstone is older than this (wall ms; it may be lower than the oldest, never higher): a reap with nothing
   * old enough costs nothing instead of a scan of every tombstone (25 ms for 20,000 on a large heap).
   */
  private oldestTombstone = Infinity;

  /** Applies an entry; returns true when it changed the map (it was newer than what we held). */
  apply(e: Entry): boolean {
    const cur = this.entries.get(e.key);
    if (cur && !wins(e, cur)) return false;
    this.entries.set(e.key, e);
    if (e.value === null) {
      this.tombstones.add(e.key);
      this.oldestTombstone = Math.min(this.oldestTombstone, e.ts.wall);
    } else this.tombstones.delete(e.key);
    return true;
  }

  /** Forgets a key outright, without a tombstone (only for entries the store refuses to hold, see Store.open). */
  remove(key: string): void {
    this.entries.delete(key);
    this.tombstones.delete(key);
  }

  getEntry(key: string): Entry | undefined {
    return this.entries.get(key);
  }

  /** The live value, or undefined for missing and deleted keys. */
  get(key: string): unknown {
    const e = this.entries.get(key);
    return e && e.value !== null ? e.value : undefined;
  }

  /** Live entries whose key starts with prefix, sorted by key. */
  list(prefix = ''): Entry[] {
    const out: Entry[] = [];
    for (const e of this.entries.values()) if (e.value !== null && e.key.startsWith(prefix)) out.push(e);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Every entry including tombstones (for persistence and sync). */
  all(): IterableIterator<Entry> {
    return this.entries.values();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Drops tombstones older than `before` (wall ms), telling `onReap` about each. Returns how many were reaped. */
  reap(before: number, onReap?: (e: Entry) => void): number {
    if (this.oldestTombstone >= before) return 0;
    let n = 0;
    let oldest = Infinity;
    for (const k of this.tombstones) {
      const e = this.entries.get(k)!;
      if (e.ts.wall < before) {
        this.entries.delete(k);
        this.tombstones.delete(k);
        onReap?.(e);
        n++;
      } else oldest = Math.min(oldest, e.ts.wall);
    }
    this.oldestTombstone = oldest;
    return n;
  }
}
