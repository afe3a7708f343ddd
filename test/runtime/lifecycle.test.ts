/** The Runner against the real Docker Engine: rollouts, adoption after restart, foreign containers, Engine outages. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rolloutVerdict } from '../../src/api/deploystream.js';
import { keys, LABELS, type Release, type SlotStatus } from '../../src/model/index.js';
import { jsonLines, type DockerEvent } from '../../src/runtime/docker/logs.js';
import { DEFAULT_READY_AFTER_MS } from '../../src/runtime/plan.js';
import { MemoryStateView } from './_memory-state.js';
import { buildImage, docker, flakyDockerfile, httpGet, nodeContainers, seedApp, setRelease, testConfig, uid, waitFor } from './_fixtures.js';
import { EngineProxy, Harness, nodeOf, slotOf, waitRunning } from './_harness.js';

const h = new Harness();
const T = suite('Runner lifecycle');
T.before(() => h.open());
T.after(() => h.close());

/** rolloutStableMs for the rollout test (the default is 3 s): how long an old container outlives the switch. */
const STABLE_MS = 1000;

T('a new release replaces containers slot by slot (the next once the one before switched); the old one serves until the new one is ready, then stays as fallback', async () => {
  const state = new MemoryStateView();
  const app = uid('roll');
  seedApp(state, app, { release: 1, image: h.images.web, replicas: 2, config: { NAME: 'one' } });
  const s = await h.start(state, { config: testConfig({ rolloutStableMs: STABLE_MS }) });
  await waitRunning(s, app, 2, 1);

  const events: { action: string; slot: string; release: number; t: number }[] = [];
  // When each new (release 2) container first answered HTTP, by slot index: probed from its start event on.
  const answered = new Map<string, number>();
  const probes: Promise<void>[] = [];
  let watching = true;
  const probeNew = async (id: string, index: string): Promise<void> => {
    const info = await docker.getContainer(id).inspect().catch(() => null);
    const port = Number(info?.NetworkSettings.Ports?.['8080/tcp']?.[0]?.HostPort);
    while (watching && port && !answered.has(index)) {
      const r = await httpGet(port).catch(() => null);
      if (r?.status === 200 && r.body === 'hello two\n') answered.set(index, Date.now());
      else await new Promise((res) => setTimeout(res, 5));
    }
  };
  const stream = await docker.getEvents({ filters: { type: ['container'], event: ['start', 'destroy'], label: [`${LABELS.node}=${s.nodeId}`] } });
  stream.on('data', jsonLines((raw) => {
    const ev = raw as DockerEvent & { timeNano?: number };
    const a = ev.Actor?.Attributes ?? {};
    const e = { action: ev.Action ?? '', slot: a[LABELS.slot] ?? '', release: Number(a[LABELS.release]), t: (ev.timeNano ?? 0) / 1e6 };
    events.push(e);
    if (e.action === 'start' && e.release === 2 && ev.Actor?.ID) probes.push(probeNew(ev.Actor.ID, e.slot.split('#')[1]!));
  }));
  // Clients follow the published records, as the proxy does; none of their requests may fail.
  let failures = 0;
  let requests = 0;
  const bodies = new Set<string>();
  let polling = true;
  const poller = (async () => {
    while (polling) {
      for (const i of [0, 1]) {
        const st = slotOf(s, app, i);
        if (st?.state !== 'running' || !st.hostPort) continue;
        requests++;
        try {
          const r = await httpGet(st.hostPort);
          bodies.add(r.body);
          if (r.status !== 200) failures++;
        } catch {
          failures++;
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  setRelease(state, app, { release: 2, image: h.images.web, config: { NAME: 'two' } });
  const done = await waitRunning(s, app, 2, 2, 30_000);
  // The records switch STABLE_MS before the old containers are stopped and removed: wait for the last event
  // (bounded; Docker delivers events late under load), then a little more for any unexpected one.
  const seqOf = (): string[] => events.map((e) => `${e.action} ${e.slot.split('#')[1]} r${e.release}`);
  await waitFor('the old containers destroyed', () => seqOf().includes('destroy 0 r1') && seqOf().includes('destroy 1 r1'), 15_000).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 100));
  polling = false;
  watching = false;
  await poller;
  await Promise.all(probes);
  (stream as unknown as { destroy(): void }).destroy();

  const seq = seqOf();
  assert.equal([...seq].sort(), ['destroy 0 r1', 'destroy 1 r1', 'start 0 r2', 'start 1 r2'], 'one new container per slot, each old one removed');
  assert.ok(seq.indexOf('start 0 r2') < seq.indexOf('start 1 r2'), `slot order: ${seq}`);
  const at = (s: string): number => events[seq.indexOf(s)]!.t;
  for (const i of ['0', '1']) {
    const kept = at(`destroy ${i} r1`) - at(`start ${i} r2`);
    assert.ok(kept >= DEFAULT_READY_AFTER_MS + STABLE_MS, `slot #${i}: the old container outlived the new one’s first ${DEFAULT_READY_AFTER_MS} + ${STABLE_MS} ms (kept ${kept.toFixed(0)} ms)`);
    const answer = answered.get(i);
    assert.ok(answer !== undefined, `slot #${i}: the new container answered`);
    assert.ok(answer < at(`destroy ${i} r1`), `slot #${i}: the old container was removed only after the new one answered (${(at(`destroy ${i} r1`) - answer).toFixed(0)} ms after)`);
    // The record switched to the new container at once, naming the old one as fallback, for STABLE_MS.
    const hist = state.history<SlotStatus>(keys.slot(s.nodeId, app, Number(i)));
    const switched = hist.find((x) => x?.release === 2 && x.state === 'running');
    assert.equal(switched?.fallback?.release, 1, `slot #${i}: the switched record names its fallback`);
    const served = at(`destroy ${i} r1`) - Date.parse(switched!.since);
    assert.ok(served >= STABLE_MS - 2, `slot #${i}: the old container was removed ${served.toFixed(0)} ms after the switch (≥ ${STABLE_MS})`);
    assert.not.ok(hist.at(-1)?.fallback, `slot #${i}: the last record has no fallback`);
  }
  // Slot 1 started only once slot 0 had switched to its new container (not waiting for its old one to go).
  const switched0 = state.history<SlotStatus>(keys.slot(s.nodeId, app, 0)).find((x) => x?.release === 2 && x.state === 'running')!;
  assert.ok(at('start 1 r2') >= Date.parse(switched0.since) - 5, `slot #1 started ${(at('start 1 r2') - Date.parse(switched0.since)).toFixed(0)} ms after slot #0 switched`);
  assert.equal([failures, bodies.has('hello one\n'), bodies.has('hello two\n')], [0, true, true], `${requests} requests`);
  for (const st of done) assert.equal(await httpGet(st.hostPort!), { status: 200, body: 'hello two\n' });
  const names = (await nodeContainers(s.nodeId)).map((c) => c.Names[0]).sort();
  assert.equal(names, [`/pleaco-${app}-0-r2`, `/pleaco-${app}-1-r2`]);
  const mid = state.history<{ next?: { release: number; state: string }; release: number }>(keys.slot(s.nodeId, app, 0));
  assert.ok(mid.some((x) => x?.release === 1 && x.next?.release === 2 && x.next.state === 'starting'), 'the old record carried the new container as next');
});

T('a release that listens, then exits after 1 s: some container always answers (each slot keeps its fallback); given up after 3 crashes, v1 kept', async () => {
  const flaky = await buildImage(h.imageApp, flakyDockerfile(h.images.base), `pleaco-test/${h.imageApp}-flaky:1`);
  const state = new MemoryStateView();
  const app = uid('flaky');
  seedApp(state, app, { release: 1, image: h.images.web, replicas: 2, config: { NAME: 'one' } });
  const s = await h.start(state); // the default rolloutStableMs (3 s)
  const v1 = (await waitRunning(s, app, 2, 1)).map((st) => st.containerId);

  setRelease(state, app, { release: 2, image: flaky, config: { NAME: 'two' } });
  // Clients follow the published records, as the proxy does: every 100 ms for 9 s, one of them must answer.
  const polls: { t: number; bodies: (string | null)[] }[] = [];
  const verdicts: (boolean | null)[] = [];
  const t0 = Date.now();
  while (Date.now() - t0 < 9000) {
    const started = Date.now();
    const slots = [0, 1].map((i) => slotOf(s, app, i));
    const current = state.get<{ release: number }>(keys.current(app))?.release ?? null;
    const v = rolloutVerdict(2, current, 2, slots.filter((x): x is SlotStatus => x !== undefined), state.get<Release>(keys.release(app, 2))?.failure);
    verdicts.push(v ? v.ok : null);
    const bodies = await Promise.all(
      slots.map(async (st) => {
        if (st?.state !== 'running' || !st.hostPort) return null;
        const r = await httpGet(st.hostPort).catch(() => null);
        return r?.status === 200 ? r.body : null;
      }),
    );
    polls.push({ t: started - t0, bodies });
    await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - started))));
  }
  const dark = polls.filter((p) => p.bodies.every((b) => b === null));
  assert.equal(dark.map((p) => p.t), [], `no poll without an answering container (${polls.length} polls)`);
  assert.ok(polls.some((p) => p.bodies.includes('hello two\n')), 'traffic did move to the new container while it was up');
  assert.not.ok(verdicts.includes(true), 'the deploy was never reported ok');
  assert.ok(verdicts.includes(false), 'the deploy was reported failed');
  const failure = state.get<Release>(keys.release(app, 2))?.failure;
  assert.match(failure?.reason ?? '', new RegExp(`^${app}#[01] crashed 3 times in a row \\(last exit code 3\\)$`), 'given up after the third crash');
  assert.is(failure?.rolledBackTo, 1);
  assert.is(state.get<{ release: number }>(keys.current(app))?.release, 1, 'v1 is current again');
  // Slot #1 moved only once slot #0 had switched to the new release.
  const first0 = state.history<SlotStatus>(keys.slot(s.nodeId, app, 0)).find((x) => x?.release === 2 && x.state === 'running');
  const first1 = state.history<SlotStatus>(keys.slot(s.nodeId, app, 1)).find((x) => x?.release === 2 || x?.next?.release === 2);
  if (first1) assert.ok(first0 && Date.parse(first1.next?.since ?? first1.since) >= Date.parse(first0.since), 'slot #1 moved after slot #0 switched');

  // In the end both slots serve v1, from the containers they had, with nothing pending.
  const end = await waitFor('both slots on v1', () => {
    const all = [0, 1].map((i) => slotOf(s, app, i));
    return all.every((st) => st?.release === 1 && st.state === 'running' && !st.fallback && !st.next) ? (all as SlotStatus[]) : null;
  }, 10_000, 20);
  assert.equal(end.map((st) => st.containerId), v1);
  for (const st of end) assert.equal(await httpGet(st.hostPort!), { status: 200, body: 'hello one\n' });
  state.set(keys.app(app), null);
  await waitFor('the app removed', async () => (await nodeContainers(s.nodeId)).length === 0, 20_000);
});

