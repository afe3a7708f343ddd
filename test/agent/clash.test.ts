/** One app name made on both sides of a merge (agent/clash.ts): the kept spec's releases stay, the other's go. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clashOps } from '../../src/agent/clash.js';
import { keys, type AppSpec, type Release, type StateReader } from '../../src/model/index.js';

/** A map as a StateReader (the planner reads nothing else): a fake of the store for a pure function. */
function fakeState(entries: Record<string, unknown>): StateReader {
  return {
    get: <T>(k: string) => entries[k] as T | undefined,
    list: <T>(p: string) => Object.keys(entries).filter((k) => k.startsWith(p)).sort().map((k) => ({ key: k, value: entries[k] as T })),
  };
}

const spec = (repo: string, createdAt: string): AppSpec => ({ name: 'web', repo, branch: 'main', webhookSecret: 's3cret', createdAt });
const rel = (n: number, appCreatedAt: string): Release => ({ app: 'web', number: n, kind: 'deploy', description: '', commit: null, image: null, imageId: null, build: null, test: null, port: 5000, config: {}, createdAt: `2026-01-0${n}T00:00:00Z`, appCreatedAt });
const A = '2026-01-01T00:00:00.000Z';
const B = '2026-02-01T00:00:00.000Z';
const now = new Date('2026-03-01T00:00:00Z');

test('the dropped app\'s releases go, current moves to the kept app\'s newest, the clash is recorded without secrets', () => {
  const state = fakeState({
    [keys.app('web')]: spec('https://git.example/a.git', A),
    [keys.release('web', 1)]: rel(1, A), [keys.release('web', 2)]: rel(2, B), [keys.release('web', 3)]: rel(3, A), [keys.release('web', 4)]: rel(4, B),
    [keys.current('web')]: { release: 4 },
  });
  const ops = clashOps(state, 'web', spec('https://git.example/b.git', B), now);
  assert.equal(ops.slice(0, 2), [{ key: keys.release('web', 2), value: null }, { key: keys.release('web', 4), value: null }]);
  assert.equal(ops[2], { key: keys.current('web'), value: { release: 3 } });
  assert.equal(ops[3], { key: keys.clash('web'), value: { app: 'web', kept: { createdAt: A, repo: 'https://git.example/a.git', branch: 'main' }, dropped: { createdAt: B, repo: 'https://git.example/b.git', branch: 'main' }, current: 3, at: now.toISOString() } });
  assert.not.ok(JSON.stringify(ops).includes('s3cret'));
});

test('current already on the kept app stays; a kept app with no release of its own is left without one', () => {
  const keptCurrent = clashOps(fakeState({ [keys.app('web')]: spec('a', A), [keys.release('web', 1)]: rel(1, A), [keys.current('web')]: { release: 1 } }), 'web', spec('b', B), now);
  assert.equal(keptCurrent.map((o) => o.key), [keys.clash('web')]);
  const none = clashOps(fakeState({ [keys.app('web')]: spec('a', A), [keys.release('web', 1)]: rel(1, B), [keys.current('web')]: { release: 1 } }), 'web', spec('b', B), now);
  assert.equal(none.slice(1, 2), [{ key: keys.current('web'), value: null }]);
  assert.is((none[2]!.value as { current: number | null }).current, null);
});

test('the same app (one spec rewritten) is no clash', () => {
  assert.equal(clashOps(fakeState({ [keys.app('web')]: spec('a', A) }), 'web', spec('a2', A), now), []);
  assert.equal(clashOps(fakeState({}), 'web', spec('b', B), now), []);
});

test.run();
