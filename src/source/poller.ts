/**
 * Polls each app's branch on its remote (for repositories without a webhook) and triggers a build when the head
 * moved. Pure apart from the functions it is given, so tests drive it with fakes and `tickOnce()`.
 * - An app is checked when its own interval (`intervalMs` of the app, else the poller's) has elapsed; 0 disables it.
 * - At most one check per app is in flight; a slow remote never delays the other apps.
 * - A failed check is logged (URL without credentials) and retried on the next tick; the loop never dies.
 * - A commit that was already triggered is not triggered again while state still shows the old one
 *   (the build may take longer than an interval, or fail).
 */
import { Reconciler } from '../link/index.js';
import { createLogger, type Logger } from '../log.js';
import { redactRepoUrl } from '../model/index.js';
import { scrub } from './internal/git.js';

export interface PolledApp {
  app: string;
  repo: string;
  branch: string;
  /** Per-app interval; 0 disables polling for this app. */
  intervalMs?: number;
  /** The commit pleaco last built or deployed for this app (null when none yet). */
  lastCommit: string | null;
}

export interface PollerOptions {
  /** Default interval; 0 disables the poller (start() does nothing). */
  intervalMs: number;
  list: () => PolledApp[] | Promise<PolledApp[]>;
  lsRemote: (url: string, branch: string) => Promise<string | null>;
  trigger: (app: string, commit: string) => Promise<void>;
  log?: Logger;
  /** Clock, for tests. */
  now?: () => number;
  /** Floor for the time between ticks (default 1 s). */
  minTickMs?: number;
}

interface Memory {
  repo: string;
  branch: string;
  lastCheck: number;
  /** Commit last handed to trigger() for this repo+branch. */
  triggered: string | null;
  failures: number;
}

export class Poller {
  private readonly opts: PollerOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly memory = new Map<string, Memory>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private wasStarted = false;
  private nextDelay: number;
  /** One pass starts the due checks (it does not wait for them: a slow remote never delays the others), then sleeps. */
  private readonly loop: Reconciler;

  constructor(opts: PollerOptions) {
    this.opts = opts;
    this.log = opts.log ?? createLogger({ subsystem: 'poller' });
    this.now = opts.now ?? Date.now;
    this.nextDelay = Math.max(opts.minTickMs ?? 1000, opts.intervalMs);
    this.loop = new Reconciler({
      pass: async () => {
        try {
          // The checks run on without the pass (each is tracked in inFlight and never rejects).
          void (await this.startChecks());
        } finally {
          this.loop.wakeAt(this.now() + this.nextDelay);
        }
      },
      now: this.now,
      onError: (err) => this.log.error('poller pass failed', { error: err }),
    });
  }

  start(): void {
    if (this.loop.running) return;
    if (!(this.opts.intervalMs > 0)) {
      this.log.info('polling disabled (interval 0)');
      return;
    }
    this.wasStarted = true;
    void this.loop.start();
  }

  /** Stops ticking; resolves when the checks in flight have settled (they trigger nothing after stop). */
  async stop(): Promise<void> {
    await this.loop.stop();
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Checks every due app that has no check in flight; resolves when those checks are done. Never rejects. */
  async tickOnce(): Promise<void> {
    await Promise.allSettled(await this.startChecks());
  }

  /** Lists the apps and starts a check of every due one that has none in flight; resolves with those checks. */
  private async startChecks(): Promise<Promise<void>[]> {
    let apps: PolledApp[];
    try {
      apps = await this.opts.list();
    } catch (err) {
      this.log.error('poller cannot list apps', { error: err instanceof Error ? err.message : String(err) });
      return [];
    }
    const now = this.now();
    const started: Promise<void>[] = [];
    const names = new Set<string>();
    let shortest = this.opts.intervalMs > 0 ? this.opts.intervalMs : Infinity;
    for (const a of apps) {
      names.add(a.app);
      const interval = a.intervalMs ?? this.opts.intervalMs;
      if (!(interval > 0)) continue;
      shortest = Math.min(shortest, interval);
      if (this.inFlight.has(a.app)) continue;
      let mem = this.memory.get(a.app);
      if (!mem || mem.repo !== a.repo || mem.branch !== a.branch) {
        mem = { repo: a.repo, branch: a.branch, lastCheck: -Infinity, triggered: null, failures: 0 };
        this.memory.set(a.app, mem);
      }
      if (mem.failures === 0 && now - mem.lastCheck < interval) continue;
      const p = this.check(a, mem)
        .catch((err: unknown) => this.log.error('poll check failed', { app: a.app, error: err instanceof Error ? err.message : String(err) }))
        .finally(() => this.inFlight.delete(a.app));
      this.inFlight.set(a.app, p);
      started.push(p);
    }
    for (const name of this.memory.keys()) if (!names.has(name) && !this.inFlight.has(name)) this.memory.delete(name);
    this.nextDelay = Math.max(this.opts.minTickMs ?? 1000, Number.isFinite(shortest) ? shortest : this.opts.intervalMs);
    return started;
  }

  private async check(a: PolledApp, mem: Memory): Promise<void> {
    let repo = '(unreadable)';
    try {
      repo = redactRepoUrl(a.repo);
      const head = await this.opts.lsRemote(a.repo, a.branch);
      mem.lastCheck = this.now();
      if (mem.failures > 0) this.log.info('poll recovered', { app: a.app, repo, afterFailures: mem.failures });
      mem.failures = 0;
      if (head === null) {
        this.log.debug('polled branch does not exist', { app: a.app, repo, branch: a.branch });
        return;
      }
      if (head === a.lastCommit || head === mem.triggered) return;
      if (this.stopped()) return;
      this.log.info('new commit found by polling', { app: a.app, repo, branch: a.branch, commit: head });
      await this.opts.trigger(a.app, head);
      mem.triggered = head;
    } catch (err) {
      mem.failures += 1;
      const error = scrub(err instanceof Error ? err.message : String(err), a.repo);
      this.log.warn('poll failed; retrying next tick', { app: a.app, repo, branch: a.branch, failures: mem.failures, error });
    }
  }

  /** True after stop() when the poller had been started (tickOnce() alone never counts as stopped). */
  private stopped(): boolean {
    return this.wasStarted && !this.loop.running;
  }
}
