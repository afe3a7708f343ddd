/**
 * Reconcile planning, pure: desired slots + observed containers + per-slot memory + now → actions and
 * the SlotStatus records to publish. No I/O, no clock: the runner supplies `now` and the readiness probe.
 *
 * Rules:
 * - A slot runs the container of its desired release. Rollout: the new container starts first; once it
 *   is ready (running ≥ readyAfterMs and its port accepts) the slot's record switches to it at once, but
 *   the old container keeps running as the record's `fallback` until the new one has served for
 *   rolloutStableMs; only then is the old one removed. If the new one exits within that window, the
 *   record switches back to the old container (the new one goes to `next`, crashed/backoff), so a
 *   release that crash-loops never takes the slot's last working container.
 * - One slot per app at a time: only the lowest slot that still has an old container running (serving,
 *   or as fallback) may start a new one, so the next slot starts once the previous one's rollout is
 *   complete. A rollout also holds (no start, no fallback removed) while a slot without an old container
 *   has crashed with the new release and not run stableAfterMs since: at most one slot is ever at risk.
 * - While a new container is not ready, the slot's record describes the container that serves (the
 *   old one) and carries the new one in `next`, so the proxy keeps routing to what works.
 * - A container that exited on its own is a crash: 'crashed', then 'backoff' until
 *   finishedAt + base·2^(failures-1) (capped), then remove + create. A run of ≥ stableAfterMs resets failures.
 * - A replaced container (the fallback after rolloutStableMs, or another old one still running) is not
 *   removed while a proxy still lists it as draining (PlanInput.draining): the plan waits, polling every
 *   DRAIN_POLL_MS, but never more than drainWaitMaxMs in total (from when it would have been removed).
 * - Slots no longer desired (scale-down, app deleted, release gone) are removed, highest index first: a
 *   running container is published 'stopping' for deregisterDelayMs first (the proxies take it out of
 *   rotation), then waits like a replaced one while a proxy drains it.
 */
import { slotName, type PendingSlot, type SlotState, type SlotStatus } from '../core/model.js';
import type { ManagedContainer, SlotSpec } from './runtime.js';

/** The app's health check as a rollout applies it (runner probes; the deadline is the plan's). */
export interface SlotHealth {
  path: string;
  /** Host header of the check (the name the proxy routes to the app). */
  host: string;
  /** Consecutive passing checks before the slot's traffic moves to a new container. */
  rise: number;
  /** How long a slot's rollout may take before its release is given up (automatic rollback). */
  deadlineMs: number;
}

export interface DesiredSlot extends SlotSpec {
  /** Absent: readiness is the port accepting, and the deadline DEFAULT_ROLLOUT_DEADLINE_MS. */
  health?: SlotHealth;
}

export interface ObservedContainer extends ManagedContainer {
  /** The runner's probe said the app port accepts connections. */
  ready?: boolean;
  /** Last log lines, supplied by the runner for exited containers whose crash is not yet recorded. */
  log?: string;
}

/** What the runner remembers about a slot between plans (about the slot's desired release). */
export interface SlotMemory {
  release: number;
  restarts: number;
  /** Consecutive crashes (or failed starts), for the backoff. */
  failures: number;
  /** The container whose crash has been counted. */
  lastCrashId?: string;
  lastExitCode?: number;
  lastLog?: string;
  nextRetryAt?: number;
  /** Replaced containers whose removal waits for a proxy's drain: container id → since when (ms). */
  drainWait?: Record<string, number>;
  /** A slot no longer desired: when its record first said 'stopping'. */
  stoppingSince?: number;
  /** When this slot's rollout to `release` began (a new container was wanted while an old one served). */
  rolloutSince?: number;
  /** When the plan last asked to give the release up (re-asked after FAIL_REPORT_RETRY_MS). */
  failReportedAt?: number;
}

export interface PlanConfig {
  nodeId: string;
  /** Address the ports are published on (config.runtime.bindHost). */
  host: string;
  backoffBaseMs: number;
  backoffMaxMs: number;
  stableAfterMs: number;
  /** How long a container must have been running to count as ready. Default DEFAULT_READY_AFTER_MS. */
  readyAfterMs?: number;
  /** How soon to look again at a container that is running but not ready yet. Default 100, 2000 after 30 s. */
  readyPollMs?: number;
  /**
   * How long a new container must serve (from the switch of the slot's record) before the old container
   * it replaced is removed; until then the old one runs as the record's `fallback`. Default
   * DEFAULT_ROLLOUT_STABLE_MS.
   */
  rolloutStableMs?: number;
  /** The longest a replaced container's removal waits for proxies to drain it. Default DEFAULT_DRAIN_WAIT_MAX_MS. */
  drainWaitMaxMs?: number;
  /**
   * How long a container of a slot no longer desired (scale-down, app deleted) is published as 'stopping'
   * before it is stopped, so the proxies take it out of rotation first. Default DEFAULT_DEREGISTER_DELAY_MS.
   */
  deregisterDelayMs?: number;
}


