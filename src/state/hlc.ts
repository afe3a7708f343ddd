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

/** Default bound on how far ahead of our wall clock a remote stamp may be (memberlist/CockroachDB-style max offset). */
export const DEFAULT_MAX_DRIFT_MS = 60_000;
/**
 * Largest logical counter this clock issues (CockroachDB's logical part is 32-bit too): past it the wall moves on
 * by 1 ms instead, so the counter stays far below MAX_COUNTER whatever counters peers send.
 */
export const MAX_LOCAL_COUNTER = 2 ** 31;

/** Remote stamps refused for being further ahead of our wall clock than maxDriftMs. */
export interface SkewReport {
  /** How many were refused (this process's life). */
  count: number;
  /** The furthest ahead of them (ms). */
  maxAheadMs: number;
  /** Node of the stamp furthest ahead so far. */
  node: string | null;
  maxDriftMs: number;
}

export class HybridClock {
  private last: Hlc;
  private readonly skewed = { count: 0, maxAheadMs: 0, node: null as string | null };

  constructor(
    readonly node: string,
    private readonly wallNow: () => number = Date.now,
    /** Largest remote drift accepted; stamps further ahead are refused (see admit) and never followed. */
    readonly maxDriftMs = DEFAULT_MAX_DRIFT_MS,
  ) {
    this.last = { wall: 0, counter: 0, node };
  }

  /** A new stamp for a local event: strictly after every stamp issued or observed before. */
  now(): Hlc {
    const pt = this.wallNow();
    if (pt > this.last.wall) this.last = { wall: pt, counter: 0, node: this.node };
    else this.last = carry(this.last.wall, this.last.counter + 1, this.node);
    return { ...this.last };
  }

  /** How far (ms) a stamp's wall is ahead of our wall clock now (negative: behind). */
  aheadOf(ts: Hlc): number {
    return ts.wall - this.wallNow();
  }

  /** True when a stamp is within maxDriftMs of our wall clock (or behind it): one we may merge and follow. */
  accepts(ts: Hlc): boolean {
    return this.aheadOf(ts) <= this.maxDriftMs;
  }

  /**
   * Takes a stamp seen from elsewhere (a remote write): within maxDriftMs of our wall clock, the clock
   * advances past it and true is returned; further ahead, it is refused (false), counted in `skew`, and the
   * clock does not move, so one bad stamp cannot drag every node's clock (and their later stamps) out of
   * every peer's range. Refusal depends on the receiver's clock, but only delays: the same stamp is accepted
   * (by the next anti-entropy exchange) once our clock is within the bound of it.
   */
  observe(remote: Hlc): boolean {
    const ahead = this.aheadOf(remote);
    if (ahead > this.maxDriftMs) {
      this.skewed.count++;
      if (ahead > this.skewed.maxAheadMs) {
        this.skewed.maxAheadMs = ahead;
        this.skewed.node = remote.node;
      }
      return false;
    }
    this.advance(remote);
    return true;
  }

  /**
   * Advances past our own persisted history on start (not counted as skew). A high-water mark further
   * ahead than maxDriftMs is not followed (false): it is a stamp from before the bound existed, or our
   * wall clock went back more than the bound; following it would make every later stamp unacceptable to peers.
   */
  restore(persisted: Hlc): boolean {
    if (!this.accepts(persisted)) return false;
    this.advance(persisted);
    return true;
  }

  private advance(remote: Hlc): void {
    const pt = this.wallNow();
    const wall = Math.max(this.last.wall, remote.wall, pt);
    let counter: number;
    if (wall === this.last.wall && wall === remote.wall) counter = Math.max(this.last.counter, remote.counter) + 1;
    else if (wall === this.last.wall) counter = this.last.counter + 1;
    else if (wall === remote.wall) counter = remote.counter + 1;
    else counter = 0;
    this.last = carry(wall, counter, this.node);
  }

  peek(): Hlc {
    return { ...this.last };
  }

  /** Remote stamps that were refused for being ahead of our wall clock by more than maxDriftMs. */
  get skew(): SkewReport {
    return { ...this.skewed, maxDriftMs: this.maxDriftMs };
  }
}

/** A stamp whose counter past MAX_LOCAL_COUNTER moves on to the next millisecond instead. */
function carry(wall: number, counter: number, node: string): Hlc {
  return counter > MAX_LOCAL_COUNTER ? { wall: wall + 1, counter: 0, node } : { wall, counter, node };
}
