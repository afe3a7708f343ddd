/** The reconcile planner, with plain data: no Docker, no clock. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rolloutVerdict } from '../../src/api/deploystream.js';
import type { ReleaseFailure } from '../../src/model/index.js';
import {
  backoffDelay,
  DEFAULT_DEREGISTER_DELAY_MS,
  DEFAULT_DRAIN_WAIT_MAX_MS,
  DEFAULT_READY_AFTER_MS,
  DRAIN_POLL_MS,
  DEFAULT_ROLLOUT_STABLE_MS,
  memoryFromStatus,
  plan,
  recordFailure,
  type Action,
  type DesiredSlot,
  type ObservedContainer,
  type PlanConfig,
  type PlanOutput,
  type RunnerSlotStatus,
  type SlotMemory,
} from '../../src/runtime/plan.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const cfg: PlanConfig = { nodeId: 'n1', host: '127.0.0.1', backoffBaseMs: 1000, backoffMaxMs: 8000, stableAfterMs: 30_000 };

function spec(app: string, index: number, release: number): DesiredSlot {
  return { app, index, release, image: `img-${app}-${release}`, port: 5000, env: { A: '1' } };
}

let seq = 0;
function ctr(app: string, index: number, release: number, state: ObservedContainer['state'], o: Partial<ObservedContainer> = {}): ObservedContainer {
  const running = state === 'running';
  return {
    id: o.id ?? `c${++seq}`,
    name: `pleaco-${app}-${index}-r${release}`,
    app,
    index,
    release,
    node: 'n1',
    image: `img-${app}-${release}`,
    state,
    exitCode: running ? null : 0,
    startedAt: T0 - 60_000,
    finishedAt: running ? null : T0 - 1000,
    hostPort: running ? 40000 + index : null,
    port: 5000,
    ip: running ? '172.17.0.2' : null,
    pid: running ? 4242 : null,
    oomKilled: false,
    ready: running,
    ...o,
  };
}

interface Opts {
  memory?: Map<string, SlotMemory>;
  previous?: Map<string, RunnerSlotStatus>;
  now?: number;
  config?: Partial<PlanConfig>;
  draining?: string[];
}
const run = (desired: DesiredSlot[], actual: ObservedContainer[], o: Opts = {}): PlanOutput =>
  plan({ desired, actual, memory: o.memory ?? new Map(), previous: o.previous ?? new Map(), now: o.now ?? T0, config: { ...cfg, ...o.config }, ...(o.draining ? { draining: new Set(o.draining) } : {}) });

/** How long a new container must have run (besides its port accepting) before it counts as ready. */
const READY = DEFAULT_READY_AFTER_MS;
/** How long a new container serves before the old one it replaced is removed. */
const STABLE = DEFAULT_ROLLOUT_STABLE_MS;

/** The plan's actions as `kind:slot[:reason]`, without the rollout-deadline wake-ups (tested on their own). */
const kinds = (out: PlanOutput): string[] =>
  out.actions.filter((a) => !(a.kind === 'wait' && a.reason === 'deadline')).map((a) => `${a.kind}:${a.slot}${'reason' in a && a.kind !== 'fail' ? ':' + a.reason : ''}`);
const of = <K extends Action['kind']>(out: PlanOutput, kind: K) => out.actions.filter((a): a is Extract<Action, { kind: K }> => a.kind === kind);

test('backoffDelay doubles from the base and is capped', () => {
  assert.equal([1, 2, 3, 4, 5, 40].map((f) => backoffDelay(f, cfg)), [1000, 2000, 4000, 8000, 8000, 8000]);
  assert.is(backoffDelay(0, cfg), 1000);
});

test('fresh slots are created, no record is published before their container exists', () => {
  const out = run([spec('web', 0, 1), spec('web', 1, 1)], []);
  assert.equal(kinds(out), ['create:web#0:new', 'create:web#1:new']);
  assert.is(out.statuses.size, 0);
  assert.is(out.memory.get('web#0')?.restarts, 0);
});

test('a ready container is running; since is kept while nothing changes', () => {
  const c = ctr('web', 0, 1, 'running', { id: 'a' });
  const first = run([spec('web', 0, 1)], [c]);
  assert.equal(first.actions, []);
  const st = first.statuses.get('web#0')!;
  assert.is(st.state, 'running');
  assert.is(st.hostPort, 40000);
  assert.is(st.host, '127.0.0.1');
  assert.is(st.containerId, 'a');
  assert.is(st.since, new Date(T0).toISOString());
  const later = run([spec('web', 0, 1)], [c], { previous: new Map([['web#0', st]]), now: T0 + 5000 });
  assert.equal(later.statuses.get('web#0'), st);
  assert.is(later.wakeAt, null);
});

test('a container is starting until it has run DEFAULT_READY_AFTER_MS and its port accepts', () => {
  // Port accepting, 100 ms short of the readiness delay.
  const young = ctr('web', 0, 1, 'running', { id: 'y', startedAt: T0 - READY + 100, ready: true });
  let out = run([spec('web', 0, 1)], [young]);
  assert.is(out.statuses.get('web#0')!.state, 'starting');
  assert.equal(kinds(out), ['wait:web#0:ready']);
  out = run([spec('web', 0, 1)], [young], { config: { readyPollMs: 10 } });
  assert.is(out.wakeAt, T0 + 100, 'looked at again once it has run DEFAULT_READY_AFTER_MS');
  out = run([spec('web', 0, 1)], [young], { config: { readyPollMs: 1000 } });
  assert.is(out.wakeAt, T0 + 1000, '… or at the next poll, if that is later');
  out = run([spec('web', 0, 1)], [young], { now: T0 + 99 });
  assert.is(out.statuses.get('web#0')!.state, 'starting');
  out = run([spec('web', 0, 1)], [young], { now: T0 + 100 });
  assert.equal([out.statuses.get('web#0')!.state, out.statuses.get('web#0')!.containerId, out.actions, out.wakeAt], ['running', 'y', [], null], 'ready once it has run DEFAULT_READY_AFTER_MS');
  const closed = ctr('web', 0, 1, 'running', { startedAt: T0 - 5000, ready: false });
  out = run([spec('web', 0, 1)], [closed]);
  assert.is(out.statuses.get('web#0')!.state, 'starting');
  assert.is(out.wakeAt, T0 + 100, 'a port that does not answer yet is polled every 100 ms at first');
  const slow = ctr('web', 0, 1, 'running', { startedAt: T0 - 60_000, ready: false });
  assert.is(run([spec('web', 0, 1)], [slow]).wakeAt, T0 + 2000, 'a long-silent port is polled less often');
});

