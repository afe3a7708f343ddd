/**
 * BuildWorker: works the build queue in state (builds/<app>/<id>, status 'queued'), oldest first, at most
 * one running build per app and `concurrency` (default 1) in all. A build is claimed through the agent
 * (409 → someone else has it; a claim is idempotent for this node, so a retried claim whose first answer
 * was lost still hands the build over) and then run by the pipeline; its record always ends succeeded,
 * failed (with error {code, message}) or superseded. The worker never dies of a failed build, a down Engine
 * or an unreachable agent: it logs, records what it can, and picks up again on the next change or tick.
 * No build stays 'running' on this node without being worked on: the final record is written until it
 * succeeds (or the worker stops), and builds 'running' here that this process is not running (a claim
 * whose answer never arrived) are recovered at start, after every re-sync with the agent and every 30 s
 * (recovery.ts). Three loops, each a Reconciler: the queue, the recovery, and the image collection (images.ts: old
 * releases' and failed builds' images, deleted apps' images and mirrors; before each build, the disk watch).
 */
import type { Config } from '../config/index.js';
import { PleacoError, toPleacoError } from '../errors.js';
import { Reconciler, type AgentLink, type StateChange, type StateView } from '../link/index.js';
import type { Logger } from '../log.js';
import { configOf, keys, type AppSpec, type Build } from '../model/index.js';
import { diskFull, lowDisks, type ContainerEngine } from '../runtime/index.js';
import type { PolledApp } from '../source/index.js';
import type { Builder } from './builder.js';
import { appsWithImages, removeAppImages, removeLeftoverContainers } from './cleanup.js';
import { collectImages } from './images.js';
import { LogShipper } from './logship.js';
import { runPipeline, type GitMirrorLike, type PipelineDeps } from './pipeline.js';
import { pollTargets } from './poll.js';
import { recoverBuilds, type WorkerBuild } from './recovery.js';

/** What the builder asks of its agent (AgentLink satisfies it). */
export type BuilderLink = Pick<AgentLink, 'putBuild' | 'claimBuild' | 'appendBuildLog' | 'createRelease' | 'storeScan' | 'queueDeploy' | 'setAutoscale'>;

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The state a builder's view holds: the queue, the apps and their config, releases, scan policies. */
export const BUILDER_PREFIXES = ['apps/', 'builds/', 'env/', 'current/', 'releases/', 'scan/'];

/** `advisories`, `layers` and `version` reach the pipeline's scan stage as they are. */
export interface BuildWorkerDeps extends Pick<PipelineDeps, 'advisories' | 'layers' | 'version'> {
  view: StateView;
  link: BuilderLink;
  git: GitMirrorLike;
  builder: Builder;
  engine: ContainerEngine;
  nodeId: string;
  config: Config;
  log: Logger;
  /** Builds at once on this node (default 1: a build is CPU-bound and nodes are small). */
  concurrency?: number;
  /** Deadline of one image build (default 30 min); tests have config.build.testTimeoutMs. */
  buildTimeoutMs?: number;
  /** Safety-net rescan interval (default 5 s); changes in state trigger a scan at once. */
  tickMs?: number;
  /** Interval of the recovery of builds 'running' on this node that nobody runs (default 30 s; also after each sync). */
  recoverMs?: number;
  /**
   * Every minute and after each build, remove the images this node's builder made that no kept release or build
   * needs (images.ts), and those of apps that are not in state (deleted while the builder was down, or still in use
   * when deleted). Default true; tests that share an Engine turn it off.
   */
  janitor?: boolean;
}

interface Running {
  id: string;
  ac: AbortController;
  done: Promise<void>;
}

export class BuildWorker {
  private readonly running = new Map<string, Running>();
  private readonly refused = new Set<string>();
  private readonly deleted = new Set<string>();
  private stopping = false;
  /** Aborted by stop(): cuts short the waits between retries of a build's final record. */
  private readonly stopAc = new AbortController();
  /** Keys of builds whose claim is in flight: 'running' here already, but not yet in `running`. */
  private readonly claiming = new Set<string>();
  private claimPauseUntil = 0;
  /** Image removals in progress: no build starts meanwhile (see appDeleted). */
  private cleaning = 0;
  private readonly queue: Reconciler;
  private readonly recovery: Reconciler;
  private readonly janitorLoop: Reconciler;
  private readonly onChange = (e: StateChange): void => this.changed(e);
  private readonly onSynced = (): void => {
    void this.recovery.run();
    this.kick();
  };

