/**
 * The plan of one desired slot (plan.ts has the rules): remove duplicates and old containers that no longer
 * serve, then, by what its own container does — running, exited, or absent — wait, restart or create, and
 * publish the record of what serves. Pure, like plan().
 */
import type { PendingSlot, SlotState } from '../model/index.js';
import { backoffRecord, baseStatus, rolloutDeadline, withMemory, withSince } from './plan-records.js';
import {
  DRAIN_POLL_MS, backoffDelay, isOfRelease, isReady,
  type Action, type DesiredSlot, type ObservedContainer, type PlanConfig, type PlanInput, type RunnerSlotStatus, type SlotMemory, type WaitReason,
} from './plan-types.js';

export const LIVE: ReadonlySet<string> = new Set(['running', 'paused', 'restarting']);
const iso = (ms: number): string => new Date(ms).toISOString();
const recency = (c: ObservedContainer): number => Math.max(c.startedAt ?? 0, c.finishedAt ?? 0);

/** Best first: ready, then running, then most recent. */
export function rank(list: ObservedContainer[], now: number, readyAfter: number): ObservedContainer[] {
  const score = (c: ObservedContainer): number => (isReady(c, now, readyAfter) ? 2 : c.state === 'running' ? 1 : 0);
  return [...list].sort((a, b) => score(b) - score(a) || recency(b) - recency(a) || (a.id < b.id ? -1 : 1));
}

/** One plan's input, settings and output, shared by its slots. */
export interface Plan {
  input: PlanInput;
  now: number;
  cfg: PlanConfig;
  readyAfter: number;
  stableMs: number;
  drainMax: number;
  deregisterMs: number;
  actions: Action[];
  statuses: Map<string, RunnerSlotStatus | null>;
  memory: Map<string, SlotMemory>;
  /** Per app: the one slot whose rollout may go on now (start its new container; -1: none, a lower slot elsewhere moves). */
  transitioning: Map<string, number>;
  /** Slots whose new container is ready and whose turn it is: their records switch to it in this pass. */
  switching: Set<string>;
  /** Apps whose rollout holds (a slot crashed with the new release). */
  holding: Set<string>;
  /** Each desired slot's spec digest (specHash), computed once per plan. */
  hashes: Map<string, string>;
}

export class SlotPlan {
  private mem: SlotMemory;
  private readonly prev: RunnerSlotStatus | undefined;
  private readonly holds: Record<string, number> = {};
  private readonly primary: ObservedContainer | undefined;
  private readonly serving: ObservedContainer | undefined;
  private readonly mayStart: boolean;

  constructor(
    private readonly p: Plan,
    private readonly k: string,
    private readonly d: DesiredSlot,
    all: ObservedContainer[],
  ) {
    this.prev = p.input.previous.get(k);
    const seen = p.input.memory.get(k);
    this.mem = seen && seen.release === d.release ? { ...seen } : { release: d.release, restarts: 0, failures: 0 };
    const ofRelease = (c: ObservedContainer): boolean => isOfRelease(c, d, p.hashes.get(k));
    const [primary, ...dups] = rank(all.filter(ofRelease), p.now, p.readyAfter);
    this.primary = primary;
    for (const c of dups) p.actions.push({ kind: 'remove', slot: k, containerId: c.id, reason: 'duplicate', graceful: c.state === 'running' });
    const olds = rank(all.filter((c) => !ofRelease(c)), p.now, p.readyAfter);
    this.serving = olds[0]?.state === 'running' ? olds[0] : undefined;
    for (const c of olds) {
      if (c === this.serving) continue;
      if (c.state === 'running' && !this.drained(c.id, this.mem.drainWait?.[c.id] ?? p.now)) continue;
      p.actions.push({ kind: 'remove', slot: k, containerId: c.id, reason: c.state === 'running' ? 'replaced' : 'stale', graceful: c.state === 'running' });
    }
    this.mayStart = !this.serving || (p.transitioning.get(d.app) === d.index && !p.holding.has(d.app));
  }

  run(): void {
    const { primary } = this;
    if (primary && LIVE.has(primary.state)) this.live(primary);
    else if (primary) this.exited(primary);
    else this.absent();
    this.mem = rolloutDeadline(this.d, this.mem, this.serving, primary, this.mayStart, this.p.now, this.p.readyAfter, this.p.actions);
    if (Object.keys(this.holds).length > 0) this.mem = { ...this.mem, drainWait: this.holds };
    else if (this.mem.drainWait) {
      this.mem = { ...this.mem };
      delete this.mem.drainWait;
    }
    this.p.memory.set(this.k, this.mem);
  }

  private wait(until: number, reason: WaitReason): void {
    this.p.actions.push({ kind: 'wait', slot: this.k, until, reason });
  }

  /** A replaced container may be stopped once no proxy drains it any more, or drainMax after `since`. */
  private drained(id: string, since: number): boolean {
    const { input, now, drainMax } = this.p;
    if (!input.draining?.has(id) || now >= since + drainMax) return true;
    this.holds[id] = since;
    this.wait(Math.min(since + drainMax, now + DRAIN_POLL_MS), 'drain');
    return false;
  }

  private set(st: RunnerSlotStatus): void {
    this.p.statuses.set(this.k, st);
  }