test('an OOM kill is recorded on the slot (ps says so), kept across a runner restart, cleared by a crash that is not one', () => {
  const oom = ctr('web', 0, 1, 'exited', { id: 'o1', exitCode: 137, oomKilled: true, finishedAt: T0 - 100, startedAt: T0 - 600 });
  const st = run([spec('web', 0, 1)], [oom]).statuses.get('web#0')!;
  assert.equal([st.state, st.lastExitCode, st.oomKilled], ['crashed', 137, true]);
  assert.is(memoryFromStatus(st).lastOom, true);
  const plain = ctr('web', 0, 1, 'exited', { id: 'o2', exitCode: 1, finishedAt: T0 - 50, startedAt: T0 - 400 });
  const again = run([spec('web', 0, 1)], [plain], { memory: new Map([['web#0', memoryFromStatus(st)]]) }).statuses.get('web#0')!;
  assert.equal([again.lastExitCode, again.oomKilled], [1, undefined]);
});

test('a crash: crashed with exit code and log, then backoff, then restart after the delay', () => {
  const dead = ctr('web', 0, 1, 'exited', { id: 'd1', exitCode: 3, finishedAt: T0 - 100, startedAt: T0 - 600, log: 'boom\nbye' });
  const d = [spec('web', 0, 1)];
  const one = run(d, [dead]);
  const st = one.statuses.get('web#0')!;
  assert.is(st.state, 'crashed');
  assert.is(st.lastExitCode, 3);
  assert.is(st.lastLog, 'boom\nbye');
  assert.is(st.hostPort, null);
  assert.is(st.nextRetryAt, new Date(T0 - 100 + 1000).toISOString());
  assert.equal(kinds(one), ['wait:web#0:backoff']);
  assert.is(one.wakeAt, T0 + 900);

  const two = run(d, [{ ...dead, log: undefined }], { memory: one.memory, previous: new Map([['web#0', st]]), now: T0 + 500 });
  assert.is(two.statuses.get('web#0')!.state, 'backoff');
  assert.is(two.statuses.get('web#0')!.lastLog, 'boom\nbye', 'the log of the crash is kept');
  assert.is(two.memory.get('web#0')!.failures, 1, 'the same crash is counted once');

  const three = run(d, [dead], { memory: two.memory, now: T0 + 900 });
  assert.equal(kinds(three), ['restart:web#0']);
  assert.is(of(three, 'restart')[0]!.containerId, 'd1');
  assert.is(three.memory.get('web#0')!.restarts, 1);
  assert.not.ok(three.statuses.has('web#0'), 'no record until the new container exists');
});

test('crash loops back off exponentially up to the cap', () => {
  let memory = new Map<string, SlotMemory>();
  const delays: number[] = [];
  let now = T0;
  for (let i = 0; i < 6; i++) {
    const c = ctr('web', 0, 1, 'exited', { id: `loop${i}`, exitCode: 1, startedAt: now - 50, finishedAt: now });
    const out = run([spec('web', 0, 1)], [c], { memory, now });
    const m = out.memory.get('web#0')!;
    delays.push(m.nextRetryAt! - now);
    now = m.nextRetryAt!;
    memory = run([spec('web', 0, 1)], [c], { memory: out.memory, now }).memory; // the restart
  }
  assert.equal(delays, [1000, 2000, 4000, 8000, 8000, 8000]);
  assert.is(memory.get('web#0')!.restarts, 6);
});

test('a stable run resets the backoff', () => {
  const memory = new Map<string, SlotMemory>([['web#0', { release: 1, restarts: 4, failures: 4, nextRetryAt: T0 - 40_000 }]]);
  // Crashed after running longer than stableAfterMs: back to the base delay.
  const longRun = ctr('web', 0, 1, 'exited', { id: 'x', exitCode: 137, startedAt: T0 - 100_000, finishedAt: T0 });
  assert.is(run([spec('web', 0, 1)], [longRun], { memory }).memory.get('web#0')!.nextRetryAt, T0 + 1000);
  // Still running after stableAfterMs: failures forgotten, restarts kept.
  const stable = ctr('web', 0, 1, 'running', { startedAt: T0 - 31_000 });
  const m = run([spec('web', 0, 1)], [stable], { memory }).memory.get('web#0')!;
  assert.is(m.failures, 0);
  assert.is(m.restarts, 4);
  assert.is(m.nextRetryAt, undefined);
});

test('a container that never started counts as a crash without exit code', () => {
  const c = ctr('web', 0, 1, 'created', { startedAt: null, finishedAt: null, exitCode: null });
  const out = run([spec('web', 0, 1)], [c]);
  const st = out.statuses.get('web#0')!;
  assert.is(st.state, 'crashed');
  assert.is(st.lastExitCode, undefined);
  assert.is(st.nextRetryAt, new Date(T0 + 1000).toISOString());
});