/** Kept as a name for the runner's records; `next` is part of SlotStatus. */
export type RunnerSlotStatus = SlotStatus;
export type { PendingSlot };

export type RemoveReason = 'unwanted' | 'replaced' | 'duplicate' | 'stale';

export type Action =
  | { kind: 'create'; slot: string; spec: DesiredSlot; reason: 'new' | 'rollout' | 'retry' }
  | { kind: 'restart'; slot: string; containerId: string; spec: DesiredSlot }
  | { kind: 'remove'; slot: string; containerId: string; reason: RemoveReason; graceful: boolean }
  | { kind: 'wait'; slot: string; until: number; reason: WaitReason }
  /** Give up `release` (AppService.failRelease): its rollout in this slot failed; `rollbackTo` still serves. */
  | { kind: 'fail'; slot: string; app: string; release: number; rollbackTo: number | null; reason: string; containerId?: string; lastLog?: string };

export type WaitReason = 'backoff' | 'ready' | 'stable' | 'drain' | 'deadline';

export interface PlanInput {
  desired: DesiredSlot[];
  actual: ObservedContainer[];
  memory: ReadonlyMap<string, SlotMemory>;
  /** The records last published, by slot name (to keep `since` and restarts). */
  previous: ReadonlyMap<string, RunnerSlotStatus>;
  now: number;
  config: PlanConfig;
  /**
   * Container ids some proxy (a fresh `obs/<node>/proxy-draining` record) still drains: taken out of
   * rotation, in-flight requests may still run on them. Absent: nothing is draining.
   */
  draining?: ReadonlySet<string>;
}

export interface PlanOutput {
  actions: Action[];
  /** Records to publish by slot name; null deletes. Slots with a pending create/restart are left out. */
  statuses: Map<string, RunnerSlotStatus | null>;
  memory: Map<string, SlotMemory>;
  /** Earliest `wait` deadline, if any. */
  wakeAt: number | null;
}

export function backoffDelay(failures: number, cfg: Pick<PlanConfig, 'backoffBaseMs' | 'backoffMaxMs'>): number {
  const exp = Math.min(Math.max(failures - 1, 0), 30);
  return Math.min(cfg.backoffBaseMs * 2 ** exp, cfg.backoffMaxMs);
}

/**
 * How long a new container must have run (besides answering on its port) before it takes over its slot.
 * Short: the port check is the real signal, and the old container stays as fallback for
 * DEFAULT_ROLLOUT_STABLE_MS after the switch; health checks with thresholds come with the proxy (issue #3).
 */
export const DEFAULT_READY_AFTER_MS = 100;

/** How long a new container serves before the old one it replaced is removed (PlanConfig.rolloutStableMs). */
export const DEFAULT_ROLLOUT_STABLE_MS = 3000;

/** The longest a replaced container's removal waits for the proxies to drain it (PlanConfig.drainWaitMaxMs). */
export const DEFAULT_DRAIN_WAIT_MAX_MS = 30_000;

/** How long a container of an unwanted slot is 'stopping' before it is stopped (PlanConfig.deregisterDelayMs). */
export const DEFAULT_DEREGISTER_DELAY_MS = 1000;

/** How often the plan looks again while a replaced container is still draining. */
export const DRAIN_POLL_MS = 250;

/** A slot's rollout deadline when the desired slot carries no health check (see SlotHealth.deadlineMs). */
export const DEFAULT_ROLLOUT_DEADLINE_MS = 60_000;

/** Crashes in a row of a new release's container, in a rollout, after which the release is given up. */
export const MAX_ROLLOUT_CRASHES = 3;

/** How soon the plan asks again to give a release up when the release is still desired (the report was lost). */
export const FAIL_REPORT_RETRY_MS = 10_000;

