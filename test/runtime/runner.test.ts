/** The Runner against the real Docker Engine: serving, config secrecy, crashes, backoff, scale. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { keys, LABELS } from '../../src/model/index.js';
import type { StateMirror, StateView } from '../../src/link/index.js';
import type { RunnerSlotStatus } from '../../src/runtime/index.js';
import { MemoryStateView } from './_memory-state.js';
import { docker, httpGet, nodeContainers, seedApp, uid, waitFor } from './_fixtures.js';
import { Harness, nodeOf, slotOf, waitRunning } from './_harness.js';

// Compile-time: the real StateMirror satisfies the runner's StateView.
const _structural = (m: StateMirror): StateView => m;
void _structural;

const h = new Harness();
/** The commit of the first test's release, passed to its containers as PLEACO_COMMIT. */
const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const T = suite('Runner');
T.before(() => h.open());
T.after(() => h.close());

T('replicas 2: two labelled containers serving HTTP on their published ports; records written only on change', async () => {
  const state = new MemoryStateView();
  const app = uid('web');
  seedApp(state, app, { release: 1, image: h.images.web, replicas: 2, config: { NAME: 'pleaco', SECRET_TOKEN: 's3cr3t-value-xyz' }, commit: COMMIT });
  const s = await h.start(state);
  const slots = await waitRunning(s, app, 2, 1);
  for (const st of slots) {
    assert.is(st.node, s.nodeId);
    assert.is(st.host, '127.0.0.1');
    assert.equal(await httpGet(st.hostPort!), { status: 200, body: 'hello pleaco\n' });
  }
  const cs = await nodeContainers(s.nodeId);
  assert.is(cs.length, 2);
  assert.equal(cs.map((c) => c.Names[0]).sort(), [`/pleaco-${app}-0-r1`, `/pleaco-${app}-1-r1`]);
  for (const c of cs) {
    assert.is(c.Labels[LABELS.app], app);
    assert.is(c.Labels[LABELS.role], 'app');
    assert.is(c.Labels[LABELS.release], '1');
    assert.ok(slots.some((st) => st.containerId === c.Id && st.slot === c.Labels[LABELS.slot]));
  }
  const node = nodeOf(s)!;
  assert.equal([node.id, node.docker.ok, node.version, node.address], [s.nodeId, true, '0.0.0-test', '127.0.0.1']);
  assert.ok(node.cpus > 0 && node.memoryBytes > 0 && node.docker.version);

  const before = state.writes.filter((w) => w.key.startsWith(keys.slotPrefix(s.nodeId))).length;
  for (let i = 0; i < 3; i++) await s.runner.reconcile();
  assert.is(state.writes.filter((w) => w.key.startsWith(keys.slotPrefix(s.nodeId))).length, before, 'no rewrite of unchanged records');
});

T('config values reach the container through Env only: not in its argv, not in the runner log', async () => {
  const [node] = [...h.nodes];
  const cs = await nodeContainers(node!);
  assert.ok(cs.length > 0);
  for (const c of cs) {
    const info = await docker.getContainer(c.Id).inspect();
    // The container's env is the image's (PATH…) plus exactly what the runner passed.
    const fromImage = new Set((await docker.getImage(info.Image).inspect()).Config.Env ?? []);
    const app = c.Labels[LABELS.app]!;
    assert.equal(info.Config.Env.filter((e) => !fromImage.has(e)).sort(), [
      'NAME=pleaco',
      `PLEACO_APP=${app}`,
      `PLEACO_COMMIT=${COMMIT}`,
      'PLEACO_RELEASE=v1',
      'PORT=8080',
      'SECRET_TOKEN=s3cr3t-value-xyz',
    ]);
    assert.not.match(JSON.stringify([info.Path, info.Args, info.Config.Cmd, info.Config.Entrypoint]), 's3cr3t-value-xyz');
  }
  const lines = h.lines(node!);
  const started = lines.filter((l) => l.msg === 'container started');
  assert.ok(started.length > 0);
  for (const l of started) assert.equal(l.configKeys, ['NAME', 'PLEACO_APP', 'PLEACO_COMMIT', 'PLEACO_RELEASE', 'SECRET_TOKEN'], 'keys are logged');
  assert.not.ok(h.logs.some((l) => l.includes('s3cr3t-value-xyz')), 'values are not');
});