test('rollout: new first, old kept until the new is ready, then as fallback; the next slot once it switched', () => {
  const o0 = ctr('web', 0, 1, 'running', { id: 'o0' });
  const o1 = ctr('web', 1, 1, 'running', { id: 'o1' });
  const d = [spec('web', 0, 2), spec('web', 1, 2)];
  const a = run(d, [o0, o1]);
  assert.equal(kinds(a), ['create:web#0:rollout'], 'only slot 0 starts');
  assert.is(a.statuses.get('web#0')!.containerId, 'o0', 'the old container still serves');
  assert.is(a.statuses.get('web#0')!.next?.state, 'starting');
  assert.is(a.statuses.get('web#1')!.release, 1);
  assert.is(a.statuses.get('web#1')!.next, undefined);

  // Port accepting, but 1 ms short of DEFAULT_READY_AFTER_MS.
  const n0young = ctr('web', 0, 2, 'running', { id: 'n0', startedAt: T0 - READY + 1 });
  const b = run(d, [o0, n0young, o1], { memory: a.memory });
  assert.equal(kinds(b), ['wait:web#0:ready'], 'nothing removed while the new one is not ready');
  const st = b.statuses.get('web#0')!;
  assert.equal([st.containerId, st.state, st.hostPort, st.next?.containerId, st.next?.state], ['o0', 'running', 40000, 'n0', 'starting']);
  // Long enough, but its port does not accept yet.
  const n0closed = { ...n0young, startedAt: T0 - READY, ready: false };
  const b2 = run(d, [o0, n0closed, o1], { memory: b.memory });
  assert.equal(kinds(b2), ['wait:web#0:ready'], 'nothing removed while the new one’s port does not accept');
  assert.equal([b2.statuses.get('web#0')!.containerId, b2.statuses.get('web#0')!.next?.containerId], ['o0', 'n0']);

  const n0 = { ...n0young, startedAt: T0 - READY };
  const c = run(d, [o0, n0, o1], { memory: b.memory, previous: new Map([['web#0', st]]) });
  assert.equal(kinds(c), ['wait:web#0:stable', 'create:web#1:rollout'], 'the old one is kept as fallback; slot 1 starts at once');
  assert.is(c.wakeAt, T0 + STABLE);
  const sw = c.statuses.get('web#0')!;
  assert.equal([sw.containerId, sw.release, sw.state, sw.hostPort, sw.next, sw.fallback, sw.since], ['n0', 2, 'running', 40000, undefined, { containerId: 'o0', release: 1 }, new Date(T0).toISOString()], 'switched at once');

  const n1 = ctr('web', 1, 2, 'running', { id: 'n1', startedAt: T0 + 10, ready: false });
  const prev = new Map([['web#0', sw]]);
  const c2 = run(d, [o0, n0, o1, n1], { memory: c.memory, previous: prev, now: T0 + STABLE - 1 });
  assert.equal(kinds(c2), ['wait:web#0:stable', 'wait:web#1:ready']);
  assert.equal(c2.statuses.get('web#0'), sw, 'the record stays as it is during the window');
  const c3 = run(d, [o0, n0, o1, n1], { memory: c2.memory, previous: prev, now: T0 + STABLE });
  assert.equal(kinds(c3), ['remove:web#0:replaced', 'wait:web#1:ready']);
  assert.is(of(c3, 'remove')[0]!.containerId, 'o0');
  assert.ok(of(c3, 'remove')[0]!.graceful);
  assert.equal(c3.statuses.get('web#0')!.fallback, { containerId: 'o0', release: 1 }, 'fallback until it is gone');

  const e = run(d, [n0, o1, { ...n1, ready: true }], { memory: c3.memory, previous: prev, now: T0 + STABLE + 10 });
  assert.equal(kinds(e), ['wait:web#1:stable'], 'slot 1 switched');
  const done = e.statuses.get('web#0')!;
  assert.equal([done.containerId, done.fallback, done.since], ['n0', undefined, sw.since], 'the record without fallback (published: the deploy stream re-checks)');
  assert.equal([e.statuses.get('web#1')!.containerId, e.statuses.get('web#1')!.fallback?.containerId], ['n1', 'o1']);
});

test('rollout across nodes: a slot waits while a lower slot of the app on another node has not finished', () => {
  const d = [spec('web', 1, 2), spec('web', 2, 2)];
  const old = [ctr('web', 1, 1, 'running'), ctr('web', 2, 1, 'running')];
  const seen: [string, number, number][] = [];
  const waiting = plan({ desired: d, actual: old, memory: new Map(), previous: new Map(), now: T0, config: cfg, waitForOthers: (app, i, r) => (seen.push([app, i, r]), true) });
  assert.equal(kinds(waiting), [], 'web#0 elsewhere is still rolling out: nothing starts here');
  assert.equal(seen, [['web', 1, 2]], 'asked for the lowest slot here, with the release it moves to');
  const free = plan({ desired: d, actual: old, memory: new Map(), previous: new Map(), now: T0, config: cfg, waitForOthers: () => false });
  assert.equal(kinds(free), ['create:web#1:rollout'], 'then the lowest slot here goes, one at a time');
});

test('rollout: rolloutStableMs is configurable', () => {
  const o0 = ctr('web', 0, 1, 'running', { id: 'o0' });
  const n0 = ctr('web', 0, 2, 'running', { id: 'n0', startedAt: T0 - READY });
  const d = [spec('web', 0, 2)];
  const first = run(d, [o0, n0], { config: { rolloutStableMs: 500 } });
  assert.is(first.wakeAt, T0 + 500);
  const later = run(d, [o0, n0], { config: { rolloutStableMs: 500 }, memory: first.memory, previous: new Map([['web#0', first.statuses.get('web#0')!]]), now: T0 + 500 });
  assert.equal(kinds(later), ['remove:web#0:replaced']);
  const none = run(d, [o0, n0], { config: { rolloutStableMs: 0 } });
  assert.equal(kinds(none), ['remove:web#0:replaced'], '0: removed at the switch (the old behaviour)');
});

