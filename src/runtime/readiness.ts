/**
 * Which of a node's app containers are ready, and their accept queues (the runner's memory of its probes). A
 * container of its slot's desired (or warm) release is ready after `rise` passing HTTP health checks in a row (one
 * per pass, the plan polls every 100 ms); others (old releases) after their port accepts. Once ready, a container
 * is not probed again: HAProxy's checks take it out of rotation when it fails later.
 */
import type { Logger } from '../log.js';
import type { RunnerSlotStatus, SlotHealth } from './plan-types.js';
import type { ContainerRuntime, ManagedContainer } from './runtime.js';

/** A replica whose accept queue could not be read (not listening yet on its port, say) is asked again after this. */
const BACKLOG_RETRY_MS = 30_000;

export class Readiness {
  private readonly ready = new Set<string>();
  /** Consecutive passing health checks of containers not yet ready. */
  private readonly passes = new Map<string, number>();
  /** The accept queue of each ready container (null: not known; asked again after BACKLOG_RETRY_MS). */
  private readonly backlogs = new Map<string, { value: number | null; at: number }>();
  private backlogWarned = false;

  constructor(private readonly d: { runtime: ContainerRuntime; log: Logger; now: () => number }) {}

  /** What served before a restart keeps serving: not re-gated (HAProxy's own checks watch it). */
  adopt(record: RunnerSlotStatus): void {
    if (record.state === 'running') this.ready.add(record.containerId);
    if (typeof record.backlog === 'number') this.backlogs.set(record.containerId, { value: record.backlog, at: this.d.now() });
    if (record.fallback) this.ready.add(record.fallback.containerId);
  }

  /** Forgets containers that are gone. */
  keep(ids: ReadonlySet<string>): void {
    for (const id of this.ready) if (!ids.has(id)) this.ready.delete(id);
    for (const id of this.passes.keys()) if (!ids.has(id)) this.passes.delete(id);
    for (const id of this.backlogs.keys()) if (!ids.has(id)) this.backlogs.delete(id);
  }

  /** Probes a running container not ready yet; its readiness and, once ready, its accept queue. */
  async observe(c: ManagedContainer, health: SlotHealth | undefined): Promise<{ ready: boolean; backlog: number | null }> {
    if (!this.ready.has(c.id)) await this.check(c, health);
    if (!this.ready.has(c.id)) return { ready: false, backlog: null };
    return { ready: true, backlog: await this.backlogOf(c) };
  }

  private async check(c: ManagedContainer, health: SlotHealth | undefined): Promise<void> {
    const ok = await this.d.runtime.probe(c, health ? { http: { path: health.path, host: health.host } } : {});
    const n = ok ? (this.passes.get(c.id) ?? 0) + 1 : 0;
    if (n >= (health?.rise ?? 1)) {
      this.ready.add(c.id);
      this.passes.delete(c.id);
    } else this.passes.set(c.id, n);
  }

  /** The container's accept queue, read once it is ready (the proxies size their connections to it). */
  private async backlogOf(c: ManagedContainer): Promise<number | null> {
    const known = this.backlogs.get(c.id);
    if (known && (known.value !== null || this.d.now() - known.at < BACKLOG_RETRY_MS)) return known.value;
    const value = await this.d.runtime.listenBacklog(c).catch((err: unknown) => {
      if (!this.backlogWarned) this.d.log.warn('cannot read an app\'s accept queue: the proxies will not limit their connections to it', { slot: `${c.app}#${c.index}`, error: err });
      this.backlogWarned = true;
      return null;
    });
    this.backlogs.set(c.id, { value, at: this.d.now() });
    return value;
  }
}