  constructor(private readonly d: BuildWorkerDeps) {
    const onError = (what: string) => (err: unknown) => d.log.warn(what, { error: err });
    this.queue = new Reconciler({ pass: () => this.pump(), tickMs: d.tickMs ?? 5000, onError: onError('build queue pass failed') });
    this.recovery = new Reconciler({
      pass: () => this.recoverOrphans('the builder lost track of this build while it was running; deploy again', 'a lost claim or result'),
      tickMs: d.recoverMs ?? 30_000,
      onError: onError('could not recover builds'),
    });
    this.janitorLoop = new Reconciler({ pass: () => this.janitor(), tickMs: 60_000, onError: onError('janitor pass failed') });
  }

  /** Call after the view's first sync: recovers from a previous life, then starts taking builds. */
  async start(): Promise<void> {
    await this.recoverOrphans('the builder restarted while this build was running; deploy again', 'a restart', true);
    await removeLeftoverContainers(this.d.engine, this.d.nodeId, this.d.log).catch((err: unknown) => this.d.log.warn('could not list leftover build containers', { error: err }));
    this.d.view.on('change', this.onChange);
    this.d.view.on('synced', this.onSynced);
    void this.recovery.start(false); // recovered just now; next after a sync or recoverMs
    if (this.d.janitor !== false) void this.janitorLoop.start();
    void this.queue.start();
  }