export function isReady(c: ObservedContainer, now: number, readyAfterMs = DEFAULT_READY_AFTER_MS): boolean {
  return c.state === 'running' && c.startedAt !== null && now - c.startedAt >= readyAfterMs && c.ready === true;
}

const LIVE: ReadonlySet<string> = new Set(['running', 'paused', 'restarting']);
const iso = (ms: number): string => new Date(ms).toISOString();
const recency = (c: ObservedContainer): number => Math.max(c.startedAt ?? 0, c.finishedAt ?? 0);

/** Best first: ready, then running, then most recent. */
function rank(list: ObservedContainer[], now: number, readyAfter: number): ObservedContainer[] {
  const score = (c: ObservedContainer): number => (isReady(c, now, readyAfter) ? 2 : c.state === 'running' ? 1 : 0);
  return [...list].sort((a, b) => score(b) - score(a) || recency(b) - recency(a) || (a.id < b.id ? -1 : 1));
}

export function plan(input: PlanInput): PlanOutput {
  const { now, config: cfg } = input;
  const readyAfter = cfg.readyAfterMs ?? DEFAULT_READY_AFTER_MS;
  const stableMs = cfg.rolloutStableMs ?? DEFAULT_ROLLOUT_STABLE_MS;
  const drainMax = cfg.drainWaitMaxMs ?? DEFAULT_DRAIN_WAIT_MAX_MS;
  const deregisterMs = cfg.deregisterDelayMs ?? DEFAULT_DEREGISTER_DELAY_MS;
  const actions: Action[] = [];
  const statuses = new Map<string, RunnerSlotStatus | null>();
  const memory = new Map<string, SlotMemory>();

  const desired = new Map(input.desired.map((d) => [slotName(d.app, d.index), d]));
  const bySlot = new Map<string, ObservedContainer[]>();
  for (const c of input.actual) {
    if (c.state === 'removing') continue;
    const k = slotName(c.app, c.index);
    bySlot.set(k, [...(bySlot.get(k) ?? []), c]);
  }

  // Slots no longer desired: remove every container, highest index first; publish 'stopping', then nothing.
  const unwanted = [...bySlot.keys()].filter((k) => !desired.has(k));
  unwanted.sort((a, b) => {
    const [ca, cb] = [bySlot.get(a)![0]!, bySlot.get(b)![0]!];
    return ca.app < cb.app ? -1 : ca.app > cb.app ? 1 : cb.index - ca.index;
  });
  for (const k of unwanted) {
    const list = rank(bySlot.get(k)!, now, readyAfter);
    const top = list[0]!;
    const prev = input.previous.get(k);
    const seen = input.memory.get(k);
    // A running container leaves the proxies' rotation first: its record says 'stopping' for
    // deregisterDelayMs (the proxies take it out and drain it), then it waits while a proxy drains it.
    const stoppingSince = seen?.stoppingSince ?? now;
    const holds: Record<string, number> = {};
    for (const c of list) {
      if (c.state === 'running') {
        const due = stoppingSince + deregisterMs;
        if (now < due) {
          actions.push({ kind: 'wait', slot: k, until: due, reason: 'drain' });
          continue;
        }
        const since = seen?.drainWait?.[c.id] ?? now;
        if (input.draining?.has(c.id) && now < since + drainMax) {
          holds[c.id] = since;
          actions.push({ kind: 'wait', slot: k, until: Math.min(since + drainMax, now + DRAIN_POLL_MS), reason: 'drain' });
          continue;
        }
      }
      actions.push({ kind: 'remove', slot: k, containerId: c.id, reason: 'unwanted', graceful: c.state === 'running' });
    }
    memory.set(k, { release: top.release, restarts: prev?.restarts ?? 0, failures: 0, stoppingSince, ...(Object.keys(holds).length ? { drainWait: holds } : {}) });
    const st = base(top, 'stopping', prev?.restarts ?? 0);
    statuses.set(k, withSince(st, prev, now));
  }
  for (const k of input.previous.keys()) if (!desired.has(k) && !bySlot.has(k)) statuses.set(k, null);

  // One slot at a time per app: the lowest slot whose old-release container still runs (serving, or as
  // the fallback of a new container not yet stable). An app's rollout holds (no new container starts, no
  // fallback is removed) while one of its slots without an old container has crashed with the release and
  // not run stableAfterMs since (say, its new container crashed after its own rollout completed).
  const transitioning = new Map<string, number>();
  const holding = new Set<string>();
  for (const d of [...desired.values()].sort((a, b) => a.index - b.index)) {
    const k = slotName(d.app, d.index);
    const list = bySlot.get(k) ?? [];
    if (list.some((c) => c.release !== d.release && c.state === 'running')) {
      if (!transitioning.has(d.app)) transitioning.set(d.app, d.index);
      continue;
    }
    const seen = input.memory.get(k);
    const crashed = list.some((c) => c.release === d.release && !LIVE.has(c.state));
    if (crashed || (seen?.release === d.release && seen.failures > 0)) holding.add(d.app);
  }

  for (const [k, d] of desired) {
    const prev = input.previous.get(k);
    const seen = input.memory.get(k);
    let mem: SlotMemory = seen && seen.release === d.release ? { ...seen } : { release: d.release, restarts: 0, failures: 0 };
    const all = bySlot.get(k) ?? [];
    const [primary, ...dups] = rank(all.filter((c) => c.release === d.release), now, readyAfter);
    for (const c of dups) actions.push({ kind: 'remove', slot: k, containerId: c.id, reason: 'duplicate', graceful: c.state === 'running' });
    const wait = (until: number, reason: WaitReason): void => {
      actions.push({ kind: 'wait', slot: k, until, reason });
    };
    // A replaced container may be stopped once no proxy drains it any more, or drainMax after `since`.
    const holds: Record<string, number> = {};
    const drained = (id: string, since: number): boolean => {
      if (!input.draining?.has(id) || now >= since + drainMax) return true;
      holds[id] = since;
      wait(Math.min(since + drainMax, now + DRAIN_POLL_MS), 'drain');
      return false;
    };
    const olds = rank(all.filter((c) => c.release !== d.release), now, readyAfter);
    const serving = olds[0]?.state === 'running' ? olds[0] : undefined;
    for (const c of olds) {
      if (c === serving) continue;
      if (c.state === 'running' && !drained(c.id, mem.drainWait?.[c.id] ?? now)) continue;
      actions.push({ kind: 'remove', slot: k, containerId: c.id, reason: c.state === 'running' ? 'replaced' : 'stale', graceful: c.state === 'running' });
    }
    const mayStart = !serving || (transitioning.get(d.app) === d.index && !holding.has(d.app));

    const servingStatus = (next?: PendingSlot): RunnerSlotStatus => {
      const restarts = prev?.containerId === serving!.id ? prev.restarts : 0;
      const st: RunnerSlotStatus = withSince(base(serving!, 'running', restarts), prev, now);
      if (next) st.next = next;
      return st;
    };
    const pending = (c: ObservedContainer | undefined, state: SlotState): PendingSlot => {
      const containerId = c?.id ?? (state === 'backoff' ? (mem.lastCrashId ?? '') : '');
      const p = prev?.next;
      const since = p && p.state === state && p.containerId === containerId && p.release === d.release ? p.since : iso(now);
      const ps: PendingSlot = { release: d.release, containerId, state, since, restarts: mem.restarts };
      return withMemory(ps, mem, state);
    };
    const own = (c: ObservedContainer, state: SlotState): RunnerSlotStatus =>
      withSince(withMemory(base(c, state, mem.restarts), mem, state), prev, now);
    if (primary && LIVE.has(primary.state)) {
      if (mem.failures > 0 && primary.startedAt !== null && now - primary.startedAt >= cfg.stableAfterMs) {
        mem = { ...mem, failures: 0 };
        delete mem.nextRetryAt;
      }
      if (isReady(primary, now, readyAfter)) {
        const st = own(primary, 'running');
        if (serving) {
          // Traffic moves to the new container now; the old one stays as fallback until the new one has
          // served rolloutStableMs (counted from the switch: the record's `since`), then it is removed.
          const switched = Date.parse(st.since);
          const stableAt = (Number.isFinite(switched) ? switched : now) + stableMs;
          if (now < stableAt) wait(stableAt, 'stable');
          else if (!holding.has(d.app) && drained(serving.id, stableAt)) actions.push({ kind: 'remove', slot: k, containerId: serving.id, reason: 'replaced', graceful: true });
          st.fallback = { containerId: serving.id, release: serving.release };
        }
        statuses.set(k, st);
      } else {
        const readyAt = primary.startedAt === null ? now : primary.startedAt + readyAfter;
        const slow = primary.startedAt !== null && now - primary.startedAt > 30_000;
        wait(Math.max(readyAt, now + (slow ? 2000 : (cfg.readyPollMs ?? 100))), 'ready');
        statuses.set(k, serving ? servingStatus(pending(primary, 'starting')) : own(primary, 'starting'));
      }
    } else if (primary) {
      // exited, dead, or created but never started: a crash
      let state: SlotState = 'backoff';
      if (mem.lastCrashId !== primary.id) {
        const ranFor = primary.startedAt !== null && primary.finishedAt !== null ? primary.finishedAt - primary.startedAt : 0;
        const failures = ranFor >= cfg.stableAfterMs ? 1 : mem.failures + 1;
        mem = { ...mem, failures, lastCrashId: primary.id, nextRetryAt: (primary.finishedAt ?? now) + backoffDelay(failures, cfg) };
        if (primary.exitCode !== null) mem.lastExitCode = primary.exitCode;
        else delete mem.lastExitCode;
        if (primary.log !== undefined) mem.lastLog = primary.log;
        state = 'crashed';
      }
      if (mayStart && now >= (mem.nextRetryAt ?? 0)) {
        mem = { ...mem, restarts: mem.restarts + 1 };
        actions.push({ kind: 'restart', slot: k, containerId: primary.id, spec: d });
        if (serving) statuses.set(k, servingStatus(pending(undefined, 'starting')));
      } else {
        if (mayStart) wait(mem.nextRetryAt ?? now, 'backoff');
        statuses.set(k, serving ? servingStatus(pending(primary, state)) : own(primary, state));
      }
    } else if (!mayStart) {
      statuses.set(k, servingStatus());
    } else if (mem.nextRetryAt !== undefined && now < mem.nextRetryAt) {
      wait(mem.nextRetryAt, 'backoff');
      const st = serving ? servingStatus(pending(undefined, 'backoff')) : backoffRecord(d, mem, cfg, prev, now);
      statuses.set(k, st);
    } else {
      const retry = mem.failures > 0;
      if (retry) mem = { ...mem, restarts: mem.restarts + 1 };
      actions.push({ kind: 'create', slot: k, spec: d, reason: serving ? 'rollout' : retry ? 'retry' : 'new' });
      if (serving) statuses.set(k, servingStatus(pending(undefined, 'starting')));
    }
    mem = rolloutDeadline(d, mem, serving, primary, mayStart, now, readyAfter, actions);
    if (Object.keys(holds).length > 0) mem = { ...mem, drainWait: holds };
    else if (mem.drainWait) {
      mem = { ...mem };
      delete mem.drainWait;
    }
    memory.set(k, mem);
  }

  const waits = actions.filter((a): a is Extract<Action, { kind: 'wait' }> => a.kind === 'wait').map((a) => a.until);
  return { actions, statuses, memory, wakeAt: waits.length ? Math.min(...waits) : null };

  function base(c: ObservedContainer, state: SlotState, restarts: number): RunnerSlotStatus {
    return baseStatus(c, state, restarts, cfg);
  }
}

