/** Slots started ahead of their release (runtime/warm.ts) and how the plan treats them: plain data, no Docker. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { keys, type Build } from '../../src/model/index.js';
import { desiredSlots } from '../../src/runtime/desired.js';
import { plan, type ObservedContainer, type PlanConfig, type RunnerSlotStatus } from '../../src/runtime/plan.js';
import { specHash } from '../../src/runtime/runtime.js';
import { warmSlots } from '../../src/runtime/warm.js';
import { seedApp } from './_fixtures.js';
import { MemoryStateView } from './_memory-state.js';

const NOW = Date.parse('2030-01-01T00:00:00.000Z');
const opts = { defaultPort: 5000, now: NOW };
const SHA = '0123456789abcdef0123456789abcdef01234567';
const IMG = `sha256:${'a'.repeat(64)}`;
const cfg: PlanConfig = { nodeId: 'n1', host: '127.0.0.1', backoffBaseMs: 1000, backoffMaxMs: 8000, stableAfterMs: 30_000 };

function build(o: Partial<Build> = {}): Build {
  return { id: 'b2', app: 'web', ref: 'main', status: 'running', stage: 'test', trigger: 'api', createdAt: new Date(NOW - 5000).toISOString(), commit: SHA, imageId: IMG, port: 8080, ...o };
}

function seeded(): MemoryStateView {
  const s = new MemoryStateView();
  seedApp(s, 'web', { release: 1, image: 'img-1', replicas: 2, config: { A: '1' } });
  s.set(keys.env('web', 'A'), '1');
  return s;
}

test('a build in its tests: the slots of the next release, with its image, port, commit and the config as it is now', () => {
  const s = seeded();
  s.set(keys.build('web', 'b2'), build());
  const w = warmSlots(s, opts);
  assert.equal(w.map((x) => [x.index, x.release, x.image, x.port]), [[0, 2, IMG, 8080], [1, 2, IMG, 8080]]);
  assert.equal(w[0]!.env, { A: '1', PLEACO_APP: 'web', PLEACO_RELEASE: 'v2', PLEACO_COMMIT: SHA });
  assert.equal(warmSlots(s, { ...opts, placement: (_a, i) => i === 1 }).map((x) => x.index), [1], 'only the slots this node wins');
});

test('once the release is made it is desired with the very spec that was warm', () => {
  const s = seeded();
  s.set(keys.build('web', 'b2'), build());
  const before = warmSlots(s, opts);
  // What AppService.createRelease writes: the next number, the config snapshot, the build's image, port and commit.
  s.set(keys.release('web', 2), { app: 'web', number: 2, kind: 'deploy', description: 'd', commit: SHA, image: 'pleaco/web:b2', imageId: IMG, build: 'b2', test: null, port: 8080, config: { A: '1' }, createdAt: new Date(NOW).toISOString() });
  s.set(keys.current('web'), { release: 2 });
  assert.equal(warmSlots(s, opts), [], 'released: nothing warm');
  const desired = desiredSlots(s, opts);
  assert.equal(desired.map(specHash), before.map(specHash));
});

test('nothing warm before the image is known, after a failure, or with no replicas; the newest build in its gates', () => {
  const s = seeded();
  s.set(keys.build('web', 'b2'), build({ stage: 'build', imageId: undefined, port: undefined }));
  assert.equal(warmSlots(s, opts), [], 'still building');
  s.set(keys.build('web', 'b2'), build({ status: 'failed', stage: 'test' }));
  assert.equal(warmSlots(s, opts), [], 'failed its tests');
  s.set(keys.build('web', 'b2'), build());
  s.set(keys.build('web', 'b3'), build({ id: 'b3', imageId: `sha256:${'b'.repeat(64)}`, createdAt: new Date(NOW - 1000).toISOString() }));
  assert.equal(warmSlots(s, opts).map((x) => x.image), [`sha256:${'b'.repeat(64)}`, `sha256:${'b'.repeat(64)}`], 'of two builds in their gates, the newest');
  s.set(keys.build('web', 'b3'), null);
  s.set(keys.scale('web'), { replicas: 0 });
  assert.equal(warmSlots(s, opts), [], 'scaled to zero');
});

test('a succeeded build whose release has not arrived yet stays warm under the number it got, for a while', () => {
  const s = seeded();
  s.set(keys.build('web', 'b2'), build({ status: 'succeeded', stage: 'done', release: 2, finishedAt: new Date(NOW - 1000).toISOString() }));
  assert.equal(warmSlots(s, opts).map((x) => x.release), [2, 2]);
  assert.equal(warmSlots(s, { ...opts, now: NOW + 60_000 }), [], 'not forever');
});

let seq = 0;
function ctr(index: number, release: number, o: Partial<ObservedContainer> = {}): ObservedContainer {
  return {
    id: o.id ?? `c${++seq}`, name: `n${seq}`, app: 'web', index, release, node: 'n1', image: 'img', state: 'running', exitCode: null,
    startedAt: NOW - 60_000, finishedAt: null, hostPort: 40000 + index, port: 8080, ip: '172.17.0.2', pid: 42, oomKilled: false, ready: true, ...o,
  };
}

test('the plan starts warm slots once, publishes no record of them, and leaves the serving release alone', () => {
  const s = seeded();
  s.set(keys.build('web', 'b2'), build());
  const desired = desiredSlots(s, opts);
  const warm = warmSlots(s, opts);
  const old = [ctr(0, 1, { id: 'o0' }), ctr(1, 1, { id: 'o1' })];
  const a = plan({ desired, actual: old, memory: new Map(), previous: new Map(), now: NOW, config: cfg, warm });
  assert.equal(a.actions.map((x) => `${x.kind}:${x.slot}:${'reason' in x ? x.reason : ''}`), ['create:web#0:warm', 'create:web#1:warm']);
  assert.equal([...a.statuses.values()].map((r) => [r?.containerId, r?.next]), [['o0', undefined], ['o1', undefined]], 'the records name the old containers only');
  const tried = new Set(warm.map((w) => `${w.app}#${w.index}@${w.release}@${specHash(w)}`));
  assert.equal(plan({ desired, actual: old, memory: new Map(), previous: new Map(), now: NOW, config: cfg, warm, warmTried: tried }).actions, [], 'started once: not again');
  // Running and healthy, unrouted: no record names them, nothing is removed.
  const w0 = ctr(0, 2, { id: 'w0', spec: specHash(warm[0]!) });
  const w1 = ctr(1, 2, { id: 'w1', spec: specHash(warm[1]!), ready: false, startedAt: NOW - 10 });
  const b = plan({ desired, actual: [...old, w0, w1], memory: a.memory, previous: new Map(), now: NOW, config: cfg, warm, warmTried: tried });
  assert.equal(b.actions.map((x) => `${x.kind}:${x.slot}`), ['wait:web#1'], 'polled until ready');
  assert.equal([...b.statuses.values()].map((r) => r?.containerId), ['o0', 'o1']);
});

test('the release adopts its warm containers and switches to them at once; a wrong guess is removed', () => {
  const s = seeded();
  s.set(keys.build('web', 'b2'), build());
  const warm = warmSlots(s, opts);
  s.set(keys.release('web', 2), { app: 'web', number: 2, kind: 'deploy', description: 'd', commit: SHA, image: 'x', imageId: IMG, build: 'b2', test: null, port: 8080, config: { A: '1' }, createdAt: new Date(NOW).toISOString() });
  s.set(keys.current('web'), { release: 2 });
  const desired = desiredSlots(s, opts);
  const actual = [ctr(0, 1, { id: 'o0' }), ctr(1, 1, { id: 'o1' }), ctr(0, 2, { id: 'w0', spec: specHash(warm[0]!) }), ctr(1, 2, { id: 'w1', spec: 'another-spec' })];
  const out = plan({ desired, actual, memory: new Map(), previous: new Map(), now: NOW, config: cfg });
  const r0 = out.statuses.get('web#0') as RunnerSlotStatus;
  assert.equal([r0.containerId, r0.release, r0.fallback?.containerId], ['w0', 2, 'o0'], 'slot 0 serves its warm container, the old one as fallback');
  const rm = out.actions.filter((x) => x.kind === 'remove');
  assert.equal(rm.map((x) => [x.slot, 'containerId' in x ? x.containerId : '', 'reason' in x ? x.reason : '']), [['web#1', 'w1', 'unadopted']], 'a container of v2 with another spec never serves');
  assert.ok(out.actions.some((x) => x.kind === 'create' && x.slot === 'web#1' && x.reason === 'rollout'), 'slot 1 starts v2 as usual');
});

test('gates failed: the containers of the release that did not come are removed; the served ones are not', () => {
  const s = seeded();
  const desired = desiredSlots(s, opts);
  const o0 = ctr(0, 1, { id: 'o0' });
  const w0 = ctr(0, 2, { id: 'w0', spec: 'x' });
  const out = plan({ desired: desired.slice(0, 1), actual: [o0, w0], memory: new Map(), previous: new Map(), now: NOW, config: cfg });
  assert.equal(out.actions.map((x) => [x.kind, 'containerId' in x ? x.containerId : '', 'reason' in x ? x.reason : '']), [['remove', 'w0', 'unadopted']]);
  // A newer release's container that served (a release given up, its slot rolled back): it serves until the old one is back.
  const served: RunnerSlotStatus = { ...(out.statuses.get('web#0') as RunnerSlotStatus), containerId: 'w0', release: 2 };
  const back = plan({ desired: desired.slice(0, 1), actual: [w0], memory: new Map(), previous: new Map([['web#0', served]]), now: NOW, config: cfg });
  assert.equal(back.actions.filter((x) => x.kind !== 'wait').map((x) => `${x.kind}:${'reason' in x ? x.reason : ''}`), ['create:rollout']);
});


test('a served container of the desired number with another spec (a release numbered on both sides of a merge) is rolled, not kept', () => {
  const s = seeded();
  const desired = desiredSlots(s, opts).slice(0, 1);
  const mine = ctr(0, 1, { id: 'o0', spec: 'the-other-apps-spec' });
  // The record of the slot as it served before the merge (the container is the same, only its spec differs now).
  const before = plan({ desired, actual: [ctr(0, 1, { id: 'o0', spec: specHash(desired[0]!) })], memory: new Map(), previous: new Map(), now: NOW, config: cfg });
  const served = before.statuses.get('web#0') as RunnerSlotStatus;
  assert.is(served.containerId, 'o0');
  const out = plan({ desired, actual: [mine], memory: new Map(), previous: new Map([['web#0', served]]), now: NOW, config: cfg });
  assert.equal(out.actions.filter((x) => x.kind !== 'wait').map((x) => `${x.kind}:${'reason' in x ? x.reason : ''}`), ['create:rollout'], 'a new container of the release is started');
  assert.is((out.statuses.get('web#0') as RunnerSlotStatus).containerId, 'o0', 'the old one serves until the new one is ready');
  const same = ctr(0, 1, { id: 'o1', spec: specHash(desired[0]!) });
  const kept = plan({ desired, actual: [same], memory: new Map(), previous: new Map([['web#0', { ...served, containerId: 'o1' }]]), now: NOW, config: cfg });
  assert.equal(kept.actions.filter((x) => x.kind === 'create' || x.kind === 'remove'), [], 'the same spec is the release: nothing to do');
});

test.run();