T('a container killed with docker kill is restarted after a backoff, and counted', async () => {
  const state = new MemoryStateView();
  const app = uid('kill');
  seedApp(state, app, { release: 1, image: h.images.web, config: { NAME: 'k' } });
  const s = await h.start(state);
  const [first] = await waitRunning(s, app, 1);
  await docker.getContainer(first!.containerId).kill();
  const st = await waitFor('the slot to run again', () => {
    const cur = slotOf(s, app, 0);
    return cur && cur.state === 'running' && cur.containerId !== first!.containerId ? cur : null;
  });
  assert.is(st.restarts, 1);
  assert.is(st.lastExitCode, 137);
  const hist = state.history<RunnerSlotStatus>(keys.slot(s.nodeId, app, 0)).filter((x) => x !== null);
  const crashed = hist.find((x) => x.state === 'crashed');
  assert.ok(crashed, 'a crashed record was published');
  assert.equal([crashed.containerId, crashed.hostPort, crashed.lastExitCode], [first!.containerId, null, 137]);
  const wait = Date.parse(crashed.nextRetryAt!) - Date.parse(crashed.since);
  assert.ok(wait >= 0 && wait <= 400, `first backoff ≈ base (400 ms) from the crash, got ${wait}`);
  assert.equal(await httpGet(st.hostPort!), { status: 200, body: 'hello k\n' });
  assert.is(await docker.getContainer(first!.containerId).inspect().catch(() => null), null, 'the crashed container was removed');
});

T('a crash-looping image backs off with growing delays and shows its output', async () => {
  const state = new MemoryStateView();
  const app = uid('crash');
  seedApp(state, app, { release: 1, image: h.images.crash });
  const s = await h.start(state);
  const key = keys.slot(s.nodeId, app, 0);
  const crashes = (): RunnerSlotStatus[] => state.history<RunnerSlotStatus>(key).filter((x): x is RunnerSlotStatus => x !== null && x.state === 'crashed');
  await waitFor('four crashes', () => crashes().length >= 4, 30_000);
  const delays = crashes().map((c) => Date.parse(c.nextRetryAt!) - Date.parse(c.since));
  for (let i = 1; i < 4; i++) assert.ok(delays[i]! > delays[i - 1]!, `delays grow: ${delays.join(', ')}`);
  assert.ok(delays[3]! >= 2500, `the 4th delay is ≈ 3.2 s (8× the base), got ${delays[3]}`);
  assert.equal(crashes().map((c) => c.restarts).slice(0, 4), [0, 1, 2, 3]);
  const st = await waitFor('a backoff record', () => (slotOf(s, app, 0)?.state === 'backoff' ? slotOf(s, app, 0) : null), 10_000);
  assert.is(st.lastExitCode, 1);
  assert.match(st.lastLog ?? '', 'crash-stdout-line');
  assert.match(st.lastLog ?? '', 'crash-stderr-line');
  assert.is(st.hostPort, null);
  assert.ok(Date.parse(st.nextRetryAt!) > Date.parse(st.since));
  assert.ok(h.lines(s.nodeId).some((l) => l.msg === 'container crashed' && l.exitCode === 1));
  state.set(keys.app(app), null); // stop the loop
  await waitFor('the crash loop to be removed', async () => (await nodeContainers(s.nodeId)).length === 0);
});

T('scale 2 → 1 removes slot #1 and its record, slot #0 stays untouched', async () => {
  const state = new MemoryStateView();
  const app = uid('scale');
  seedApp(state, app, { release: 1, image: h.images.web, replicas: 2, config: { NAME: 's' } });
  const s = await h.start(state);
  const [zero] = await waitRunning(s, app, 2);
  state.set(keys.scale(app), { replicas: 1 });
  await waitFor('slot #1 gone', async () => slotOf(s, app, 1) === undefined && (await nodeContainers(s.nodeId)).length === 1);
  const [left] = await nodeContainers(s.nodeId);
  assert.is(left!.Labels[LABELS.slot], `${app}#0`);
  assert.is(left!.Id, zero!.containerId);
  assert.is(slotOf(s, app, 0)?.containerId, zero!.containerId);
  const hist = state.history<RunnerSlotStatus>(keys.slot(s.nodeId, app, 1));
  assert.is(hist.at(-1), null);
  assert.ok(hist.some((x) => x?.state === 'stopping'), 'the slot was marked stopping before removal');
  state.set(keys.scale(app), { replicas: 0 });
  await waitFor('no containers at scale 0', async () => (await nodeContainers(s.nodeId)).length === 0 && slotOf(s, app, 0) === undefined);
});

T.run();