/**
 * A slot's rollout (an old container serves while a container of the desired release is wanted) must
 * complete within the health check's deadline: the new container must pass its checks by then, and not
 * crash MAX_ROLLOUT_CRASHES times in a row. Otherwise the plan asks to give the release up (a 'fail'
 * action; the agent makes the served release current again) and repeats the ask every
 * FAIL_REPORT_RETRY_MS while the release is still desired. Returns the slot's memory with the rollout clock.
 */
function rolloutDeadline(d: DesiredSlot, mem: SlotMemory, serving: ObservedContainer | undefined, primary: ObservedContainer | undefined, mayStart: boolean, now: number, readyAfter: number, actions: Action[]): SlotMemory {
  const m = { ...mem };
  if (!serving) {
    delete m.rolloutSince;
    delete m.failReportedAt;
    return m;
  }
  if (!primary && !mayStart && m.rolloutSince === undefined) return m;
  m.rolloutSince ??= now;
  const deadline = d.health?.deadlineMs ?? DEFAULT_ROLLOUT_DEADLINE_MS;
  const ready = primary !== undefined && isReady(primary, now, readyAfter);
  const late = !ready && now >= m.rolloutSince + deadline;
  const crashing = m.failures >= MAX_ROLLOUT_CRASHES;
  const slot = slotName(d.app, d.index);
  if (!late && !crashing) {
    if (!ready) actions.push({ kind: 'wait', slot, until: m.rolloutSince + deadline, reason: 'deadline' });
    return m;
  }
  if (m.failReportedAt !== undefined && now < m.failReportedAt + FAIL_REPORT_RETRY_MS) {
    actions.push({ kind: 'wait', slot, until: m.failReportedAt + FAIL_REPORT_RETRY_MS, reason: 'deadline' });
    return m;
  }
  m.failReportedAt = now;
  const exit = m.lastExitCode === undefined ? '' : ` (last exit code ${m.lastExitCode})`;
  const check = d.health ? `GET ${d.health.path} answered 2xx/3xx ${d.health.rise} time${d.health.rise === 1 ? '' : 's'} in a row` : 'its port accepting connections';
  const reason = crashing ? `${slot} crashed ${m.failures} times in a row${exit}` : `${slot} was not healthy within ${Math.round(deadline / 1000)} s (waiting for ${check})`;
  const fail: Action = { kind: 'fail', slot, app: d.app, release: d.release, rollbackTo: serving.release, reason };
  if (primary) fail.containerId = primary.id;
  if (crashing && m.lastLog !== undefined) fail.lastLog = m.lastLog;
  actions.push(fail);
  return m;
}

