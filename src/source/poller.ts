/**
 * Polls each app's branch on its remote (for repositories without a webhook) and triggers a build when the head
 * moved. Pure apart from the functions it is given, so tests drive it with fakes and `tickOnce()`.
 * - An app is checked when its own interval (`intervalMs` of the app, else the poller's) has elapsed; 0 disables it.
 * - At most one check per app is in flight; a slow remote never delays the other apps.
 * - A failed check is logged (URL without credentials) and retried with exponential backoff: after the n-th
 *   failure in a row the app is checked again after interval × 2^(n−1), at most MAX_BACKOFF_MS (15 min) or the
 *   interval when that is longer; a success resets it. A failed trigger (the agent) is retried on the next tick.
 * - The cluster's repository policy holds here as everywhere: a repository validateRepoUrl refuses (file://,
 *   paths, git:// and http:// unless local repositories are allowed) is never handed to git; it is logged once.
 * - A commit that was already triggered is not triggered again while state still shows the old one
 *   (the build may take longer than an interval, or fail).
 */
import { Reconciler } from '../link/index.js';
import { createLogger, type Logger } from '../log.js';
import { redactRepoUrl, validateRepoUrl } from '../model/index.js';
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

/** Longest wait between two checks of a repository that keeps failing (unless its interval is longer). */
export const MAX_BACKOFF_MS = 15 * 60_000;

export interface PollerOptions {
  /** Default interval; 0 disables the poller (start() does nothing). */
  intervalMs: number;
  /** PLEACO_ALLOW_LOCAL_REPOS: whether file://, local paths, git:// and http:// repositories may be polled (default false). */
  allowLocal?: boolean;
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
  /** When the remote last answered (-Infinity: check at the next tick). */
  lastCheck: number;
  /** While failing: when the backoff ends. */
  due: number;
  /** Commit last handed to trigger() for this repo+branch. */
  triggered: string | null;
  /** Failed checks of the remote in a row. */
  failures: number;
  /** The policy refused the repository (logged once; not asked again while it stays the same). */
  refused: boolean;
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
        mem = { repo: a.repo, branch: a.branch, lastCheck: -Infinity, due: -Infinity, triggered: null, failures: 0, refused: this.refusedByPolicy(a) };
        this.memory.set(a.app, mem);
      }
      if (mem.refused || (mem.failures > 0 ? now < mem.due : now - mem.lastCheck < interval)) continue;
      const p = this.check(a, mem, interval)
        .catch((err: unknown) => this.log.error('poll check failed', { app: a.app, error: err instanceof Error ? err.message : String(err) }))
        .finally(() => this.inFlight.delete(a.app));
      this.inFlight.set(a.app, p);
      started.push(p);
    }
    for (const name of this.memory.keys()) if (!names.has(name) && !this.inFlight.has(name)) this.memory.delete(name);
    this.nextDelay = Math.max(this.opts.minTickMs ?? 1000, Number.isFinite(shortest) ? shortest : this.opts.intervalMs);
    return started;
  }

  /** True (and logged, once per app and repository) when the cluster's policy does not allow polling this repository. */
  private refusedByPolicy(a: PolledApp): boolean {
    try {
      validateRepoUrl(a.repo, { allowLocal: this.opts.allowLocal === true });
      return false;
    } catch (err) {
      this.log.warn('repository not polled: the cluster does not allow it', { app: a.app, repo: redactRepoUrl(a.repo), error: err instanceof Error ? err.message : String(err) });
      return true;
    }
  }

  private async check(a: PolledApp, mem: Memory, interval: number): Promise<void> {
    let repo = '(unreadable)';
    let head: string | null;
    try {
      repo = redactRepoUrl(a.repo);
      head = await this.opts.lsRemote(a.repo, a.branch);
    } catch (err) {
      mem.failures += 1;
      const backoff = Math.min(interval * 2 ** Math.min(mem.failures - 1, 30), Math.max(MAX_BACKOFF_MS, interval));
      mem.due = this.now() + backoff;
      const error = scrub(err instanceof Error ? err.message : String(err), a.repo);
      this.log.warn('poll failed; backing off', { app: a.app, repo, branch: a.branch, failures: mem.failures, retryInMs: backoff, error });
      return;
    }
    mem.lastCheck = this.now();
    if (mem.failures > 0) this.log.info('poll recovered', { app: a.app, repo, afterFailures: mem.failures });
    mem.failures = 0;
    if (head === null) {
      this.log.debug('polled branch does not exist', { app: a.app, repo, branch: a.branch });
      return;
    }
    if (head === a.lastCommit || head === mem.triggered || this.stopped()) return;
    this.log.info('new commit found by polling', { app: a.app, repo, branch: a.branch, commit: head });
    try {
      await this.opts.trigger(a.app, head);
      mem.triggered = head;
    } catch (err) {
      mem.lastCheck = -Infinity; // the remote answered; only the local agent did not: ask again on the next tick
      this.log.warn('could not queue the polled commit; retrying next tick', { app: a.app, commit: head, error: err instanceof Error ? err.message : String(err) });
    }
  }

  /** True after stop() when the poller had been started (tickOnce() alone never counts as stopped). */
  private stopped(): boolean {
    return this.wasStarted && !this.loop.running;
  }
}