test('rollout: the fallback is not removed while a proxy still drains it; removed once not listed', () => {
  const o0 = ctr('web', 0, 1, 'running', { id: 'o0' });
  const o1 = ctr('web', 1, 1, 'running', { id: 'o1' });
  const n0 = ctr('web', 0, 2, 'running', { id: 'n0', startedAt: T0 - READY });
  const n1 = ctr('web', 1, 2, 'running', { id: 'n1', startedAt: T0 - READY });
  const d = [spec('web', 0, 2), spec('web', 1, 2)];
  const sw = run(d, [o0, n0, o1, n1], { draining: ['o0'] });
  const prev = new Map([['web#0', sw.statuses.get('web#0')!], ['web#1', sw.statuses.get('web#1')!]]);
  const held = run(d, [o0, n0, n1], { memory: sw.memory, previous: prev, now: T0 + STABLE, draining: ['o0', 'other'] });
  assert.equal(kinds(held), ['wait:web#0:drain'], 'still draining: kept');
  assert.is(held.wakeAt, T0 + STABLE + DRAIN_POLL_MS);
  assert.equal(held.statuses.get('web#0')!.fallback, { containerId: 'o0', release: 1 }, 'still the fallback');
  const later = run(d, [o0, n0, n1], { memory: held.memory, previous: prev, now: T0 + STABLE + 1000, draining: ['o0'] });
  assert.equal(kinds(later), ['wait:web#0:drain']);
  const gone = run(d, [o0, n0, n1], { memory: later.memory, previous: prev, now: T0 + STABLE + 1250, draining: ['other'] });
  assert.equal(kinds(gone), ['remove:web#0:replaced'], 'drained: removed');
  assert.is(of(gone, 'remove')[0]!.containerId, 'o0');
  assert.ok(of(gone, 'remove')[0]!.graceful, 'stopped with a grace period');
  assert.is(gone.memory.get('web#0')!.drainWait, undefined);
});

test('rollout: the wait for a drain is bounded (drainWaitMaxMs after the removal was due)', () => {
  const o0 = ctr('web', 0, 1, 'running', { id: 'o0' });
  const n0 = ctr('web', 0, 2, 'running', { id: 'n0', startedAt: T0 - READY });
  const d = [spec('web', 0, 2)];
  const sw = run(d, [o0, n0]);
  const prev = new Map([['web#0', sw.statuses.get('web#0')!]]);
  const due = T0 + STABLE;
  const last = run(d, [o0, n0], { memory: sw.memory, previous: prev, now: due + DEFAULT_DRAIN_WAIT_MAX_MS - 100, draining: ['o0'] });
  assert.equal(kinds(last), ['wait:web#0:drain']);
  assert.is(last.wakeAt, due + DEFAULT_DRAIN_WAIT_MAX_MS, 'wakes at the bound, not later');
  const over = run(d, [o0, n0], { memory: last.memory, previous: prev, now: due + DEFAULT_DRAIN_WAIT_MAX_MS, draining: ['o0'] });
  assert.equal(kinds(over), ['remove:web#0:replaced'], 'removed at the bound even though still listed');
  const cfgd = run(d, [o0, n0], { memory: sw.memory, previous: prev, now: due + 500, draining: ['o0'], config: { drainWaitMaxMs: 500 } });
  assert.equal(kinds(cfgd), ['remove:web#0:replaced'], 'drainWaitMaxMs is configurable');
});

test('an old container that does not serve waits for its drain too, bounded from when it was first held', () => {
  const o0 = ctr('web', 0, 1, 'running', { id: 'o0', startedAt: T0 - 60_000 });
  const o0b = ctr('web', 0, 1, 'running', { id: 'o0b', startedAt: T0 - 50_000 });
  const n0 = ctr('web', 0, 2, 'running', { id: 'n0', startedAt: T0 - 10, ready: false });
  const d = [spec('web', 0, 2)];
  const a = run(d, [o0, o0b, n0], { draining: ['o0'] });
  assert.ok(!of(a, 'remove').some((r) => r.containerId === 'o0'), 'not removed while draining');
  assert.is(a.memory.get('web#0')!.drainWait?.['o0'], T0);
  const b = run(d, [o0, o0b, n0], { memory: a.memory, now: T0 + DEFAULT_DRAIN_WAIT_MAX_MS, draining: ['o0'] });
  assert.equal(of(b, 'remove').map((r) => [r.containerId, r.reason]), [['o0', 'replaced']], 'removed at the bound');
  const c = run(d, [o0, o0b, n0], { draining: [] });
  assert.equal(of(c, 'remove').map((r) => r.containerId), ['o0'], 'not listed: removed at once');
});

test('a crash within the stable window switches the record back to the old container', () => {
  const o0 = ctr('web', 0, 1, 'running', { id: 'o0' });
  const o1 = ctr('web', 1, 1, 'running', { id: 'o1' });
  const d = [spec('web', 0, 2), spec('web', 1, 2)];
  const n0 = ctr('web', 0, 2, 'running', { id: 'n0', startedAt: T0 - READY });
  const sw = run(d, [o0, n0, o1]);
  assert.equal([sw.statuses.get('web#0')!.containerId, sw.statuses.get('web#0')!.fallback?.containerId], ['n0', 'o0']);

  const dead = { ...n0, state: 'exited' as const, exitCode: 3, finishedAt: T0 + 900, hostPort: null, ready: false, log: 'bye' };
  const back = run(d, [o0, dead, o1], { memory: sw.memory, previous: new Map([['web#0', sw.statuses.get('web#0')!]]), now: T0 + 1000 });
  const st = back.statuses.get('web#0')!;
  assert.equal([st.containerId, st.release, st.state, st.hostPort, st.fallback], ['o0', 1, 'running', 40000, undefined], 'the old container serves again');
  assert.equal([st.next?.containerId, st.next?.state, st.next?.lastExitCode, st.next?.lastLog, st.next?.release], ['n0', 'crashed', 3, 'bye', 2]);
  assert.equal(kinds(back), ['wait:web#0:backoff'], 'nothing removed; slot 1 untouched');
  assert.equal([back.statuses.get('web#1')!.containerId, back.statuses.get('web#1')!.next], ['o1', undefined]);

  // The new release is retried after its backoff, the old one still serving meanwhile.
  const retry = run(d, [o0, dead, o1], { memory: back.memory, previous: new Map([['web#0', st]]), now: T0 + 1900 });
  assert.equal(kinds(retry), ['restart:web#0']);
  assert.equal([retry.statuses.get('web#0')!.containerId, retry.statuses.get('web#0')!.next?.state], ['o0', 'starting']);

  // No verdict yet: the old container serves and the runner retries (it gives up after 3 crashes or the deadline).
  assert.is(rolloutVerdict(2, 2, 2, [st, back.statuses.get('web#1')!]), null);
});

