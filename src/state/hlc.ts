/**
 * Hybrid logical clock (Kulkarni et al.): timestamps that follow wall time, never go backwards, and
 * order causally related events even across skewed clocks. Ties break on node id, so every replica
 * orders any two stamps the same way.
 */
export interface Hlc {
  wall: number;
  counter: number;
  node: string;
}

export function compareHlc(a: Hlc, b: Hlc): number {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1;
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1;
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
}

export function isHlc(v: unknown): v is Hlc {
  const h = v as Hlc;
  return !!h && typeof h === 'object' && Number.isSafeInteger(h.wall) && Number.isSafeInteger(h.counter) && typeof h.node === 'string';
}

export class HybridClock {
  private last: Hlc;

  constructor(
    readonly node: string,
    private readonly wallNow: () => number = Date.now,
    /** Largest remote drift accepted; stamps further ahead are still merged but reported. */
    readonly maxDriftMs = 60_000,
  ) {
    this.last = { wall: 0, counter: 0, node };
  }

  /** A new stamp for a local event. */
  now(): Hlc {
    const pt = this.wallNow();
    if (pt > this.last.wall) this.last = { wall: pt, counter: 0, node: this.node };
    else this.last = { wall: this.last.wall, counter: this.last.counter + 1, node: this.node };
    return { ...this.last };
  }

  /** Advances the clock past a stamp seen from elsewhere (a remote write, or our own persisted history). */
  observe(remote: Hlc): void {
    const pt = this.wallNow();
    const wall = Math.max(this.last.wall, remote.wall, pt);
    let counter: number;
    if (wall === this.last.wall && wall === remote.wall) counter = Math.max(this.last.counter, remote.counter) + 1;
    else if (wall === this.last.wall) counter = this.last.counter + 1;
    else if (wall === remote.wall) counter = remote.counter + 1;
    else counter = 0;
    this.last = { wall, counter, node: this.node };
  }

  peek(): Hlc {
    return { ...this.last };
  }
}
