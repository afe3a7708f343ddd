/**
 * Bounded open-loop load: `rps` requests a second (each one `request()`, not waiting for the one before), until
 * stopped or until `maxRequests` or `maxMs` is reached, whichever comes first. Records per-request outcome and
 * latency so tests and benches can read errors, counts and percentiles per second.
 */

export interface LoadRecord {
  /** ms since the load started, when the request was sent. */
  at: number;
  ms: number;
  ok: boolean;
  error?: string;
}

export interface Load {
  readonly records: LoadRecord[];
  /** Changes the rate from now on. */
  setRate(rps: number): void;
  /** Stops sending; resolves once the requests in flight are answered. */
  stop(): Promise<LoadRecord[]>;
}

export function startLoad(request: () => Promise<boolean>, o: { rps: number; maxRequests: number; maxMs: number }): Load {
  const records: LoadRecord[] = [];
  const inflight = new Set<Promise<void>>();
  const t0 = performance.now();
  let rate = o.rps;
  let sent = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const fire = (): void => {
    const at = performance.now() - t0;
    sent++;
    const p: Promise<void> = request().then(
      (ok) => void records.push({ at, ms: performance.now() - t0 - at, ok, ...(ok ? {} : { error: 'bad status' }) }),
      (err: unknown) => void records.push({ at, ms: performance.now() - t0 - at, ok: false, error: err instanceof Error ? err.message : String(err) }),
    ).finally(() => inflight.delete(p));
    inflight.add(p);
  };
  // One tick every 10 ms sends what the rate owes since the start of the current rate.
  let owedFrom = performance.now();
  let sentAtRate = 0;
  const tick = (): void => {
    if (stopped) return;
    const elapsed = performance.now() - t0;
    if (sent >= o.maxRequests || elapsed >= o.maxMs) {
      stopped = true;
      return;
    }
    const due = Math.floor(((performance.now() - owedFrom) / 1000) * rate);
    while (sentAtRate < due && sent < o.maxRequests) {
      fire();
      sentAtRate++;
    }
    timer = setTimeout(tick, 10);
  };
  tick();
  return {
    records,
    setRate(rps: number) {
      rate = rps;
      owedFrom = performance.now();
      sentAtRate = 0;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await Promise.allSettled([...inflight]);
      return records;
    },
  };
}

/** The p-th percentile (0..100) of latencies, ms; null without records. */
export function percentile(records: readonly LoadRecord[], p: number): number | null {
  if (records.length === 0) return null;
  const xs = records.map((r) => r.ms).sort((a, b) => a - b);
  return xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
}
