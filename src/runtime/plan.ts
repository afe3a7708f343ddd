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
import { slotName, type PendingSlot, type SlotState } from '../core/model.js';
import { backoffRecord, baseStatus, rolloutDeadline, withMemory, withSince } from './plan-records.js';
import {
  DEFAULT_DEREGISTER_DELAY_MS, DEFAULT_DRAIN_WAIT_MAX_MS, DEFAULT_READY_AFTER_MS, DEFAULT_ROLLOUT_STABLE_MS, DRAIN_POLL_MS, backoffDelay, isReady,
  type Action, type ObservedContainer, type PlanInput, type PlanOutput, type RunnerSlotStatus, type SlotMemory, type WaitReason,
} from './plan-types.js';

export * from './plan-types.js';
export { memoryFromStatus, recordFailure } from './plan-records.js';

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