function baseStatus(c: ObservedContainer, state: SlotState, restarts: number, cfg: PlanConfig): RunnerSlotStatus {
  const live = state === 'running' || state === 'starting' || state === 'stopping';
  return {
    app: c.app,
    slot: slotName(c.app, c.index),
    node: cfg.nodeId,
    release: c.release,
    containerId: c.id,
    state,
    host: cfg.host,
    hostPort: live ? c.hostPort : null,
    restarts,
    since: '',
  };
}

function withMemory<T extends { lastExitCode?: number; lastLog?: string; nextRetryAt?: string }>(st: T, mem: SlotMemory, state: SlotState): T {
  if (mem.lastExitCode !== undefined) st.lastExitCode = mem.lastExitCode;
  if (mem.lastLog !== undefined) st.lastLog = mem.lastLog;
  if ((state === 'crashed' || state === 'backoff') && mem.nextRetryAt !== undefined) st.nextRetryAt = iso(mem.nextRetryAt);
  return st;
}

/** Keeps `since` when the slot is still in the same state with the same container. */
function withSince(st: RunnerSlotStatus, prev: RunnerSlotStatus | undefined, now: number): RunnerSlotStatus {
  st.since = prev && prev.state === st.state && prev.containerId === st.containerId && prev.release === st.release ? prev.since : iso(now);
  return st;
}

