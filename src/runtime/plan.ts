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
 * - One slot per app at a time, in slot order: only the lowest slot whose old container still serves may start
 *   its new one or switch to it, so the next slot moves once the previous one switched (its old container stays as
 *   fallback for rolloutStableMs; the next slot need not wait for that, as in a Kubernetes rolling update, which
 *   keeps no fallback at all). A rollout also holds (no start, no switch, no fallback removed) while a slot without
 *   an old container has crashed with the new release and not run stableAfterMs since.
 * - Warm slots (PlanInput.warm, warm.ts): the slots of a release to come, started once each, unrouted (no record
 *   names them); the release adopts them when their spec is the one it asks for. A container no record named that
 *   runs a release newer than the desired one, or the desired release with another spec, is removed (unadopted).
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
import { specHash } from './runtime.js';
import {
  DEFAULT_DEREGISTER_DELAY_MS, DEFAULT_DRAIN_WAIT_MAX_MS, DEFAULT_READY_AFTER_MS, DEFAULT_ROLLOUT_STABLE_MS, DRAIN_POLL_MS, isOfRelease, isReady, warmKey,
  type Action, type DesiredSlot, type ObservedContainer, type PlanInput, type PlanOutput,
} from './plan-types.js';

export * from './plan-types.js';
export { memoryFromStatus, recordFailure } from './plan-records.js';

/** A warm slot (PlanInput.warm) with its spec digest. */
interface Warm {
  spec: DesiredSlot;
  hash: string;
  tried: string;
}

/**
 * The observed containers by slot name (containers being removed are left out), and apart from them the warm
 * containers: those of a warm slot's release with its spec.
 */
function bySlotName(actual: ObservedContainer[], warm: Map<string, Warm>): { bySlot: Map<string, ObservedContainer[]>; warmBySlot: Map<string, ObservedContainer[]> } {
  const bySlot = new Map<string, ObservedContainer[]>();
  const warmBySlot = new Map<string, ObservedContainer[]>();
  for (const c of actual) {
    if (c.state === 'removing') continue;
    const k = slotName(c.app, c.index);
    const w = warm.get(k);
    const into = w && c.release === w.spec.release && c.spec === w.hash ? warmBySlot : bySlot;
    into.set(k, [...(into.get(k) ?? []), c]);
  }
  return { bySlot, warmBySlot };
}

/**
 * A container no record ever named that runs a release newer than its slot's desired one, or the desired release with
 * another spec, was started ahead of a release (warm) that did not come as guessed (its gates failed, another release
 * took the number, the config changed): it never serves, and is removed.
 */
function dropUnadopted(p: Plan, desired: Map<string, DesiredSlot>, bySlot: Map<string, ObservedContainer[]>): void {
  for (const [k, d] of desired) {
    const list = bySlot.get(k);
    if (!list) continue;
    const prev = p.input.previous.get(k);
    const served = new Set([prev?.containerId, prev?.fallback?.containerId]);
    const hash = p.hashes.get(k)!;
    const unadopted = (c: ObservedContainer): boolean => !served.has(c.id) && (c.release > d.release || (c.release === d.release && c.spec !== undefined && c.spec !== hash));
    for (const c of list.filter(unadopted)) p.actions.push({ kind: 'remove', slot: k, containerId: c.id, reason: 'unadopted', graceful: c.state === 'running' });
    bySlot.set(k, list.filter((c) => !unadopted(c)));
  }
}

/**
 * Warm slots: one container each, started once and then left to itself (a crash is the release's rollout's to
 * count, once it is made); it is health-checked like a rollout's container, so it can switch at once.
 */