test('the next slot starts its new container once the previous slot switched, not while it only starts', () => {
  const o0 = ctr('web', 0, 1, 'running', { id: 'o0' });
  const o1 = ctr('web', 1, 1, 'running', { id: 'o1' });
  const d = [spec('web', 0, 2), spec('web', 1, 2)];
  const young = ctr('web', 0, 2, 'running', { id: 'n0', startedAt: T0 - 10, ready: false });
  let previous = new Map<string, RunnerSlotStatus>();
  let memory = new Map<string, SlotMemory>();
  for (const dt of [0, 1000, 2000]) {
    const out = run(d, [o0, young, o1], { memory, previous, now: T0 + dt });
    assert.not.ok(kinds(out).some((k) => k.startsWith('create') || k.startsWith('remove')), `nothing started or removed at +${dt} ms: ${kinds(out)}`);
    assert.equal([out.statuses.get('web#1')!.containerId, out.statuses.get('web#1')!.next], ['o1', undefined]);
    previous = new Map([...out.statuses].filter((e): e is [string, RunnerSlotStatus] => e[1] !== null));
    memory = out.memory;
    assert.is(rolloutVerdict(2, 2, 2, [...previous.values()]), null, 'the deploy is not done');
  }
  const sw = run(d, [o0, { ...young, ready: true }, o1], { memory, previous, now: T0 + 2500 });
  assert.equal(kinds(sw), ['wait:web#0:stable', 'create:web#1:rollout'], 'slot 0 switched and keeps its fallback; slot 1 starts');
  assert.is(sw.statuses.get('web#0')!.fallback?.containerId, 'o0');
});

test('a ready container waits for its turn: slot 1 does not switch before slot 0, then both in one plan', () => {
  const d = [spec('web', 0, 2), spec('web', 1, 2)];
  const o0 = ctr('web', 0, 1, 'running', { id: 'o0' });
  const o1 = ctr('web', 1, 1, 'running', { id: 'o1' });
  const n1 = ctr('web', 1, 2, 'running', { id: 'n1', startedAt: T0 - READY });
  const n0young = ctr('web', 0, 2, 'running', { id: 'n0', startedAt: T0 - 10, ready: false });
  const early = run(d, [o0, n0young, o1, n1]);
  const st1 = early.statuses.get('web#1')!;
  assert.equal([st1.containerId, st1.next?.containerId, st1.next?.state], ['o1', 'n1', 'starting'], 'slot 1 ready but slot 0 not yet: the old container serves on');
  const both = run(d, [o0, { ...n0young, ready: true, startedAt: T0 - READY }, o1, n1], { memory: early.memory, previous: new Map([['web#1', st1]]) });
  assert.equal([both.statuses.get('web#0')!.containerId, both.statuses.get('web#1')!.containerId], ['n0', 'n1'], 'both switch in one plan, in slot order');
  assert.equal(kinds(both), ['wait:web#0:stable', 'wait:web#1:stable']);
});

test('a rollout holds while a slot already rolled crashes: the next slot keeps its fallback and starts nothing', () => {
  const o1 = ctr('web', 1, 1, 'running', { id: 'o1' });
  const d = [spec('web', 0, 2), spec('web', 1, 2)];
  const dead0 = ctr('web', 0, 2, 'exited', { id: 'n0', exitCode: 2, startedAt: T0 - 5000, finishedAt: T0 - 10, log: 'late crash' });
  const n1 = ctr('web', 1, 2, 'running', { id: 'n1', startedAt: T0 - STABLE - READY });
  const up0 = { ...dead0, state: 'running' as const, exitCode: null, finishedAt: null, hostPort: 40000, ready: true };
  const sw1 = run(d, [up0, n1, o1], { now: T0 - STABLE });
  assert.is(sw1.statuses.get('web#1')!.containerId, 'n1', 'slot 1 switched while slot 0 ran');
  const held = run(d, [dead0, n1, o1], { memory: sw1.memory, previous: new Map([['web#1', sw1.statuses.get('web#1')!]]) });
  assert.equal(kinds(held), ['wait:web#0:backoff'], 'slot 1 keeps its fallback past the window');
  assert.equal(held.statuses.get('web#1')!.fallback, { containerId: 'o1', release: 1 });
  // Slot 1 ready but not switched yet: it does not while slot 0 is down.
  const notYet = run(d, [dead0, n1, o1], { memory: sw1.memory });
  assert.equal([notYet.statuses.get('web#1')!.containerId, notYet.statuses.get('web#1')!.next?.containerId], ['o1', 'n1']);
  // Slot 1 had not started yet: it does not while slot 0 is down.
  const early = run(d, [dead0, o1], { memory: sw1.memory });
  assert.not.ok(kinds(early).includes('create:web#1:rollout'));
  // A crash before any rollout of an old container does not hold: that slot had nothing to lose.
  const x0 = ctr('web', 0, 1, 'exited', { id: 'x0' });
  assert.ok(kinds(run(d, [x0, o1])).includes('create:web#1:rollout'));
});

interface SimOpts {
  replicas: number;
  /** How long a v2 container runs before it exits (null: it stays up). */
  lifeMs: number | null;
  untilMs: number;
  stepMs?: number;
  config?: Partial<PlanConfig>;
  /** v2 containers run but never pass their checks. */
  neverReady?: boolean;
  /** The desired slots' health check deadline (a health check /health, rise 2, is set when given). */
  deadlineMs?: number;
}
interface Sim {
  /** Per step: how many containers were running and ready, and how many records pointed to one. */
  minServing: number;
  minServingRecords: number;
  verdicts: { t: number; ok: boolean; code?: string; message?: string; lastLog?: string }[];
  /** The 'fail' actions the plan asked for, with when (ms after the release). */
  fails: { t: number; slot: string; rollbackTo: number | null; reason: string }[];
  creates: string[];
  /** Time (ms after the release) the first record of v2 was published. */
  firstV2At: number | null;
  containers: ObservedContainer[];
  records: Map<string, RunnerSlotStatus>;
  v1: string[];
}