/** A slot without a container, waiting out its backoff (e.g. after a failed create). */
function backoffRecord(d: DesiredSlot, mem: SlotMemory, cfg: PlanConfig, prev: RunnerSlotStatus | undefined, now: number): RunnerSlotStatus {
  const st: RunnerSlotStatus = {
    app: d.app,
    slot: slotName(d.app, d.index),
    node: cfg.nodeId,
    release: d.release,
    containerId: mem.lastCrashId ?? '',
    state: 'backoff',
    host: cfg.host,
    hostPort: null,
    restarts: mem.restarts,
    since: '',
  };
  return withSince(withMemory(st, mem, 'backoff'), prev, now);
}

/** Records a failed create/restart (e.g. image missing) as a failure with backoff. Pure. */
export function recordFailure(mem: SlotMemory | undefined, release: number, message: string, now: number, cfg: PlanConfig): SlotMemory {
  const m: SlotMemory = mem && mem.release === release ? { ...mem } : { release, restarts: 0, failures: 0 };
  m.failures += 1;
  m.lastLog = message;
  delete m.lastExitCode;
  delete m.lastCrashId;
  m.nextRetryAt = now + backoffDelay(m.failures, cfg);
  return m;
}

/** Seeds memory from a published record (a restarted runner keeps restarts, backoff, last crash). */
export function memoryFromStatus(st: RunnerSlotStatus): SlotMemory {
  const src = st.next ?? st;
  const m: SlotMemory = { release: src.release, restarts: src.restarts, failures: 0 };
  if (src.state === 'crashed' || src.state === 'backoff') {
    m.failures = 1;
    if (src.containerId) m.lastCrashId = src.containerId;
    if (src.nextRetryAt) m.nextRetryAt = Date.parse(src.nextRetryAt);
  }
  if (src.lastExitCode !== undefined) m.lastExitCode = src.lastExitCode;
  if (src.lastLog !== undefined) m.lastLog = src.lastLog;
  return m;
}
