/** The reconcile planner, with plain data: no Docker, no clock. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  backoffDelay,
  DEFAULT_READY_AFTER_MS,
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
}
const run = (desired: DesiredSlot[], actual: ObservedContainer[], o: Opts = {}): PlanOutput =>
  plan({ desired, actual, memory: o.memory ?? new Map(), previous: o.previous ?? new Map(), now: o.now ?? T0, config: { ...cfg, ...o.config } });

/** How long a new container must have run (besides its port accepting) before it counts as ready. */
const READY = DEFAULT_READY_AFTER_MS;

const kinds = (out: PlanOutput): string[] => out.actions.map((a) => `${a.kind}:${a.slot}${'reason' in a ? ':' + a.reason : ''}`);
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

test('rollout: new first, old kept until the new is ready, one slot at a time', () => {
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
  const c = run(d, [o0, n0, o1], { memory: b.memory });
  assert.equal(kinds(c), ['remove:web#0:replaced'], 'slot 1 waits for the next plan');
  assert.is(of(c, 'remove')[0]!.containerId, 'o0');
  assert.ok(of(c, 'remove')[0]!.graceful);
  assert.equal([c.statuses.get('web#0')!.containerId, c.statuses.get('web#0')!.release, c.statuses.get('web#0')!.next], ['n0', 2, undefined]);

  const e = run(d, [n0, o1], { memory: c.memory });
  assert.equal(kinds(e), ['create:web#1:rollout']);
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
  const out = run([spec('web', 0, 1)], cs, { previous });
  assert.equal(kinds(out), ['remove:web#2:unwanted', 'remove:web#1:unwanted']);
  assert.equal(of(out, 'remove').map((a) => a.graceful), [true, true]);
  assert.is(out.statuses.get('web#2')!.state, 'stopping');
  assert.is(out.statuses.get('web#3'), null, 'a record without container or desire is deleted');
  const after = run([spec('web', 0, 1)], [cs[0]!], { previous });
  assert.is(after.statuses.get('web#1'), null);
  assert.is(after.statuses.get('web#2'), null);
});

test('a deleted app (or one without a current release) loses all its containers', () => {
  const cs = [ctr('gone', 0, 3, 'running'), ctr('gone', 1, 3, 'exited'), ctr('web', 0, 1, 'running')];
  const out = run([spec('web', 0, 1)], cs);
  assert.equal(kinds(out), ['remove:gone#1:unwanted', 'remove:gone#0:unwanted']);
  assert.equal(of(out, 'remove').map((a) => a.graceful), [false, true]);
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