  /** Stops taking builds, aborts the running ones (recorded as failed 'interrupted') and waits for them. */
  async stop(timeoutMs = 8000): Promise<void> {
    this.stopping = true;
    this.stopAc.abort();
    this.d.view.off('change', this.onChange);
    this.d.view.off('synced', this.onSynced);
    const reason = new PleacoError('interrupted', 'the builder stopped while this build was running; deploy again');
    for (const r of this.running.values()) r.ac.abort(reason);
    const all = Promise.allSettled([...this.running.values()].map((r) => r.done));
    await Promise.race([all, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    await Promise.all([this.queue.stop(), this.recovery.stop(), this.janitorLoop.stop()]);
  }

  /** Ids of the builds running now, by app (for tests and status). */
  runningBuilds(): Record<string, string> {
    return Object.fromEntries([...this.running].map(([app, r]) => [app, r.id]));
  }

  /** Settles this node's 'running' builds that this process does not run and is not claiming (recovery.ts). */
  private recoverOrphans(message: string, cause: string, atStart = false): Promise<void> {
    if (this.stopping || (!atStart && !this.d.view.synced)) return Promise.resolve();
    return recoverBuilds(
      {
        view: this.d.view,
        putBuild: (b) => this.d.link.putBuild(b),
        log: this.d.log,
        stopping: () => this.stopping,
        isOrphan: (key, b) => b.status === 'running' && b.node === this.d.nodeId && this.running.get(b.app)?.id !== b.id && !this.claiming.has(key),
      },
      message,
      cause,
    );
  }

  private changed(e: StateChange): void {
    if (e.key.startsWith('builds/')) {
      this.refused.delete(e.key);
      const b = e.value as Build | null;
      const r = b ? this.running.get(b.app) : undefined;
      if (b && r && r.id === b.id && b.status === 'superseded') r.ac.abort(new PleacoError('superseded', b.error?.message ?? 'superseded by a newer build'));
    } else if (e.key.startsWith('apps/') && e.value === null) {
      void this.appDeleted(e.key.slice('apps/'.length));
    }
    this.kick();
  }

  /** Schedules a scan of the queue (coalesced with the one running). */
  kick(): void {
    if (!this.stopping) void this.queue.run();
  }

  private next(): { key: string; build: Build; spec: AppSpec } | null {
    const queued = this.d.view
      .list<Build>('builds/')
      .filter(({ key, value }) => value.status === 'queued' && !this.running.has(value.app) && !this.refused.has(key))
      .sort((a, b) => (a.value.createdAt === b.value.createdAt ? (a.value.id < b.value.id ? -1 : 1) : a.value.createdAt < b.value.createdAt ? -1 : 1));
    for (const { key, value } of queued) {
      const spec = this.d.view.get<AppSpec>(keys.app(value.app));
      if (spec) return { key, build: value, spec };
    }
    return null;
  }

  private async pump(): Promise<void> {
    while (!this.stopping && this.d.view.synced && this.cleaning === 0 && this.running.size < (this.d.concurrency ?? 1) && Date.now() >= this.claimPauseUntil) {
      const n = this.next();
      if (!n) return;
      // Until launch() the build may already be 'running' here in state: keep recovery off it meanwhile.
      this.claiming.add(n.key);
      try {
        const claimed = await this.claim(n);
        if (claimed === 'refused') continue;
        if (claimed === 'later') return;
        if (this.stopping) {
          // Claimed while stopping: hand it back to the queue untouched rather than leave it 'running' here.
          const { node: _n, startedAt: _s, ...rest } = claimed;
          await this.d.link.putBuild({ ...rest, status: 'queued', stage: 'queued' }).catch(() => undefined);
          return;
        }
        this.launch(claimed, n.spec);
      } finally {
        this.claiming.delete(n.key);
      }
    }
  }

  /** The claimed build; 'refused' (taken, superseded or gone: its next change clears this); 'later' (agent away). */
  private async claim(n: { key: string; build: Build }): Promise<Build | 'refused' | 'later'> {
    try {
      return await this.d.link.claimBuild(n.build.app, n.build.id, this.d.nodeId);
    } catch (err) {
      const e = toPleacoError(err);
      if (e.status === 409 || e.status === 404) {
        this.refused.add(n.key);
        return 'refused';
      }
      this.d.log.warn('could not claim a build; retrying shortly', { app: n.build.app, build: n.build.id, error: err });
      this.claimPauseUntil = Date.now() + 2000;
      this.queue.kick(2050);
      return 'later';
    }
  }

  private launch(build: Build, spec: AppSpec): void {
    const ac = new AbortController();
    const entry: Running = { id: build.id, ac, done: Promise.resolve() };
    this.running.set(build.app, entry);
    entry.done = this.runOne(build, spec, ac).finally(() => {
      this.running.delete(build.app);
      this.kick();
      this.janitorLoop.kick(0); // a new release may retire an old one's image
    });
  }

  private async runOne(claimed: Build, spec: AppSpec, ac: AbortController): Promise<void> {
    const { app, id } = claimed;
    const log = this.d.log.child({ app, build: id });
    const ship = new LogShipper(this.d.link, app, id, log);
    const key = keys.build(app, id);
    let rec: WorkerBuild = { ...claimed, status: 'running', node: this.d.nodeId, builder: this.d.builder.name };
    const update = async (patch: Partial<Build>): Promise<void> => {
      rec = { ...rec, ...patch };
      const cur = this.d.view.get<Build>(key);
      if (cur?.status === 'superseded' && !ac.signal.aborted) ac.abort(new PleacoError('superseded', cur.error?.message ?? 'superseded by a newer build'));
      // Never resurrect a superseded record or a deleted app's.
      if (cur?.status !== 'superseded' && !this.deleted.has(app)) {
        await this.d.link.putBuild(rec).catch((err: unknown) => log.warn('could not update the build record', { stage: rec.stage, error: err }));
      }
      ac.signal.throwIfAborted();
    };
    log.info('build started', { ref: claimed.ref, trigger: claimed.trigger });
    let final: WorkerBuild;
    try {
      await update({});
      const release = await runPipeline(rec, spec, { ...this.d, env: (a) => this.env(a), ensureDisk: () => this.ensureDisk(log) }, { update, ship, signal: ac.signal });
      final = { ...rec, status: 'succeeded', stage: 'done', release: release.number, finishedAt: new Date().toISOString() };
      log.info('build succeeded', { release: release.number, commit: rec.commit });
    } catch (raw) {
      const err = toPleacoError(ac.signal.aborted ? (ac.signal.reason ?? raw) : raw);
      // Messages of pleaco's own codes are written for the user; an unexpected error stays in the process log.
      const message = err.code === 'internal' ? 'internal error in the builder (see its log)' : err.message;
      const verdict = err.code === 'superseded' ? 'superseded' : err.code === 'interrupted' ? 'interrupted' : 'failed';
      ship.line(`-----> Build ${verdict}: ${message}`);
      final = { ...rec, status: err.code === 'superseded' ? 'superseded' : 'failed', finishedAt: new Date().toISOString(), error: { code: err.code, message } };
      (err.code === 'internal' ? log.error : log.info)('build did not succeed', { code: err.code, error: err.message });
    }
    await ship.close();
    if (final.status === 'superseded' && this.d.view.get<Build>(key)?.status === 'superseded') return;
    await this.recordResult(final, log);
  }

  /**
   * Until the result is recorded the build stays in `running` (so recovery leaves it alone) and the record says
   * 'running': keep trying however long the agent is away, until the worker stops (then the next start's recovery
   * settles the record).
   */
  private async recordResult(final: WorkerBuild, log: Logger): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (this.deleted.has(final.app)) return;
      try {
        await this.d.link.putBuild(final);
        return;
      } catch (err) {
        if (this.stopping) {
          log.warn('could not record the build result before stopping; the next start recovers it', { attempt, error: err });
          return;
        }
        log.warn('could not record the build result; retrying', { attempt, error: err });
        await sleep(Math.min(500 * 2 ** (attempt - 1), 30_000), this.stopAc.signal);
      }
    }
  }

