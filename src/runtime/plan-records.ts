/**
 * The records the plan publishes and the memory it keeps per slot: building SlotStatus records, the rollout
 * deadline (automatic rollback), failures and a restarted runner's memory. Pure.
 */
import { slotName, type SlotState } from '../model/index.js';
import {
  DEFAULT_ROLLOUT_DEADLINE_MS, FAIL_REPORT_RETRY_MS, MAX_ROLLOUT_CRASHES, backoffDelay, isReady,
  type Action, type DesiredSlot, type ObservedContainer, type PlanConfig, type RunnerSlotStatus, type SlotMemory,
} from './plan-types.js';

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * A slot's rollout (an old container serves while a container of the desired release is wanted) must
 * complete within the health check's deadline: the new container must pass its checks by then, and not
 * crash MAX_ROLLOUT_CRASHES times in a row. Otherwise the plan asks to give the release up (a 'fail'
 * action; the agent makes the served release current again) and repeats the ask every
 * FAIL_REPORT_RETRY_MS while the release is still desired. Returns the slot's memory with the rollout clock.
 */
export function rolloutDeadline(d: DesiredSlot, mem: SlotMemory, serving: ObservedContainer | undefined, primary: ObservedContainer | undefined, mayStart: boolean, now: number, readyAfter: number, actions: Action[]): SlotMemory {
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

export function baseStatus(c: ObservedContainer, state: SlotState, restarts: number, cfg: PlanConfig): RunnerSlotStatus {
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
    ...(live && c.ip && c.port ? { ip: c.ip, port: c.port } : {}),
    ...(live && c.backlog !== undefined ? { backlog: c.backlog } : {}),
    restarts,
    since: '',
  };
}

export function withMemory<T extends { lastExitCode?: number; oomKilled?: boolean; lastLog?: string; nextRetryAt?: string }>(st: T, mem: SlotMemory, state: SlotState): T {
  if (mem.lastExitCode !== undefined) st.lastExitCode = mem.lastExitCode;
  if (mem.lastOom) st.oomKilled = true;
  if (mem.lastLog !== undefined) st.lastLog = mem.lastLog;
  if ((state === 'crashed' || state === 'backoff') && mem.nextRetryAt !== undefined) st.nextRetryAt = iso(mem.nextRetryAt);
  return st;
}

/** Keeps `since` when the slot is still in the same state with the same container. */
export function withSince(st: RunnerSlotStatus, prev: RunnerSlotStatus | undefined, now: number): RunnerSlotStatus {
  st.since = prev && prev.state === st.state && prev.containerId === st.containerId && prev.release === st.release ? prev.since : iso(now);
  return st;
}

/** A slot without a container, waiting out its backoff (e.g. after a failed create). */
export function backoffRecord(d: DesiredSlot, mem: SlotMemory, cfg: PlanConfig, prev: RunnerSlotStatus | undefined, now: number): RunnerSlotStatus {
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
  delete m.lastOom;
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
  if (src.oomKilled) m.lastOom = true;
  if (src.lastLog !== undefined) m.lastLog = src.lastLog;
  return m;
}