T('a restarted Runner adopts the running containers instead of recreating them', async () => {
  const state = new MemoryStateView();
  const app = uid('adopt');
  seedApp(state, app, { release: 1, image: h.images.web, replicas: 2, config: { NAME: 'a' } });
  const first = await h.start(state, { instance: 'first' });
  const before = (await waitRunning(first, app, 2)).map((st) => st.containerId);
  await first.runner.stop();

  // Same node, its records kept (a runner restart) …
  const again = await h.start(state, { nodeId: first.nodeId, instance: 'again' });
  await again.runner.reconcile();
  assert.equal((await waitRunning(again, app, 2)).map((st) => st.containerId), before);
  await again.runner.stop();
  // … and with no records at all (state lost): the labels alone are enough.
  const fresh = state.desiredOnly();
  const third = await h.start(fresh, { nodeId: first.nodeId, instance: 'third' });
  await third.runner.reconcile();
  assert.equal((await waitRunning(third, app, 2)).map((st) => st.containerId), before);
  assert.equal((await nodeContainers(first.nodeId)).map((c) => c.Id).sort(), [...before].sort());
  for (const inst of ['again', 'third']) {
    assert.not.ok(h.lines(first.nodeId, inst).some((l) => l.msg === 'container started' || l.msg === 'container removed'), `${inst} changed nothing`);
  }
});

