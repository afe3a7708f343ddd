/**
 * The reconcile loop of this node: desired slots (from state) → containers (through ContainerRuntime),
 * observed SlotStatus/NodeStatus records back into state. Runs on state changes (debounced), Docker
 * events, a periodic tick and the plan's own deadlines (backoff, readiness); never two at once.
 * Stopping it leaves the containers running: the next start adopts them.
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/index.js';
import { Reconciler, type MembersSource, type StateChange, type StateView } from '../link/index.js';
import type { Logger } from '../log.js';
import { keys, type FailureReport, type NodeStatus } from '../model/index.js';
import { placementPass } from '../scale/index.js';
import type { WriteOp } from '../state/index.js';
import { desiredSlots, everywhere, type Placement } from './desired.js';
import { isEngineDown } from './engine.js';
import { ImagePrefetch, type EnsureImage } from './images/index.js';
import { drainingIds, othersRollingOut } from './others.js';
import { memoryFromStatus, plan, recordFailure, type Action, type DesiredSlot, type ObservedContainer, type PlanConfig, type RunnerSlotStatus, type SlotMemory } from './plan.js';
import { Readiness } from './readiness.js';
import { OOM_NOTE, type ContainerRuntime } from './runtime.js';
import { warmSlots, WarmStarts } from './warm.js';

/** What the runner writes through: its node's observed state, and a failed release (AgentLink satisfies it). */
export interface RunnerLink {
  write(ops: WriteOp[]): Promise<unknown>;
  /** Gives a release up: called when a slot's rollout misses its deadline or crash-loops. */
  failRelease(app: string, release: number, report: FailureReport): Promise<unknown>;
}

/**
 * The prefixes a runner's StateMirror must watch (every node's `obs/`: any proxy may drain this node's replicas;
 * `builds/` and `env/`: a build's release is started warm, see desired.ts warmSlots).
 */
export function runnerPrefixes(_nodeId: string): string[] {
  return ['apps/', 'scale/', 'current/', 'releases/', 'health/', 'obs/', 'nodes/', 'builds/', 'env/'];
}

export interface RunnerDeps {
  view: StateView;
  link: RunnerLink;
  runtime: ContainerRuntime;
  nodeId: string;
  config: Config;
  log: Logger;
  version?: string;
  /**
   * The cluster's members as the agent sees them: the runner runs the slots this node wins (scale/ placement).
   * Absent (tests of one runner): a fixed `placement`, or every slot.
   */
  members?: MembersSource;
  placement?: Placement;
  tickMs?: number;
  debounceMs?: number;
  nodeStatusMs?: number;
  /** Grace period for `docker stop` before SIGKILL. */
  stopTimeoutSec?: number;
  /** Makes sure a slot's image is on this node before its container is created (fetched from a peer if not). */
  ensureImage?: EnsureImage;
  now?: () => number;
}

const LOG_LINES = 20;
const LOG_CHARS = 4000;
const MAX_PASSES = 6;

export class Runner {
  private memory = new Map<string, SlotMemory>();
  private published = new Map<string, RunnerSlotStatus>();
  private readonly readiness: Readiness;
  private readonly warm: WarmStarts;
  private readonly images: ImagePrefetch | null;
  private stopped = true;
  private dockerOk: boolean | null = null;
  private readonly loop: Reconciler;
  /** Publishes this node's NodeStatus: at start, every nodeStatusMs, and when Docker's reachability changes. */
  private readonly nodeLoop: Reconciler;
  private abort = new AbortController();
  private readonly startedAt: string;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly planCfg: PlanConfig;
  private readonly onChange = (e: StateChange): void => {
    // Other nodes' observed state matters to placement: their capacity and Engine (node), and whether a slot that
    // moves away from here runs there yet (slots).
    if (!e.key.startsWith('obs/') || (this.deps.members && !e.key.startsWith(this.ownObs) && (e.key.endsWith('/node') || e.key.includes('/slots/')))) this.trigger();
  };
  private readonly onMembers = (): void => this.trigger();