function planWarm(p: Plan, warm: Map<string, Warm>, warmBySlot: Map<string, ObservedContainer[]>): void {
  for (const [k, w] of warm) {
    const [first, ...dups] = rank(warmBySlot.get(k) ?? [], p.now, p.readyAfter);
    for (const c of dups) p.actions.push({ kind: 'remove', slot: k, containerId: c.id, reason: 'duplicate', graceful: c.state === 'running' });
    if (!first) {
      if (!p.input.warmTried?.has(w.tried)) p.actions.push({ kind: 'create', slot: k, spec: w.spec, reason: 'warm' });
    } else if (first.state === 'running' && !isReady(first, p.now, p.readyAfter)) {
      const slow = first.startedAt !== null && p.now - first.startedAt > 30_000;
      p.actions.push({ kind: 'wait', slot: k, until: p.now + (slow ? 2000 : (p.cfg.readyPollMs ?? 100)), reason: 'ready' });
    }
  }
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
 * One slot at a time per app, in slot order: the lowest slot whose old-release container still serves moves (starts
 * its new container, or switches to it once it is ready), and only once every lower slot on other nodes has
 * switched. A slot whose new container is ready switches in the same pass as the lower ones (a warm container, or one
 * that got ready while it waited); a switched slot keeps its old container as fallback until the new one is stable,
 * but the next slot need not wait for that. An app's rollout holds (no new container starts, no fallback is removed)
 * while one of its slots without an old container has crashed with the release and not run stableAfterMs since (say,
 * its new container crashed after its own rollout completed).
 */
function rolloutOrder(p: Plan, desired: Map<string, DesiredSlot>, bySlot: Map<string, ObservedContainer[]>): void {
  const sorted = [...desired.values()].sort((a, b) => a.index - b.index);
  const of = (c: ObservedContainer, d: DesiredSlot): boolean => isOfRelease(c, d, p.hashes.get(slotName(d.app, d.index)));
  const oldRunning = (d: DesiredSlot): boolean => (bySlot.get(slotName(d.app, d.index)) ?? []).some((c) => !of(c, d) && c.state === 'running');
  for (const d of sorted) {
    if (oldRunning(d)) continue;
    const k = slotName(d.app, d.index);
    const seen = p.input.memory.get(k);
    const crashed = (bySlot.get(k) ?? []).some((c) => of(c, d) && !LIVE.has(c.state));
    if (crashed || (seen?.release === d.release && seen.failures > 0)) p.holding.add(d.app);
  }
  for (const d of sorted) {
    if (!oldRunning(d) || p.transitioning.has(d.app)) continue;
    const k = slotName(d.app, d.index);
    // -1: the app's rollout waits for a lower slot on another node; no slot of it here moves.
    if (p.input.waitForOthers?.(d.app, d.index, d.release)) {
      p.transitioning.set(d.app, -1);
      continue;
    }
    const ready = (bySlot.get(k) ?? []).some((c) => of(c, d) && isReady(c, p.now, p.readyAfter));
    if (ready && !p.holding.has(d.app)) p.switching.add(k);
    else p.transitioning.set(d.app, d.index);
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
    actions: [], statuses: new Map(), memory: new Map(), transitioning: new Map(), switching: new Set(), holding: new Set(), hashes: new Map(),
  };
  const desired = new Map(input.desired.map((d) => [slotName(d.app, d.index), d]));
  for (const [k, d] of desired) p.hashes.set(k, specHash(d));
  const warm = new Map<string, Warm>();
  for (const w of input.warm ?? []) {
    const k = slotName(w.app, w.index);
    const hash = specHash(w);
    if (desired.get(k)?.release !== w.release) warm.set(k, { spec: w, hash, tried: warmKey(w) });
  }
  const { bySlot, warmBySlot } = bySlotName(input.actual, warm);
  dropUnadopted(p, desired, bySlot);
  planUnwanted(p, desired, bySlot);
  rolloutOrder(p, desired, bySlot);
  planWarm(p, warm, warmBySlot);
  for (const [k, d] of desired) new SlotPlan(p, k, d, bySlot.get(k) ?? []).run();
  const waits = p.actions.filter((a): a is Extract<Action, { kind: 'wait' }> => a.kind === 'wait').map((a) => a.until);
  return { actions: p.actions, statuses: p.statuses, memory: p.memory, wakeAt: waits.length ? Math.min(...waits) : null };
}