T('an unlabelled container is never touched, even with the name and app of a managed one', async () => {
  const state = new MemoryStateView();
  const app = uid('foreign');
  const other = await docker.createContainer({ name: `pleaco-${app}-0-r1`, Image: h.images.base, Cmd: ['sleep', '600'] });
  h.extraContainers.push(other.id);
  await other.start();
  seedApp(state, app, { release: 1, image: h.images.web, config: { NAME: 'f' } });
  const s = await h.start(state);
  const [st] = await waitRunning(s, app, 1);
  assert.is.not(st!.containerId, other.id);
  for (let i = 0; i < 3; i++) await s.runner.reconcile();
  state.set(keys.app(app), null);
  await waitFor('the managed container removed', async () => (await nodeContainers(s.nodeId)).length === 0);
  for (let i = 0; i < 2; i++) await s.runner.reconcile();
  const info = await other.inspect();
  assert.equal([info.State.Running, info.RestartCount, info.Name], [true, 0, `/pleaco-${app}-0-r1`]);
});

T('Engine outage: docker.ok=false, logged once, retried; reconciles as soon as it is back', async () => {
  const proxy = new EngineProxy();
  await proxy.up();
  const state = new MemoryStateView();
  const app = uid('outage');
  seedApp(state, app, { release: 1, image: h.images.web, config: { NAME: 'o' } });
  const s = await h.start(state, { engine: proxy.engine() });
  const [zero] = await waitRunning(s, app, 1);
  try {
    await proxy.down();
    await waitFor('docker.ok=false', () => nodeOf(s)?.docker.ok === false);
    state.set(keys.scale(app), { replicas: 2 });
    await new Promise((r) => setTimeout(r, 3000)); // several ticks and event re-subscriptions
    const warned = h.lines(s.nodeId).filter((l) => l.msg === 'Docker Engine unreachable; retrying');
    assert.is(warned.length, 1, 'one warning per outage');
    assert.is(slotOf(s, app, 1), undefined);
    assert.is(slotOf(s, app, 0)?.containerId, zero!.containerId, 'records are kept through the outage');
    await proxy.up();
    const both = await waitRunning(s, app, 2, 1, 10_000);
    assert.is(both[0]!.containerId, zero!.containerId);
    assert.is(nodeOf(s)?.docker.ok, true);
    assert.ok(h.lines(s.nodeId).some((l) => l.msg === 'Docker Engine reachable again'));
  } finally {
    await s.runner.stop();
    await proxy.down();
  }
});

