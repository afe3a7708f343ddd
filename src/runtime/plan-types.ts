/**
 * The planner's vocabulary: desired and observed slots, the runner's per-slot memory, actions, and the timing
 * constants of rollouts, drains and backoff. Pure; plan.ts re-exports all of it.
 */
import { slotName, type PendingSlot, type SlotStatus } from '../model/index.js';
import { specHash, type ManagedContainer, type SlotSpec } from './runtime.js';

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

/** Identifies one warm start (PlanInput.warmTried): slot, release and spec (a changed spec is a new start). */
/**
 * A container runs the slot's desired release: its number, and its spec where the container is labelled with one. The
 * same number with another spec is another release (one numbered on each side of two clusters that merged, say): it
 * is replaced like an older one, not kept.
 */
export function isOfRelease(c: ObservedContainer, d: DesiredSlot, hash = specHash(d)): boolean {
  return c.release === d.release && (c.spec === undefined || c.spec === hash);
}

export const warmKey = (w: DesiredSlot): string => `${slotName(w.app, w.index)}@${w.release}@${specHash(w)}`;

export interface ObservedContainer extends ManagedContainer {
  /** The runner's probe said the app port accepts connections. */
  ready?: boolean;
  /** The app's accept queue (ContainerRuntime.listenBacklog), learnt by the runner once the container is ready. */
  backlog?: number;
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
  /** The last crash was the kernel's OOM killer (the memory limit). */
  lastOom?: boolean;
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

export type RemoveReason = 'unwanted' | 'replaced' | 'duplicate' | 'stale' | 'unadopted';

export type Action =
  | { kind: 'create'; slot: string; spec: DesiredSlot; reason: 'new' | 'rollout' | 'retry' | 'warm' }
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
  /**
   * Rollouts go one slot at a time across the cluster, in slot order: true while a slot of `app` with a lower index
   * than `index`, on another live node, has not finished moving to `release`. Absent: nothing elsewhere.
   */
  waitForOthers?: (app: string, index: number, release: number) => boolean;
  /**
   * Slots to start ahead of their release (desired.ts warmSlots): their containers run unrouted, never in a record;
   * the release adopts them. Absent: none.
   */
  warm?: DesiredSlot[];
  /** Warm slots already started once (`<slot>@<release>`): not started again when their container is gone. */
  warmTried?: ReadonlySet<string>;
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
