import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compareVersions, hostVersion, type DesiredHost, type HostState, type HostStatus } from '../../src/model/index.js';
import { decide, fetchSources, rolloutOrder, type RolloutView, type Step } from '../../src/update/index.js';

const NODES = ['node-1', 'node-2', 'node-3'];
const T0 = Date.parse('2026-12-08T10:00:00Z');
const desired: DesiredHost = { version: '2', bundle: 'b'.repeat(64), origin: { node: 'node-1' }, maxUnavailable: 1, at: new Date(T0).toISOString(), by: 'node-1' };

function status(node: string, version: string, state: HostState = 'idle', o: Partial<HostStatus> = {}): HostStatus {
  return { node, slot: 'a', version, state, target: state === 'idle' ? null : '2', bundles: [], boot: 'boot-1', drained: false, note: null, error: null, at: new Date(T0).toISOString(), ...o };
}

/** The view of `self` in a cluster where every node runs v1 and holds the bundle staged, unless `o` says otherwise. */
function view(self: string, o: Partial<RolloutView> = {}, statuses: HostStatus[] = []): RolloutView {
  const m = new Map(NODES.map((n) => [n, status(n, '1', 'staged')]));
  for (const s of statuses) m.set(s.node, s);
  return { self, desired, bad: new Set(), running: m.get(self)?.state === 'verifying' ? '2' : (m.get(self)?.version ?? '1'), live: new Set(NODES), members: NODES, statuses: m, have: true, staged: true, now: T0, stallMs: 20 * 60_000, boot: 'boot-1', ...o };
}

const kinds = (steps: Step[]): string[] => steps.map((s) => s.kind);
const order = rolloutOrder('2', NODES);

test('host versions order part by part, a suffixed one before its release; bad ones are refused', () => {
  assert.ok(compareVersions('1.10.0', '1.9.9') > 0);
  assert.ok(compareVersions('2', '1.99') > 0);
  assert.is(compareVersions('1.0', '1.0.0'), 0);
  assert.ok(compareVersions('2.0.0-rc1', '2.0.0') < 0);
  assert.ok(compareVersions('2.0.0-rc2', '2.0.0-rc1') > 0);
  assert.throws(() => hostVersion('v2'), /not a host version/);
  assert.throws(() => hostVersion('1..2'), /not a host version/);
});

test('every node computes the same order, and exactly one node goes first', () => {
  assert.equal(rolloutOrder('2', [...NODES].reverse()), order);
  assert.equal([...order].sort(), NODES);
  assert.equal(NODES.map((n) => decide(view(n)).kind).filter((k) => k === 'go').length, 1);
  assert.is(decide(view(order[0]!)).kind, 'go');
  const second = decide(view(order[1]!));
  assert.equal(second, { kind: 'wait', why: `${order[0]} goes before this node`, stalled: false });
});

test('the rollout goes one node at a time, in order, to the end', () => {
  const statuses = new Map(NODES.map((n) => [n, status(n, '1', 'staged')]));
  const done: string[] = [];
  for (let round = 0; round < 5 && done.length < NODES.length; round++) {
    const go = NODES.filter((n) => !done.includes(n) && decide(view(n, {}, [...statuses.values()])).kind === 'go');
    assert.is(go.length, 1, `round ${round}: one node goes (${go.join(', ')})`);
    const n = go[0]!;
    // while it drains, reboots and verifies, nobody else goes
    for (const state of ['draining', 'rebooting', 'verifying'] as const) {
      statuses.set(n, status(n, state === 'verifying' ? '2' : '1', state));
      assert.equal(NODES.filter((x) => x !== n && !done.includes(x)).map((x) => decide(view(x, {}, [...statuses.values()])).kind), NODES.filter((x) => x !== n && !done.includes(x)).map(() => 'wait'), `${n} ${state}`);
    }
    statuses.set(n, status(n, '2'));
    assert.is(decide(view(n, { running: '2' }, [...statuses.values()])).kind, 'none');
    done.push(n);
  }
  assert.equal(done, order);
});

