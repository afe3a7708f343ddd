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

/** Largest wall (ms) a stamp may carry: 2^47 ms is about year 6429; beyond that it is garbage, not skew. */
export const MAX_WALL = 2 ** 47;
/** Largest logical counter a stamp may carry. */
export const MAX_COUNTER = 2 ** 40;
/** Node ids as the agent makes them (hostname-derived), bounded so a stamp stays small. */
export const NODE_ID_RE = /^[A-Za-z0-9._-]{1,128}$/;

export function compareHlc(a: Hlc, b: Hlc): number {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1;
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1;
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
}

export function isHlc(v: unknown): v is Hlc {
  const h = v as Hlc;
  return !!h && typeof h === 'object' && Number.isSafeInteger(h.wall) && Number.isSafeInteger(h.counter) && typeof h.node === 'string';
}

/**
 * A stamp from another replica that we accept: integers in range (wall 0..MAX_WALL, counter
 * 0..MAX_COUNTER) and a well-formed node id. Deterministic (no local clock involved), so every
 * replica accepts or refuses the same stamps and LWW merge stays a pure function of the entries.
 */
export function isValidHlc(v: unknown): v is Hlc {
  if (!isHlc(v)) return false;
  return v.wall >= 0 && v.wall <= MAX_WALL && v.counter >= 0 && v.counter <= MAX_COUNTER && NODE_ID_RE.test(v.node);
}

/** Remote stamps seen ahead of our wall clock by more than maxDriftMs. */
export interface SkewReport {
  count: number;
  maxAheadMs: number;
  /** Node of the stamp furthest ahead so far. */
  node: string | null;
}

export class HybridClock {
  private last: Hlc;
  private readonly skewed: SkewReport = { count: 0, maxAheadMs: 0, node: null };

  constructor(
    readonly node: string,
    private readonly wallNow: () => number = Date.now,
    /** Largest remote drift taken as normal; stamps further ahead are still merged but counted (see `skew`). */
    readonly maxDriftMs = 60_000,
  ) {
    this.last = { wall: 0, counter: 0, node };
  }

  /** A new stamp for a local event: strictly after every stamp issued or observed before. */
  now(): Hlc {
    const pt = this.wallNow();
    if (pt > this.last.wall) this.last = { wall: pt, counter: 0, node: this.node };
    else this.last = { wall: this.last.wall, counter: this.last.counter + 1, node: this.node };
    return { ...this.last };
  }

  /**
   * Advances the clock past a stamp seen from elsewhere (a remote write). A stamp further ahead of our
   * wall clock than maxDriftMs is merged all the same (refusing would depend on each receiver's clock,
   * so replicas would diverge) but counted in `skew`. Returns how far ahead of our wall clock it was.
   */
  observe(remote: Hlc): number {
    const ahead = remote.wall - this.wallNow();
    if (ahead > this.maxDriftMs) {
      this.skewed.count++;
      if (ahead > this.skewed.maxAheadMs) {
        this.skewed.maxAheadMs = ahead;
        this.skewed.node = remote.node;
      }
    }
    this.advance(remote);
    return ahead;
  }

  /** Advances past our own persisted history on start (not counted as skew). */
  restore(persisted: Hlc): void {
    this.advance(persisted);
  }

  private advance(remote: Hlc): void {
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

  /** Remote stamps that were ahead of our wall clock by more than maxDriftMs. */
  get skew(): SkewReport {
    return { ...this.skewed };
  }
}