/** Drives plan() like the runner does (plan, publish, act, plan again until idle) over simulated time. */
function simulate(o: SimOpts): Sim {
  const step = o.stepMs ?? 25;
  const config = { ...cfg, ...o.config };
  let port = 41000;
  const world: ObservedContainer[] = [];
  const v1 = Array.from({ length: o.replicas }, (_, i) => ctr('sim', i, 1, 'running', { id: `v1-${i}`, hostPort: port++ }));
  world.push(...v1);
  let memory = new Map<string, SlotMemory>();
  const records = new Map<string, RunnerSlotStatus>();
  const publish = (out: PlanOutput): void => {
    for (const [k, st] of out.statuses) if (st === null) records.delete(k); else records.set(k, st);
    memory = out.memory;
  };
  publish(plan({ desired: v1.map((c) => spec('sim', c.index, 1)), actual: world, memory, previous: records, now: T0 - 1, config }));
  // The agent's part, faked: the first 'fail' records the failure and makes rollbackTo current (desired) again.
  const withHealth = (d: DesiredSlot): DesiredSlot => (o.deadlineMs ? { ...d, health: { path: '/health', host: 'sim.localhost', rise: 2, deadlineMs: o.deadlineMs } } : d);
  let desired = Array.from({ length: o.replicas }, (_, i) => withHealth(spec('sim', i, 2)));
  let current = 2;
  let failure: ReleaseFailure | undefined;
  const sim: Sim = { minServing: Infinity, minServingRecords: Infinity, verdicts: [], fails: [], creates: [], firstV2At: null, containers: world, records, v1: v1.map((c) => c.id) };
  let n = 0;
  const up = (c: ObservedContainer): boolean => c.state === 'running' && c.ready === true;
  const check = (now: number): void => {
    sim.minServing = Math.min(sim.minServing, world.filter(up).length);
    const servingRecords = [...records.values()].filter((r) => r.state === 'running' && world.some((c) => c.id === r.containerId && up(c)));
    sim.minServingRecords = Math.min(sim.minServingRecords, servingRecords.length);
    if (sim.firstV2At === null && [...records.values()].some((r) => r.release === 2 && r.state === 'running')) sim.firstV2At = now - T0;
    const v = rolloutVerdict(2, current, o.replicas, [...records.values()], failure);
    if (v) sim.verdicts.push({ t: now - T0, ok: v.ok, ...(v.ok ? {} : { code: v.error.code, message: v.error.message, ...(v.lastLog ? { lastLog: v.lastLog } : {}) }) });
  };
  for (let now = T0; now <= T0 + o.untilMs; now += step) {
    // The world moves on: ports open 50 ms after the start; v2 containers exit after lifeMs.
    for (const c of world) {
      if (c.state !== 'running' || c.startedAt === null) continue;
      if (c.release === 2 && o.lifeMs !== null && now >= c.startedAt + o.lifeMs) {
        Object.assign(c, { state: 'exited', exitCode: 3, finishedAt: c.startedAt + o.lifeMs, hostPort: null, ready: false, log: 'listening\nbye' });
      } else if (now - c.startedAt >= 50 && !(o.neverReady && c.release === 2)) c.ready = true;
    }
    check(now);
    for (let pass = 0; pass < 6; pass++) {
      const out = plan({ desired, actual: world.map((c) => ({ ...c })), memory, previous: records, now, config });
      publish(out);
      check(now);
      const work = out.actions.filter((a) => a.kind !== 'wait');
      if (work.length === 0) break;
      for (const a of work) {
        if (a.kind === 'fail') {
          sim.fails.push({ t: now - T0, slot: a.slot, rollbackTo: a.rollbackTo, reason: a.reason });
          if (failure) continue;
          failure = { at: '', reason: a.reason, node: 'n1', slot: a.slot, rolledBackTo: a.rollbackTo, ...(a.lastLog ? { lastLog: a.lastLog } : {}) };
          if (a.rollbackTo !== null) {
            current = a.rollbackTo;
            desired = desired.map((d) => withHealth(spec('sim', d.index, a.rollbackTo!)));
          }
        }
        if (a.kind === 'remove' || a.kind === 'restart') world.splice(world.findIndex((c) => c.id === a.containerId), 1);
        if (a.kind === 'create' || a.kind === 'restart') {
          sim.creates.push(`${a.slot}@${now - T0}`);
          world.push(ctr('sim', a.spec.index, a.spec.release, 'running', { id: `v${a.spec.release}-${a.spec.index}-${++n}`, startedAt: now, hostPort: port++, ready: false }));
        }
      }
      check(now);
    }
  }
  return sim;
}

test('2 replicas, a v2 that listens then exits after 1 s: never zero serving; given up after 3 crashes and rolled back', () => {
  // Crashes at +1, +3 (restart after 1 s), +6 s (restart after 2 s): the third crash gives the release up.
  const sim = simulate({ replicas: 2, lifeMs: 1000, untilMs: 18_000 });
  assert.ok(sim.minServing >= 1, `at least one container serves at every step (min ${sim.minServing})`);
  assert.ok(sim.minServingRecords >= 1, 'at least one record points to a serving container after every plan');
  assert.is(sim.firstV2At, READY, 'traffic moved to the new container as soon as it was ready');
  assert.not.ok(sim.verdicts.some((v) => v.ok), 'the deploy is never reported ok');
  assert.equal(sim.fails.map((f) => [f.slot, f.rollbackTo, f.reason]), [['sim#0', 1, 'sim#0 crashed 3 times in a row (last exit code 3)']], 'given up once');
  assert.ok(sim.fails[0]!.t >= 6000 && sim.fails[0]!.t <= 6000 + 50, `at the third crash (+${sim.fails[0]!.t} ms)`);
  const failed = sim.verdicts[0]!;
  assert.equal([failed.ok, failed.code, failed.message, failed.lastLog], [false, 'rollout_failed', 'release v2 failed: sim#0 crashed 3 times in a row (last exit code 3); rolled back to v1', 'listening\nbye']);
  assert.equal(sim.creates.filter((c) => c.startsWith('sim#0@')).length, 3, `slot 0 tried the new release three times: ${sim.creates}`);
  assert.ok(sim.creates.filter((c) => c.startsWith('sim#1@')).length <= 3, 'slot 1 (started once slot 0 switched) no more often');
  assert.equal(sim.containers.map((c) => c.id).sort(), sim.v1, 'only the two v1 containers run');
  const [r0, r1] = [sim.records.get('sim#0')!, sim.records.get('sim#1')!];
  assert.equal([r0.release, r0.containerId, r0.state, r0.next, r0.fallback], [1, 'v1-0', 'running', undefined, undefined], 'slot 0 serves v1, nothing pending');
  assert.equal([r1.release, r1.containerId, r1.state, r1.next], [1, 'v1-1', 'running', undefined]);
});

