/**
 * The one reconcile-loop primitive every subsystem loop uses (the runner, the build worker, the proxy, the advisory
 * database replicator, and the loops later issues add): a pass that reads state and acts on one adapter, run
 *  - when kicked (a state change, an event): after `debounceMs`, coalesced with any pass already due earlier;
 *  - every `tickMs`, as a safety net for whatever no event announced;
 *  - at a time the pass asks for (`wakeAt`: a backoff ending, a deadline);
 * never two passes at once: a kick during a pass runs one more pass right after it. A pass that throws is
 * reported to `onError`; the next kick, tick or wake runs it again (a loop without a tick that must retry asks for
 * it: `wakeAt` in its pass or its onError). Kicks before `start()` and after `stop()` are dropped: start() runs a
 * first pass unless told not to, so attach the listeners that kick, then start. `stop()` ends the timers and waits
 * for the pass in flight.
 */

export interface ReconcilerOptions {
  /** One pass. Its errors go to onError; the next kick, tick or wake runs it again. */
  pass: () => Promise<void>;
  /** Delay of a plain kick() (default 0). */
  debounceMs?: number;
  /** Period of the safety-net pass (default: none). */
  tickMs?: number;
  onError: (err: unknown) => void;
  now?: () => number;
}

export class Reconciler {
  private due: { at: number; timer: NodeJS.Timeout } | null = null;
  private inflight: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  private ticker: NodeJS.Timeout | null = null;
  /** Resolved after the next pass ends (start() waits for its first pass, not for the loop to be idle). */
  private afterPass: (() => void)[] = [];
  private readonly now: () => number;

  constructor(private readonly o: ReconcilerOptions) {
    this.now = o.now ?? Date.now;
  }

  get running(): boolean {
    return !this.stopped;
  }

  /**
   * Starts the tick (when configured) and, unless `firstPass` is false, runs a pass; resolves after it: after that
   * one pass, even when more are due by then (a pass that outlasts the tick, against an adapter that answers nothing
   * until its deadline, would otherwise keep start() waiting for as long as that lasts).
   */
  start(firstPass = true): Promise<void> {
    if (!this.stopped) return this.inflight ?? Promise.resolve();
    this.stopped = false;
    // Timers never keep a process alive on their own: its streams (the state watch, Docker events) do.
    if (this.o.tickMs) this.ticker = setInterval(() => this.kick(0), this.o.tickMs).unref();
    if (!firstPass) return Promise.resolve();
    const first = new Promise<void>((resolve) => this.afterPass.push(resolve));
    void this.run();
    return first;
  }

  /** Schedules a pass after `delayMs` (default debounceMs); a pass already due sooner keeps its time. */
  kick(delayMs = this.o.debounceMs ?? 0): void {
    this.wakeAt(this.now() + delayMs);
  }

  /** Schedules a pass at `at` (epoch ms) unless one is due sooner. */
  wakeAt(at: number): void {
    if (this.stopped || (this.due && this.due.at <= at)) return;
    if (this.due) clearTimeout(this.due.timer);
    const timer = setTimeout(() => {
      this.due = null;
      void this.run();
    }, Math.max(0, at - this.now())).unref();
    this.due = { at, timer };
  }

  /** Runs a pass now, or (during one) one more right after it; resolves when the loop is idle again. */
  run(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.inflight) {
      this.again = true;
      return this.inflight;
    }
    this.inflight = (async () => {
      do {
        this.again = false;
        try {
          await this.o.pass();
        } catch (err) {
          this.o.onError(err);
        }
        this.passEnded();
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.inflight = null;
      this.passEnded();
    });
    return this.inflight;
  }

  private passEnded(): void {
    const waiting = this.afterPass;
    this.afterPass = [];
    for (const resolve of waiting) resolve();
  }

  /** Ends the timers; resolves after the pass in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    if (this.due) clearTimeout(this.due.timer);
    this.ticker = null;
    this.due = null;
    await this.inflight?.catch(() => undefined);
  }
}
