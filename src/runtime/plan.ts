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
import { slotName } from '../model/index.js';
import { baseStatus, withSince } from './plan-records.js';
import { LIVE, rank, SlotPlan, type Plan } from './plan-slot.js';
import {
  DEFAULT_DEREGISTER_DELAY_MS, DEFAULT_DRAIN_WAIT_MAX_MS, DEFAULT_READY_AFTER_MS, DEFAULT_ROLLOUT_STABLE_MS, DRAIN_POLL_MS,
  type Action, type DesiredSlot, type ObservedContainer, type PlanInput, type PlanOutput,
} from './plan-types.js';

export * from './plan-types.js';
export { memoryFromStatus, recordFailure } from './plan-records.js';

/** The observed containers by slot name (containers being removed are left out). */
function bySlotName(actual: ObservedContainer[]): Map<string, ObservedContainer[]> {
  const bySlot = new Map<string, ObservedContainer[]>();
  for (const c of actual) {
    if (c.state === 'removing') continue;
    const k = slotName(c.app, c.index);
    bySlot.set(k, [...(bySlot.get(k) ?? []), c]);
  }
  return bySlot;
}

/**
 * Slots no longer desired: remove every container, highest index first; publish 'stopping', then nothing. A
 * running container leaves the proxies' rotation first: its record says 'stopping' for deregisterDelayMs (the
 * proxies take it out and drain it), then it waits while a proxy drains it.
 */
function planUnwanted(p: Plan, desired: Map<string, DesiredSlot>, bySlot: Map<string, ObservedContainer[]>): void {
  const { input, now } = p;
  const unwanted = [...bySlot.keys()].filter((k) => !desired.has(k));
  unwanted.sort((a, b) => {
    const [ca, cb] = [bySlot.get(a)![0]!, bySlot.get(b)![0]!];
    return ca.app < cb.app ? -1 : ca.app > cb.app ? 1 : cb.index - ca.index;
  });
  for (const k of unwanted) {
    const list = rank(bySlot.get(k)!, now, p.readyAfter);
    const top = list[0]!;
    const prev = input.previous.get(k);
    const seen = input.memory.get(k);
    const stoppingSince = seen?.stoppingSince ?? now;
    const holds: Record<string, number> = {};
    for (const c of list) {
      if (c.state === 'running') {
        const due = stoppingSince + p.deregisterMs;
        if (now < due) {
          p.actions.push({ kind: 'wait', slot: k, until: due, reason: 'drain' });
          continue;
        }
        const since = seen?.drainWait?.[c.id] ?? now;
        if (input.draining?.has(c.id) && now < since + p.drainMax) {
          holds[c.id] = since;
          p.actions.push({ kind: 'wait', slot: k, until: Math.min(since + p.drainMax, now + DRAIN_POLL_MS), reason: 'drain' });
          continue;
        }
      }
      p.actions.push({ kind: 'remove', slot: k, containerId: c.id, reason: 'unwanted', graceful: c.state === 'running' });
    }
    p.memory.set(k, { release: top.release, restarts: prev?.restarts ?? 0, failures: 0, stoppingSince, ...(Object.keys(holds).length ? { drainWait: holds } : {}) });
    p.statuses.set(k, withSince(baseStatus(top, 'stopping', prev?.restarts ?? 0, p.cfg), prev, now));
  }
  for (const k of input.previous.keys()) if (!desired.has(k) && !bySlot.has(k)) p.statuses.set(k, null);
}

/**
 * One slot at a time per app: the lowest slot whose old-release container still runs (serving, or as the
 * fallback of a new container not yet stable), and only once every lower slot on other nodes has finished. An app's rollout holds (no new container starts, no fallback is
 * removed) while one of its slots without an old container has crashed with the release and not run
 * stableAfterMs since (say, its new container crashed after its own rollout completed).
 */
function rolloutOrder(p: Plan, desired: Map<string, DesiredSlot>, bySlot: Map<string, ObservedContainer[]>): void {
  for (const d of [...desired.values()].sort((a, b) => a.index - b.index)) {
    const k = slotName(d.app, d.index);
    const list = bySlot.get(k) ?? [];
    if (list.some((c) => c.release !== d.release && c.state === 'running')) {
      // -1: the app's rollout waits for a lower slot on another node; no slot of it here starts a new container.
      if (!p.transitioning.has(d.app)) p.transitioning.set(d.app, p.input.waitForOthers?.(d.app, d.index, d.release) ? -1 : d.index);
      continue;
    }
    const seen = p.input.memory.get(k);
    const crashed = list.some((c) => c.release === d.release && !LIVE.has(c.state));
    if (crashed || (seen?.release === d.release && seen.failures > 0)) p.holding.add(d.app);
  }
}

export function plan(input: PlanInput): PlanOutput {
  const cfg = input.config;
  const p: Plan = {
    input, now: input.now, cfg,
    readyAfter: cfg.readyAfterMs ?? DEFAULT_READY_AFTER_MS,
    stableMs: cfg.rolloutStableMs ?? DEFAULT_ROLLOUT_STABLE_MS,
    drainMax: cfg.drainWaitMaxMs ?? DEFAULT_DRAIN_WAIT_MAX_MS,
    deregisterMs: cfg.deregisterDelayMs ?? DEFAULT_DEREGISTER_DELAY_MS,
    actions: [], statuses: new Map(), memory: new Map(), transitioning: new Map(), holding: new Set(),
  };
  const desired = new Map(input.desired.map((d) => [slotName(d.app, d.index), d]));
  const bySlot = bySlotName(input.actual);
  planUnwanted(p, desired, bySlot);
  rolloutOrder(p, desired, bySlot);
  for (const [k, d] of desired) new SlotPlan(p, k, d, bySlot.get(k) ?? []).run();
  const waits = p.actions.filter((a): a is Extract<Action, { kind: 'wait' }> => a.kind === 'wait').map((a) => a.until);
  return { actions: p.actions, statuses: p.statuses, memory: p.memory, wakeAt: waits.length ? Math.min(...waits) : null };
}
