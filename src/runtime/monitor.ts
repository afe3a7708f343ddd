/**
 * EngineMonitor: what this node last learnt of its container engine, refreshed in the background by a Reconciler (a
 * ping every `everyMs`, each bounded by the engine's own ping deadline). Callers that only need to know whether the
 * engine answers read it and never wait on the engine: `/v1/health` answers from it at once, and a deploy is refused
 * with `docker_unavailable` while the last check failed. Engine changes are logged once each way.
 */
import { Reconciler } from '../link/index.js';
import type { Logger } from '../log.js';
import type { EngineStatus } from './engine.js';

/** The engine's status as last checked (never waits). */
export interface EngineHealth {
  /** Where the engine is, for messages. */
  readonly where: string;
  status(): EngineStatus;
  /** Docker's data root as learnt by a check that succeeded (null until then, or when the engine does not say). */
  dataRoot(): string | null;
}

export interface EngineMonitorOptions {
  where: string;
  /** One bounded check (ContainerEngine.ping: it never throws and never outlasts its deadline). */
  ping: () => Promise<EngineStatus>;
  /** Asked once after a check succeeds, until it answers (ContainerEngine.dataRoot: bounded by the call deadline). */
  dataRoot?: () => Promise<string | null>;
  /** Default 2 s. */
  everyMs?: number;
  log: Logger;
}

export class EngineMonitor implements EngineHealth {
  readonly where: string;
  private last: EngineStatus = { ok: false, error: 'Docker Engine not checked yet' };
  private checked = false;
  private root: string | null = null;
  private readonly loop: Reconciler;

  constructor(private readonly o: EngineMonitorOptions) {
    this.where = o.where;
    this.loop = new Reconciler({ pass: () => this.check(), tickMs: o.everyMs ?? 2000, onError: (err) => o.log.warn('engine check failed', { error: err }) });
  }

  status(): EngineStatus {
    return this.last;
  }

  dataRoot(): string | null {
    return this.root;
  }

  /** Starts the checks; resolves after the first one (itself bounded). */
  start(): Promise<void> {
    return this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  private async check(): Promise<void> {
    const now = await this.o.ping();
    const was = this.last;
    this.last = now;
    if (now.ok && this.root === null && this.o.dataRoot) this.root = await this.o.dataRoot().catch(() => null);
    if (this.checked && was.ok === now.ok) return;
    this.checked = true;
    if (now.ok) this.o.log.info('Docker Engine answers', { where: this.where, version: now.version });
    else this.o.log.warn('Docker Engine does not answer', { where: this.where, error: now.error });
  }
}