  constructor(private readonly deps: RunnerDeps) {
    this.now = deps.now ?? Date.now;
    this.startedAt = new Date(this.now()).toISOString();
    this.log = deps.log;
    this.images = deps.ensureImage ? new ImagePrefetch(deps.ensureImage, deps.log) : null;
    this.readiness = new Readiness({ runtime: deps.runtime, log: deps.log, now: this.now });
    this.warm = new WarmStarts({ runtime: deps.runtime, log: deps.log, ...(deps.ensureImage ? { ensureImage: deps.ensureImage } : {}) });
    const r = deps.config.runtime;
    this.planCfg = { nodeId: deps.nodeId, host: r.bindHost, backoffBaseMs: r.backoffBaseMs, backoffMaxMs: r.backoffMaxMs, stableAfterMs: r.stableAfterMs, rolloutStableMs: r.rolloutStableMs };
    this.loop = new Reconciler({
      pass: () => this.pass(),
      debounceMs: deps.debounceMs ?? 25,
      tickMs: deps.tickMs ?? 2000,
      now: this.now,
      onError: (err) => this.log.error('reconcile failed', { error: err }),
    });
    this.nodeLoop = new Reconciler({ pass: () => this.writeNode(), tickMs: deps.nodeStatusMs ?? 10_000, now: this.now, onError: (err) => this.log.warn('cannot publish node status', { error: err }) });
  }

  private get ownObs(): string {
    return `obs/${this.deps.nodeId}/`;
  }

  /** Which slots this node runs in this pass: its placement over the members, or the fixed one, or all. */
  private placement(): Placement {
    const members = this.deps.members?.members();
    if (!this.deps.members) return this.deps.placement ?? everywhere;
    // Not told the members yet (agent reconnecting), or the agent's state not synced since it started (it may be
    // behind what happened while this node was away): keep what runs here, start nothing new.
    if (!members || !members.ready) return (app, i) => this.published.get(`${app}#${i}`)?.state === 'running';
    return placementPass(this.deps.nodeId, this.deps.view, members.members).wins;
  }

  private get slotPrefix(): string {
    return keys.slotPrefix(this.deps.nodeId);
  }

