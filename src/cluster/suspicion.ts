/**
 * Lifeguard's suspicion timer, as memberlist's suspicion.go: it starts at `max` and is driven toward
 * `min` as k independent peers confirm the suspicion: timeout = max(min, max - (max-min) *
 * log(c+1)/log(k+1)) after c confirmations. Pure: the caller supplies `now` and polls `deadline`.
 */
export class Suspicion {
  /** Independent confirmations seen (not counting the originator). */
  private confirmations = 0;
  private readonly seen = new Set<string>();
  private _deadline: number;

  /**
   * @param from the node whose suspicion started this timer (never counted as a confirmation)
   * @param k confirmations that drive the timeout to `min` (0: no confirmations expected)
   */
  constructor(
    from: string,
    readonly k: number,
    readonly min: number,
    readonly max: number,
    readonly start: number,
  ) {
    this.seen.add(from);
    // No confirmation can come (a cluster of two): waiting for the maximum would only delay the failover.
    this._deadline = start + (k < 1 ? min : max);
  }

  /** When the member is to be declared dead, absent refutation. */
  get deadline(): number {
    return this._deadline;
  }

  get confirmed(): number {
    return this.confirmations;
  }

  /**
   * Records that `from` also suspects the member. Returns true when this was new information (worth
   * re-gossiping), false for a duplicate or once k confirmations have been seen.
   */
  confirm(from: string): boolean {
    if (this.confirmations >= this.k) return false;
    if (this.seen.has(from)) return false;
    this.seen.add(from);
    this.confirmations++;
    this._deadline = this.start + remainingSuspicionTime(this.confirmations, this.k, this.min, this.max);
    return true;
  }
}

/** The total suspicion time after n of k expected confirmations (memberlist's formula, ms resolution). */
export function remainingSuspicionTime(n: number, k: number, min: number, max: number): number {
  const frac = Math.log(n + 1) / Math.log(k + 1);
  const raw = Math.floor(max - frac * (max - min));
  return Math.max(min, raw);
}

/**
 * The running suspicions by member id, with their deadlines in a lazy min-heap so that the earliest
 * deadline is cheap to find even with hundreds of suspects (a heap entry is stale once its suspicion
 * was removed or its deadline moved).
 */
export class SuspicionTimers {
  private readonly byId = new Map<string, Suspicion>();
  private readonly heap: { at: number; id: string; s: Suspicion }[] = [];

  get(id: string): Suspicion | undefined {
    return this.byId.get(id);
  }

  set(id: string, s: Suspicion): void {
    this.byId.set(id, s);
    this.schedule(id, s);
  }

  delete(id: string): void {
    this.byId.delete(id);
  }

  /**
   * A suspicion that has run for at least its minimum timeout without reaching it (so it lacks
   * confirmations), moved to the back so that the next call picks another; undefined when none.
   */
  takeOverdue(now: number): string | undefined {
    for (const [id, s] of this.byId) {
      if (now - s.start < s.min) continue;
      this.byId.delete(id);
      this.byId.set(id, s);
      return id;
    }
    return undefined;
  }

  /** Re-files a suspicion whose deadline moved (after a confirmation). */
  schedule(id: string, s: Suspicion): void {
    const h = this.heap;
    h.push({ at: s.deadline, id, s });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= h[i]!.at) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  /** The earliest live deadline (Infinity when none). */
  next(): number {
    this.dropStale();
    return this.heap[0]?.at ?? Infinity;
  }

  /** Removes and returns the suspicions whose deadline is <= now. */
  expire(now: number): { id: string; s: Suspicion }[] {
    const out: { id: string; s: Suspicion }[] = [];
    for (;;) {
      this.dropStale();
      const top = this.heap[0];
      if (!top || top.at > now) return out;
      this.pop();
      this.byId.delete(top.id);
      out.push({ id: top.id, s: top.s });
    }
  }

  private dropStale(): void {
    for (;;) {
      const top = this.heap[0];
      if (!top || (this.byId.get(top.id) === top.s && top.s.deadline === top.at)) return;
      this.pop();
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l]!.at < h[m]!.at) m = l;
      if (r < h.length && h[r]!.at < h[m]!.at) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