  private env(app: string): Record<string, string> {
    return configOf(this.d.view, app);
  }

  /** An app was deleted: stop its build, remove its mirror and its unused images. */
  private async appDeleted(app: string): Promise<void> {
    this.deleted.add(app);
    const r = this.running.get(app);
    if (r) {
      r.ac.abort(new PleacoError('superseded', `app ${app} was deleted`));
      await r.done.catch(() => undefined);
    }
    if (this.d.view.get(keys.app(app))) {
      this.deleted.delete(app); // re-created meanwhile
      return;
    }
    await this.d.git.remove(app).catch((err: unknown) => this.d.log.warn('could not remove the mirror of a deleted app', { app, error: err }));
    // Removing images while another build runs could pull a cached parent layer from under it (the classic
    // builder reuses intermediate images across apps); the janitor retries when the worker is idle.
    if (this.running.size > 0) {
      this.deleted.delete(app);
      return;
    }
    this.cleaning++;
    try {
      await removeAppImages(this.d.engine, app, this.d.nodeId, this.d.log).catch((err: unknown) => this.d.log.warn('could not remove images of a deleted app', { app, error: err }));
    } finally {
      this.cleaning--;
      this.deleted.delete(app);
      this.kick();
    }
  }

  /**
   * At start, every minute and after each build, while no build runs (the classic builder reuses cached layers
   * across builds): apps deleted while the builder was down lose their mirror and images; then old images go.
   */
  private async janitor(): Promise<void> {
    if (!this.d.view.synced || this.running.size > 0 || this.stopping) return;
    try {
      for (const app of await appsWithImages(this.d.engine, this.d.nodeId)) if (!this.d.view.get(keys.app(app)) && !this.running.has(app)) await this.appDeleted(app);
      if (this.running.size === 0) await collectImages(this.d.engine, this.d.view, { nodeId: this.d.nodeId, keep: this.d.config.build.keepImages, mode: 'normal', log: this.d.log });
    } catch (err) {
      this.d.log.debug('image collection failed', { error: err });
    }
  }

  /**
   * Before a build: when the state dir or the engine's data root is below PLEACO_MIN_FREE_DISK, remove every image
   * but the current releases' and the running builds', then refuse the build (`insufficient_storage`) if that was
   * not enough.
   */
  private async ensureDisk(log: Logger): Promise<void> {
    const min = this.d.config.disk.minFreeBytes;
    const paths = [this.d.config.stateDir, await this.d.engine.dataRoot().catch(() => null)];
    if ((await lowDisks(paths, min)).length === 0) return;
    log.warn('disk low before a build: removing old images', { minFreeBytes: min });
    await collectImages(this.d.engine, this.d.view, { nodeId: this.d.nodeId, keep: this.d.config.build.keepImages, mode: 'emergency', log });
    const low = await lowDisks(paths, min);
    if (low.length) throw diskFull(low, min, 'the build was refused', true);
  }

  /** For the Poller (see poll.ts). */
  pollTargets(): PolledApp[] {
    return pollTargets(this.d.view);
  }

  /** For the Poller: queue a deploy of `commit` (the agent supersedes an older queued build). */
  async triggerPoll(app: string, commit: string): Promise<void> {
    await this.d.link.queueDeploy(app, commit, 'poll');
  }
}