T('Engine wedged (accepts, never answers): reported unreachable, nothing hangs; converges as soon as it answers again', async () => {
  const proxy = new EngineProxy();
  await proxy.up();
  const state = new MemoryStateView();
  const app = uid('wedge');
  seedApp(state, app, { release: 1, image: h.images.web, config: { NAME: 'w' } });
  // Short deadlines (the defaults are longer) keep the test short; the mechanism is the same.
  const s = await h.start(state, { engine: proxy.engine(), deadlines: { pingMs: 1000, callMs: 2000, firstByteMs: 2000 } });
  const [zero] = await waitRunning(s, app, 1);
  let stopped = false;
  try {
    proxy.wedge();
    await waitFor('docker.ok=false', () => nodeOf(s)?.docker.ok === false, 15_000);
    state.set(keys.scale(app), { replicas: 2 });
    await new Promise((r) => setTimeout(r, 3000)); // several ticks, each pass ending at its deadline
    const warned = h.lines(s.nodeId).filter((l) => l.msg === 'Docker Engine unreachable; retrying');
    assert.is(warned.length, 1, 'one warning per outage');
    assert.is(slotOf(s, app, 1), undefined);
    assert.is(slotOf(s, app, 0)?.containerId, zero!.containerId, 'records are kept through the outage');
    // stop() waits for the pass in flight: with every call bounded, it returns while the Engine is still wedged.
    const t0 = Date.now();
    await s.runner.stop();
    stopped = true;
    assert.ok(Date.now() - t0 < 10_000, `stop took ${Date.now() - t0} ms`);
    await s.runner.start();
    stopped = false;
    proxy.unwedge();
    const both = await waitRunning(s, app, 2, 1, 15_000);
    assert.is(both[0]!.containerId, zero!.containerId);
    await waitFor('docker.ok=true', () => nodeOf(s)?.docker.ok === true, 15_000);
    assert.ok(h.lines(s.nodeId).some((l) => l.msg === 'Docker Engine reachable again'));
  } finally {
    proxy.unwedge();
    if (!stopped) await s.runner.stop();
    await proxy.down();
  }
});

T.run();
