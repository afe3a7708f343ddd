/**
 * POST /v1/internal/state (what builder, runner and proxy write through AgentLink) checks every key against the
 * model's key schema before anything is stored: an unknown key shape, a key naming an invalid app or host, a key only
 * the agent's own services write, or a value that is not the record its key holds is refused, and nothing of the
 * request is written.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { keys, type Build, type SlotStatus } from '../../src/model/index.js';
import { raw, startTestAgent, type TestAgent } from '../helpers/agent.js';

const w = suite<{ a: TestAgent }>('internal state writes follow the key schema');

w.before(async (ctx) => {
  ctx.a = await startTestAgent();
  await ctx.a.client.request('POST', '/v1/apps', { body: { name: 'web', repo: 'https://example.test/acme/web.git' } });
});
w.after(async (ctx) => ctx.a.close());

function write(a: TestAgent, ops: unknown) {
  return raw(a.url, 'POST', '/v1/internal/state', { headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ ops }) });
}

const build = (over: Partial<Build> = {}): Build => ({ id: 'b1', app: 'web', ref: 'main', status: 'running', stage: 'fetch', trigger: 'api', createdAt: '2024-01-01T00:00:00Z', ...over });
const slot = (over: Partial<SlotStatus> = {}): SlotStatus => ({
  app: 'web', slot: 'web#1', node: 'test-node', release: 1, containerId: 'c1', state: 'running', host: '127.0.0.1', hostPort: 30001, restarts: 0, since: '2024-01-01T00:00:00Z', ...over,
});

w('the records the subsystems write are accepted', async ({ a }) => {
  const r = await write(a, [
    { key: keys.build('web', 'b1'), value: build() },
    { key: keys.slot('test-node', 'web', 1), value: slot() },
    { key: keys.proxy('test-node'), value: { port: 8080, domain: 'localhost', ok: true, at: '2024-01-01T00:00:00Z' } },
    { key: keys.slot('test-node', 'web', 2), value: null },
  ]);
  assert.is(r.status, 200, r.text);
  assert.is(a.store.get<Build>(keys.build('web', 'b1'))?.stage, 'fetch');
});

w('an invalid app name or host in a key, or an unknown key shape, is a 400 and nothing is written', async ({ a }) => {
  for (const key of ['apps/1abc', 'apps/a.b', 'builds/1abc/b1', 'obs/test-node/slots/a.b#1', 'domains/WWW.Example.Test', 'domains/-bad-', 'nonsense/key', 'builds/web', 'obs/test-node/whatever']) {
    const r = await write(a, [{ key: keys.slot('test-node', 'web', 3), value: slot({ slot: 'web#3' }) }, { key, value: { app: 'web' } }]);
    assert.is(r.status, 400, `${key}: ${r.status} ${r.text}`);
    assert.is(a.store.get(key), undefined, `${key} was not written`);
  }
  assert.is(a.store.get(keys.slot('test-node', 'web', 3)), undefined, 'a refused request writes none of its ops');
});

w("a key only the agent's services write is refused (403): apps, releases, current, domains", async ({ a }) => {
  for (const key of [keys.app('other'), keys.current('web'), keys.release('web', 7), 'domains/www.example.test', keys.scale('web')]) {
    const before = JSON.stringify(a.store.get(key) ?? null);
    const r = await write(a, [{ key, value: { release: 7 } }]);
    assert.is(r.status, 403, `${key}: ${r.status} ${r.text}`);
    assert.is(JSON.stringify(a.store.get(key) ?? null), before, `${key} is unchanged`);
  }
});

w('a value that is not the record its key holds is a 400', async ({ a }) => {
  const cases: [string, unknown][] = [
    [keys.build('web', 'b2'), 'not a build'],
    [keys.build('web', 'b2'), build({ id: 'b3' })],
    [keys.build('web', 'b2'), build({ id: 'b2', app: 'api' })],
    [keys.slot('test-node', 'web', 4), slot({ app: 'api' })],
    [keys.slot('test-node', 'web', 4), [1, 2, 3]],
  ];
  for (const [key, value] of cases) {
    const r = await write(a, [{ key, value }]);
    assert.is(r.status, 400, `${key} = ${JSON.stringify(value)}: ${r.status} ${r.text}`);
    assert.is(a.store.get(key), undefined);
  }
});

w('an op carrying its own stamp or unknown fields is a 400 (the agent stamps every write)', async ({ a }) => {
  const r = await write(a, [{ key: keys.build('web', 'b4'), value: build({ id: 'b4' }), ts: { wall: 9e15, counter: -1, node: 'x' } }]);
  assert.is(r.status, 400, r.text);
  assert.is(a.store.get(keys.build('web', 'b4')), undefined);
});

w.run();