test('a v2 that never gets ready: given up at the deadline with the served release to go back to', () => {
  const sim = simulate({ replicas: 2, lifeMs: null, neverReady: true, untilMs: 12_000, deadlineMs: 5000 });
  assert.ok(sim.minServing >= 2, 'both v1 containers served throughout');
  assert.equal(sim.fails.map((f) => [f.t, f.slot, f.rollbackTo]), [[5000, 'sim#0', 1]]);
  assert.match(sim.fails[0]!.reason, /^sim#0 was not healthy within 5 s \(waiting for GET \/health answered 2xx\/3xx 2 times in a row\)$/);
  assert.ok(sim.verdicts.every((v) => !v.ok) && sim.verdicts.length > 0);
  assert.equal(sim.containers.map((c) => c.id).sort(), sim.v1, 'the v2 container is gone, v1 runs on');
  assert.equal([...sim.records.values()].map((r) => [r.release, r.next]), [[1, undefined], [1, undefined]]);
});

test('a v2 that crashes within its window on every slot: each slot falls back, never zero serving containers', () => {
  // Every slot keeps its old container as fallback for rolloutStableMs after its switch: a release that dies within
  // that window anywhere is never left without a container that serves. (One that dies only later is restarted like
  // any crash: rollouts go on once a slot switched, like a Kubernetes rolling update, but keep the fallback.)
  for (const [replicas, lifeMs] of [[2, 1000], [2, STABLE - 500], [3, 1000], [4, 1000]] as const) {
    const sim = simulate({ replicas, lifeMs, untilMs: 30_000 });
    assert.ok(sim.minServing >= replicas, `${replicas} replicas, life ${lifeMs} ms: every slot kept a serving container (min ${sim.minServing})`);
    assert.ok(sim.minServingRecords >= 1, `${replicas} replicas, life ${lifeMs} ms: at least one record points to a serving container`);
    assert.equal(sim.fails.map((f) => [f.slot, f.rollbackTo]), [['sim#0', 1]], `${replicas} replicas, life ${lifeMs} ms: given up once, rolled back`);
    assert.equal(sim.containers.map((c) => c.id).sort(), sim.v1, `${replicas} replicas, life ${lifeMs} ms: only the v1 containers run`);
    assert.not.ok(sim.verdicts.some((v) => v.ok), `${replicas} replicas, life ${lifeMs} ms: never ok`);
  }
});

test('a good v2 on 3 replicas: switched at ready, slot by slot, done only once every old one is gone', () => {
  const sim = simulate({ replicas: 3, lifeMs: null, untilMs: 15_000 });
  assert.is(sim.firstV2At, READY);
  assert.ok(sim.minServing >= 3, 'every slot served throughout');
  assert.equal(sim.creates, ['sim#0@0', `sim#1@${READY}`, `sim#2@${2 * READY}`], 'each slot starts once the one before switched');
  assert.is(sim.verdicts.find((v) => v.ok)?.t, 3 * READY + STABLE, 'done once the last old container is removed');
  assert.equal([...sim.records.values()].map((r) => [r.release, r.state, r.fallback, r.next]), [[2, 'running', undefined, undefined], [2, 'running', undefined, undefined], [2, 'running', undefined, undefined]]);
  assert.equal(sim.containers.map((c) => c.release), [2, 2, 2]);
});

test('rollout of a crashing release keeps the old container serving and shows the crash in next', () => {
  const o0 = ctr('web', 0, 1, 'running', { id: 'o0' });
  const o1 = ctr('web', 1, 1, 'running', { id: 'o1' });
  const bad = ctr('web', 0, 2, 'exited', { id: 'b0', exitCode: 1, log: 'cannot start', finishedAt: T0 - 10, startedAt: T0 - 20 });
  const out = run([spec('web', 0, 2), spec('web', 1, 2)], [o0, bad, o1]);
  assert.equal(kinds(out), ['wait:web#0:backoff']);
  const st = out.statuses.get('web#0')!;
  assert.equal([st.containerId, st.state, st.release], ['o0', 'running', 1]);
  assert.equal([st.next?.state, st.next?.lastExitCode, st.next?.lastLog, st.next?.release], ['crashed', 1, 'cannot start', 2]);
  assert.ok(st.next?.nextRetryAt);
});

test('old containers that do not serve are removed at once and do not hold the rollout', () => {
  const dead0 = ctr('web', 0, 1, 'exited', { id: 'x0' });
  const o1 = ctr('web', 1, 1, 'running', { id: 'o1' });
  const out = run([spec('web', 0, 2), spec('web', 1, 2)], [dead0, o1]);
  assert.equal(kinds(out).sort(), ['create:web#0:new', 'create:web#1:rollout', 'remove:web#0:stale'].sort());
});

test('scale down removes the highest slots first and then deletes their records', () => {
  const cs = [0, 1, 2].map((i) => ctr('web', i, 1, 'running', { id: `w${i}` }));
  const previous = new Map<string, RunnerSlotStatus>();
  for (const i of [0, 1, 2, 3]) previous.set(`web#${i}`, run([spec('web', i, 1)], [ctr('web', i, 1, 'running')]).statuses.get(`web#${i}`)!);
  const first = run([spec('web', 0, 1)], cs, { previous });
  assert.equal(kinds(first), ['wait:web#2:drain', 'wait:web#1:drain'], "published 'stopping' first: the proxies take them out of rotation");
  assert.equal(of(first, 'wait').map((a) => a.until), [T0 + DEFAULT_DEREGISTER_DELAY_MS, T0 + DEFAULT_DEREGISTER_DELAY_MS]);
  assert.is(first.statuses.get('web#2')!.state, 'stopping');
  assert.is(first.statuses.get('web#3'), null, 'a record without container or desire is deleted');
  const out = run([spec('web', 0, 1)], cs, { previous, memory: first.memory, now: T0 + DEFAULT_DEREGISTER_DELAY_MS });
  assert.equal(kinds(out), ['remove:web#2:unwanted', 'remove:web#1:unwanted']);
  assert.equal(of(out, 'remove').map((a) => a.graceful), [true, true]);
  assert.is(out.statuses.get('web#2')!.state, 'stopping');
  const after = run([spec('web', 0, 1)], [cs[0]!], { previous });
  assert.is(after.statuses.get('web#1'), null);
  assert.is(after.statuses.get('web#2'), null);
});

test('a deleted app (or one without a current release) loses all its containers', () => {
  const cs = [ctr('gone', 0, 3, 'running'), ctr('gone', 1, 3, 'exited'), ctr('web', 0, 1, 'running')];
  const first = run([spec('web', 0, 1)], cs);
  assert.equal(kinds(first), ['remove:gone#1:unwanted', 'wait:gone#0:drain'], 'an exited one goes at once, a running one after the deregistration delay');
  const out = run([spec('web', 0, 1)], cs, { memory: first.memory, now: T0 + DEFAULT_DEREGISTER_DELAY_MS });
  assert.equal(kinds(out), ['remove:gone#1:unwanted', 'remove:gone#0:unwanted']);
  assert.equal(of(out, 'remove').map((a) => a.graceful), [false, true]);
});

test('scale down waits while a proxy drains the container (bounded), then stops it', () => {
  const cs = [0, 1].map((i) => ctr('web', i, 1, 'running', { id: `w${i}` }));
  const first = run([spec('web', 0, 1)], cs);
  const t1 = T0 + DEFAULT_DEREGISTER_DELAY_MS;
  const held = run([spec('web', 0, 1)], cs, { memory: first.memory, now: t1, draining: ['w1'] });
  assert.equal(kinds(held), ['wait:web#1:drain'], 'still draining: not stopped');
  const still = run([spec('web', 0, 1)], cs, { memory: held.memory, now: t1 + DEFAULT_DRAIN_WAIT_MAX_MS - 1, draining: ['w1'] });
  assert.equal(kinds(still), ['wait:web#1:drain']);
  const capped = run([spec('web', 0, 1)], cs, { memory: still.memory, now: t1 + DEFAULT_DRAIN_WAIT_MAX_MS, draining: ['w1'] });
  assert.equal(kinds(capped), ['remove:web#1:unwanted'], 'never more than the drain bound');
  const drained = run([spec('web', 0, 1)], cs, { memory: held.memory, now: t1 + 500, draining: [] });
  assert.equal(kinds(drained), ['remove:web#1:unwanted'], 'stopped once no proxy drains it');
});

test('duplicates of a slot: the ready one stays', () => {
  const good = ctr('web', 0, 1, 'running', { id: 'good' });
  const other = ctr('web', 0, 1, 'running', { id: 'other', ready: false, startedAt: T0 - 10 });
  const out = run([spec('web', 0, 1)], [other, good]);
  assert.equal(kinds(out), ['remove:web#0:duplicate']);
  assert.is(of(out, 'remove')[0]!.containerId, 'other');
  assert.is(out.statuses.get('web#0')!.containerId, 'good');
});

test('containers being removed by Docker are ignored', () => {
  const out = run([spec('web', 0, 1)], [ctr('web', 0, 1, 'removing')]);
  assert.equal(kinds(out), ['create:web#0:new']);
});

test('a failed create backs off without a container, then retries and counts a restart', () => {
  const m = recordFailure(undefined, 1, 'image img-web-1 is not present on this node', T0, cfg);
  assert.equal([m.failures, m.nextRetryAt, m.lastLog], [1, T0 + 1000, 'image img-web-1 is not present on this node']);
  const memory = new Map([['web#0', m]]);
  const waiting = run([spec('web', 0, 1)], [], { memory, now: T0 + 10 });
  assert.equal(kinds(waiting), ['wait:web#0:backoff']);
  const st = waiting.statuses.get('web#0')!;
  assert.equal([st.state, st.containerId, st.hostPort, st.lastLog], ['backoff', '', null, m.lastLog]);
  const retry = run([spec('web', 0, 1)], [], { memory, now: T0 + 1000 });
  assert.equal(kinds(retry), ['create:web#0:retry']);
  assert.is(retry.memory.get('web#0')!.restarts, 1);
  const twice = recordFailure(retry.memory.get('web#0'), 1, 'again', T0 + 1000, cfg);
  assert.is(twice.nextRetryAt, T0 + 3000);
});

test('a new release starts with fresh restart counts', () => {
  const memory = new Map<string, SlotMemory>([['web#0', { release: 1, restarts: 7, failures: 2, lastExitCode: 1 }]]);
  const out = run([spec('web', 0, 2)], [], { memory });
  assert.equal(out.memory.get('web#0'), { release: 2, restarts: 0, failures: 0 });
});

test('a restarted runner seeds memory from its records and does not count a crash twice', () => {
  const dead = ctr('web', 0, 1, 'exited', { id: 'd', exitCode: 2, finishedAt: T0, log: 'x' });
  const first = run([spec('web', 0, 1)], [dead]);
  const st = first.statuses.get('web#0')!;
  const seeded = new Map([['web#0', memoryFromStatus(JSON.parse(JSON.stringify(st)) as RunnerSlotStatus)]]);
  const again = run([spec('web', 0, 1)], [dead], { memory: seeded, previous: new Map([['web#0', st]]), now: T0 + 10 });
  assert.is(again.statuses.get('web#0')!.state, 'backoff');
  assert.is(again.memory.get('web#0')!.nextRetryAt, T0 + 1000);
  assert.is(again.statuses.get('web#0')!.lastLog, 'x');
});

test.run();