test('two nodes that both started (their views differed): the later one yields before it reboots', () => {
  const [first, second] = order as [string, string];
  const both = [status(first, '1', 'draining'), status(second, '1', 'draining')];
  assert.is(decide(view(first, {}, both)).kind, 'go');
  assert.equal(decide(view(second, {}, both)), { kind: 'yield', why: `${first} is updating too` });
  // one already rebooting wins whatever its rank
  const committed = [status(first, '1', 'draining'), status(second, '1', 'rebooting')];
  assert.is(decide(view(first, {}, committed)).kind, 'yield');
  // with two at once allowed, both go
  assert.is(decide(view(second, { desired: { ...desired, maxUnavailable: 2 } }, both)).kind, 'go');
});

test('a node dying mid-update: the others wait for it, and call it stalled after stallMs', () => {
  const [first, second] = order as [string, string];
  const gone = [status(first, '1', 'rebooting', { at: new Date(T0).toISOString() })];
  const live = new Set(NODES.filter((n) => n !== first));
  const soon = decide(view(second, { live, now: T0 + 60_000 }, gone));
  assert.equal(soon, { kind: 'wait', why: `${first} is updating`, stalled: false });
  const late = decide(view(second, { live, now: T0 + 21 * 60_000 }, gone));
  assert.is(late.kind, 'wait');
  assert.ok(late.kind === 'wait' && late.stalled && /stalled: .* has not come back/.test(late.why), JSON.stringify(late));
});

test('a node that is off is skipped, and catches up when it returns', () => {
  const [first, second, third] = order as [string, string, string];
  const live = new Set([second, third]);
  assert.is(decide(view(second, { live })).kind, 'go', 'the first is off and not in flight: skipped');
  const after = [status(second, '2'), status(third, '2'), status(first, '1', 'idle')];
  assert.is(decide(view(first, { have: false, staged: false }, after)).kind, 'fetch');
  assert.is(decide(view(first, { staged: false }, after)).kind, 'stage');
  assert.is(decide(view(first, {}, after)).kind, 'go');
});

test('a node back in its old slot marks the version bad, and then every node halts', () => {
  const [first, second] = order as [string, string];
  const back = [status(first, '1', 'rebooting')];
  assert.is(decide(view(first, { running: '1' }, back)).kind, 'go', 'the same boot: it has not rebooted yet');
  assert.equal(decide(view(first, { running: '1', boot: 'boot-2' }, back)), { kind: 'rolled-back', why: 'this node did not become healthy on 2 and booted back into 1' });
  const bad = new Set(['2']);
  assert.equal(kinds(NODES.map((n) => decide(view(n, { bad }, [status(first, '1', 'rolled-back')])))), ['halted', 'halted', 'halted']);
  assert.is(decide(view(second, { bad })).kind, 'halted');
});

test('nothing to do: no update started, already on it, not a golden-image node', () => {
  assert.is(decide(view('node-1', { desired: null })).kind, 'none');
  assert.is(decide(view('node-1', { running: '2' })).kind, 'none');
  assert.is(decide(view('node-1', { running: '3' })).kind, 'none');
  assert.match((decide(view('node-1', { running: null })) as { why: string }).why, /does not run the golden image/);
});

test('fetch sources: live peers holding the bundle first, then the origin; a gone origin is not asked', () => {
  const statuses = new Map([
    ['node-2', status('node-2', '1', 'staged', { bundles: [desired.bundle] })],
    ['node-3', status('node-3', '1', 'fetching', { bundles: [] })],
  ]);
  const live = new Set(NODES);
  assert.equal(fetchSources({ self: 'node-3', live, statuses }, desired), [{ peer: 'node-2' }, { peer: 'node-1' }]);
  assert.equal(fetchSources({ self: 'node-3', live: new Set(['node-2', 'node-3']), statuses }, desired), [{ peer: 'node-2' }], 'the origin node is down');
  assert.equal(fetchSources({ self: 'node-3', live: new Set(['node-3']), statuses }, desired), [], 'nobody left to fetch from');
  const fromUrl = { ...desired, origin: { node: 'node-1', url: 'http://127.0.0.1:9/v2.bundle' } };
  assert.equal(fetchSources({ self: 'node-3', live, statuses }, fromUrl), [{ peer: 'node-2' }, { peer: 'node-1' }, { url: 'http://127.0.0.1:9/v2.bundle' }]);
  assert.equal(fetchSources({ self: 'node-3', live: new Set(['node-3']), statuses }, fromUrl), [{ url: 'http://127.0.0.1:9/v2.bundle' }], 'every peer gone: the URL');
});

test.run();