  /** The record of the old container that serves, with the new release's container in `next`. */
  private servingStatus(next?: PendingSlot): RunnerSlotStatus {
    const serving = this.serving!;
    const restarts = this.prev?.containerId === serving.id ? this.prev.restarts : 0;
    const st: RunnerSlotStatus = withSince(baseStatus(serving, 'running', restarts, this.p.cfg), this.prev, this.p.now);
    if (next) st.next = next;
    return st;
  }

  private pending(c: ObservedContainer | undefined, state: SlotState): PendingSlot {
    const { d, mem, prev, p } = this;
    const containerId = c?.id ?? (state === 'backoff' ? (mem.lastCrashId ?? '') : '');
    const n = prev?.next;
    const since = n && n.state === state && n.containerId === containerId && n.release === d.release ? n.since : iso(p.now);
    const ps: PendingSlot = { release: d.release, containerId, state, since, restarts: mem.restarts };
    return withMemory(ps, mem, state);
  }

  private own(c: ObservedContainer, state: SlotState): RunnerSlotStatus {
    return withSince(withMemory(baseStatus(c, state, this.mem.restarts, this.p.cfg), this.mem, state), this.prev, this.p.now);
  }

  /** Its container runs: once ready and its turn, it takes the slot (the old one stays as fallback until stable). */
  private live(primary: ObservedContainer): void {
    const { p, serving } = this;
    if (this.mem.failures > 0 && primary.startedAt !== null && p.now - primary.startedAt >= p.cfg.stableAfterMs) {
      this.mem = { ...this.mem, failures: 0 };
      delete this.mem.nextRetryAt;
    }
    if (!isReady(primary, p.now, p.readyAfter)) {
      const readyAt = primary.startedAt === null ? p.now : primary.startedAt + p.readyAfter;
      const slow = primary.startedAt !== null && p.now - primary.startedAt > 30_000;
      this.wait(Math.max(readyAt, p.now + (slow ? 2000 : (p.cfg.readyPollMs ?? 100))), 'ready');
      this.set(serving ? this.servingStatus(this.pending(primary, 'starting')) : this.own(primary, 'starting'));
      return;
    }
    if (serving && this.prev?.containerId !== primary.id && !p.switching.has(this.k)) {
      // Ready, but a lower slot moves first: the old container serves on.
      this.set(this.servingStatus(this.pending(primary, 'starting')));
      return;
    }
    const st = this.own(primary, 'running');
    if (serving) {
      // Traffic moves to the new container now; the old one stays as fallback until the new one has
      // served rolloutStableMs (counted from the switch: the record's `since`), then it is removed.
      const switched = Date.parse(st.since);
      const stableAt = (Number.isFinite(switched) ? switched : p.now) + p.stableMs;
      if (p.now < stableAt) this.wait(stableAt, 'stable');
      else if (!p.holding.has(this.d.app) && this.drained(serving.id, stableAt)) p.actions.push({ kind: 'remove', slot: this.k, containerId: serving.id, reason: 'replaced', graceful: true });
      st.fallback = { containerId: serving.id, release: serving.release };
    }
    this.set(st);
  }

  /** Exited, dead, or created but never started: a crash, restarted after its backoff. */
  private exited(primary: ObservedContainer): void {
    const { p, serving } = this;
    let state: SlotState = 'backoff';
    if (this.mem.lastCrashId !== primary.id) {
      const ranFor = primary.startedAt !== null && primary.finishedAt !== null ? primary.finishedAt - primary.startedAt : 0;
      const failures = ranFor >= p.cfg.stableAfterMs ? 1 : this.mem.failures + 1;
      this.mem = { ...this.mem, failures, lastCrashId: primary.id, nextRetryAt: (primary.finishedAt ?? p.now) + backoffDelay(failures, p.cfg) };
      if (primary.exitCode !== null) this.mem.lastExitCode = primary.exitCode;
      else delete this.mem.lastExitCode;
      if (primary.oomKilled) this.mem.lastOom = true;
      else delete this.mem.lastOom;
      if (primary.log !== undefined) this.mem.lastLog = primary.log;
      state = 'crashed';
    }
    if (this.mayStart && p.now >= (this.mem.nextRetryAt ?? 0)) {
      this.mem = { ...this.mem, restarts: this.mem.restarts + 1 };
      p.actions.push({ kind: 'restart', slot: this.k, containerId: primary.id, spec: this.d });
      if (serving) this.set(this.servingStatus(this.pending(undefined, 'starting')));
    } else {
      if (this.mayStart) this.wait(this.mem.nextRetryAt ?? p.now, 'backoff');
      this.set(serving ? this.servingStatus(this.pending(primary, state)) : this.own(primary, state));
    }
  }

  /** No container of the release: create one (a rollout, a retry after backoff, or a new slot) when it may start. */
  private absent(): void {
    const { p, serving, d } = this;
    if (!this.mayStart) {
      this.set(this.servingStatus());
    } else if (this.mem.nextRetryAt !== undefined && p.now < this.mem.nextRetryAt) {
      this.wait(this.mem.nextRetryAt, 'backoff');
      this.set(serving ? this.servingStatus(this.pending(undefined, 'backoff')) : backoffRecord(d, this.mem, p.cfg, this.prev, p.now));
    } else {
      const retry = this.mem.failures > 0;
      if (retry) this.mem = { ...this.mem, restarts: this.mem.restarts + 1 };
      p.actions.push({ kind: 'create', slot: this.k, spec: d, reason: serving ? 'rollout' : retry ? 'retry' : 'new' });
      if (serving) this.set(this.servingStatus(this.pending(undefined, 'starting')));
    }
  }
}