  /** Adopts what runs (from the published records and the labelled containers), then keeps reconciling. */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.abort = new AbortController();
    for (const { key, value } of this.deps.view.list<RunnerSlotStatus>(this.slotPrefix)) {
      const slot = key.slice(this.slotPrefix.length);
      this.published.set(slot, value);
      this.memory.set(slot, memoryFromStatus(value));
      this.readiness.adopt(value);
    }
    this.deps.view.on('change', this.onChange);
    this.deps.members?.on('members', this.onMembers);
    void this.eventsLoop();
    await this.nodeLoop.start();
    await this.loop.start();
  }

  /** Stops reconciling; containers keep running. Resolves after the reconcile in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.deps.view.off('change', this.onChange);
    this.deps.members?.off('members', this.onMembers);
    this.abort.abort();
    await Promise.all([this.loop.stop(), this.nodeLoop.stop()]);
  }

  /** Schedules a reconcile (debounced; 0: at once). */
  trigger(delayMs?: number): void {
    this.loop.kick(delayMs);
  }

  /** Runs a reconcile now, or joins (and repeats once after) the one in flight. */
  reconcile(): Promise<void> {
    return this.loop.run();
  }

  private async pass(): Promise<void> {
    try {
      for (let i = 0; i < MAX_PASSES && !this.stopped; i++) {
        const opts = {
          placement: this.placement(),
          defaultPort: this.deps.config.runtime.defaultPort,
          domain: this.deps.config.proxy.domain,
          limits: this.deps.config.app,
          onSkip: (app: string, reason: string) => this.log.debug('app not runnable', { app, reason }),
        };
        const desired = desiredSlots(this.deps.view, opts);
        const warm = this.deps.config.runtime.warmStart && this.placementReady() ? warmSlots(this.deps.view, { ...opts, now: this.now() }) : [];
        this.images?.prefetch([...desired, ...warm]);
        const actual = await this.observe([...desired, ...warm]);
        this.dockerUp();
        const before = this.memory;
        const now = this.now();
        const draining = drainingIds(this.deps.view, now);
        const out = plan({
          desired, actual, memory: this.memory, previous: this.published, now, config: this.planCfg, draining, warm, warmTried: this.warm.started,
          waitForOthers: othersRollingOut(this.deps.view, this.deps.members?.members() ?? null, this.deps.nodeId),
        });
        this.warm.keep(warm);
        this.memory = out.memory;
        this.logCrashes(before, out.memory);
        await this.publish(out.statuses);
        const work = out.actions.filter((a) => a.kind !== 'wait');
        if (work.length === 0) {
          if (out.wakeAt !== null) this.loop.wakeAt(Math.max(out.wakeAt, this.now() + 20));
          return;
        }
        for (const a of work) await this.execute(a);
      }
      this.trigger();
    } catch (err) {
      if (!isEngineDown(err)) throw err;
      this.dockerDown(err);
    }
  }

  /** Lists the managed containers, probes readiness of running ones (readiness.ts), reads logs of fresh crashes. */
  private async observe(desired: DesiredSlot[]): Promise<ObservedContainer[]> {
    const list: ObservedContainer[] = await this.deps.runtime.list();
    this.readiness.keep(new Set(list.map((c) => c.id)));
    const healthOf = new Map(desired.map((d) => [`${d.app}#${d.index}@${d.release}`, d.health]));
    await Promise.all(
      list.map(async (c) => {
        if (c.state === 'running') {
          const { ready, backlog } = await this.readiness.observe(c, healthOf.get(`${c.app}#${c.index}@${c.release}`));
          c.ready = ready;
          if (backlog !== null) c.backlog = backlog;
        } else if (c.state === 'exited' || c.state === 'dead' || c.state === 'created') {
          const mem = this.memory.get(`${c.app}#${c.index}`);
          if (mem?.lastCrashId === c.id) return;
          const text = await this.deps.runtime.logsTail(c.id, LOG_LINES).catch(() => '');
          const log = c.oomKilled ? `${text}${text ? '\n' : ''}${OOM_NOTE}` : text;
          c.log = log.length > LOG_CHARS ? log.slice(-LOG_CHARS) : log;
          if (c.oomKilled) this.log.warn('container killed: out of memory', { slot: `${c.app}#${c.index}`, release: c.release });
        }
      }),
    );
    return list;
  }

  /** Reports a failed rollout to the agent with the container's last log lines. */
  private async giveUp(a: Extract<Action, { kind: 'fail' }>): Promise<void> {
    let lastLog = a.lastLog;
    if (lastLog === undefined && a.containerId) {
      const text = await this.deps.runtime.logsTail(a.containerId, LOG_LINES).catch(() => '');
      lastLog = text.length > LOG_CHARS ? text.slice(-LOG_CHARS) : text;
    }
    this.log.warn('release rollout failed', { app: a.app, release: a.release, slot: a.slot, reason: a.reason, rollbackTo: a.rollbackTo });
    const report: FailureReport = { reason: a.reason, node: this.deps.nodeId, slot: a.slot, rollbackTo: a.rollbackTo, ...(lastLog ? { lastLog } : {}) };
    await this.deps.link.failRelease(a.app, a.release, report);
  }

  private async execute(a: Action): Promise<void> {
    const rt = this.deps.runtime;
    const short = (id: string): string => id.slice(0, 12);
    try {
      if (a.kind === 'fail') {
        await this.giveUp(a);
      } else if (a.kind === 'remove') {
        if (a.graceful) await rt.stop(a.containerId, this.deps.stopTimeoutSec ?? 10);
        await rt.remove(a.containerId);
        this.log.info('container removed', { slot: a.slot, container: short(a.containerId), reason: a.reason });
      } else if (a.kind === 'create' && a.reason === 'warm') {
        await this.warm.start(a.spec);
      } else if (a.kind === 'create' || a.kind === 'restart') {
        await this.deps.ensureImage?.(a.spec.image, a.spec.app);
        if (a.kind === 'restart') await rt.remove(a.containerId);
        const c = await rt.create(a.spec);
        // Config values never reach the log: keys only.
        this.log.info(a.kind === 'restart' ? 'container restarted' : 'container started', {
          slot: a.slot,
          release: a.spec.release,
          container: short(c.id),
          hostPort: c.hostPort,
          configKeys: Object.keys(a.spec.env).sort(),
          ...(a.kind === 'create' ? { reason: a.reason } : { restarts: this.memory.get(a.slot)?.restarts }),
        });
      }
    } catch (err) {
      if (isEngineDown(err)) throw err;
      const message = err instanceof Error ? err.message : String(err);
      this.log.warn(`${a.kind} failed`, { slot: a.slot, error: message });
      if (a.kind === 'create' || a.kind === 'restart') {
        this.memory.set(a.slot, recordFailure(this.memory.get(a.slot), a.spec.release, message, this.now(), this.planCfg));
      }
    }
  }

  /** Whether this pass may start anything new: a runner that does not know its placement yet starts nothing warm. */
  private placementReady(): boolean {
    if (!this.deps.members) return true;
    return this.deps.members.members()?.ready === true;
  }

  private logCrashes(before: Map<string, SlotMemory>, after: Map<string, SlotMemory>): void {
    for (const [slot, m] of after) {
      if (!m.lastCrashId || before.get(slot)?.lastCrashId === m.lastCrashId) continue;
      const retryInMs = m.nextRetryAt === undefined ? null : Math.max(0, m.nextRetryAt - this.now());
      this.log.warn('container crashed', { slot, release: m.release, exitCode: m.lastExitCode ?? null, restarts: m.restarts, retryInMs });
    }
  }

  /** Writes the records that changed; null deletes. Unwritten ones are retried on the next pass. */
  private async publish(statuses: Map<string, RunnerSlotStatus | null>): Promise<void> {
    const ops: WriteOp[] = [];
    const apply: (() => void)[] = [];
    for (const [slot, st] of statuses) {
      const key = this.slotPrefix + slot;
      const prev = this.published.get(slot);
      if (st === null) {
        if (!prev && this.deps.view.get(key) === undefined) continue;
        ops.push({ key, value: null });
        apply.push(() => this.published.delete(slot));
      } else if (!prev || JSON.stringify(prev) !== JSON.stringify(st)) {
        ops.push({ key, value: st });
        apply.push(() => this.published.set(slot, st));
      }
    }
    if (ops.length === 0) return;
    try {
      await this.deps.link.write(ops);
      for (const f of apply) f();
    } catch (err) {
      this.log.warn('cannot publish slot status', { error: err, keys: ops.length });
    }
  }

  private async eventsLoop(): Promise<void> {
    const signal = this.abort.signal;
    let delay = 500;
    while (!signal.aborted) {
      const opened = this.now();
      try {
        await this.deps.runtime.events((ev) => {
          if (['die', 'start', 'destroy', 'oom', 'stop', 'kill'].includes(ev.action)) this.trigger();
        }, signal);
      } catch (err) {
        if (isEngineDown(err)) this.dockerDown(err);
        else this.log.warn('docker events stream failed', { error: err });
      }
      if (signal.aborted) return;
      if (this.now() - opened > 10_000) delay = 500;
      await sleep(delay, undefined, { signal }).catch(() => undefined);
      delay = Math.min(delay * 2, 5000);
      this.trigger(0); // catch up on whatever happened while unsubscribed
    }
  }

  /** Notes the Engine unreachable: logged once per outage, published in the node record. */
  private dockerDown(err: unknown, publish = true): void {
    if (this.dockerOk === false) return;
    this.log.warn('Docker Engine unreachable; retrying', { error: err instanceof Error ? err.message : String(err) });
    this.dockerOk = false;
    if (publish) this.nodeLoop.kick(0);
  }

  private dockerUp(publish = true): void {
    if (this.dockerOk === true) return;
    const wasDown = this.dockerOk === false;
    this.dockerOk = true;
    if (wasDown) {
      this.log.info('Docker Engine reachable again');
      this.trigger(0);
    }
    if (publish) this.nodeLoop.kick(0);
  }

  /** Publishes this node's NodeStatus (capacity, Docker reachability, version). */
  private async writeNode(): Promise<void> {
    const ping = await this.deps.runtime.ping();
    if (ping.ok) this.dockerUp(false);
    else this.dockerDown(new Error(ping.error), false);
    const status: NodeStatus = {
      id: this.deps.nodeId,
      address: reachedAt(this.deps.config),
      version: this.deps.version ?? '0.0.0',
      startedAt: this.startedAt,
      docker: ping.ok ? { ok: true, version: ping.version } : { ok: false, error: ping.error },
      cpus: os.cpus().length,
      memoryBytes: os.totalmem(),
    };
    try {
      await this.deps.link.write([{ key: keys.node(this.deps.nodeId), value: status }]);
    } catch (err) {
      this.log.warn('cannot publish node status', { error: err });
    }
  }
}

/** The address this node is shown at: the API's, unless it listens on every address (then the replicas' bind host). */
function reachedAt(config: Config): string {
  const any = (a: string): boolean => a === '0.0.0.0' || a === '::' || a === '';
  return !any(config.api.host) || any(config.runtime.bindHost) ? config.api.host : config.runtime.bindHost;
}
