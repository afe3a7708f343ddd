/**
 * Records of another shape can arrive by replication (an older or broken node writes them; this node's own routes
 * refuse them): the API keeps answering about everything else. Found by `make fuzz-api` (GET /v1/apps and
 * GET /v1/apps/:name/releases answered 500). The records are put straight into the agent's store, as a merge would.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { keys } from '../../src/model/index.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';

const b = suite<{ a: TestAgent }>('the API answers around malformed replicated records');

b.before(async (ctx) => {
  ctx.a = await startTestAgent();
  await ctx.a.client.request('POST', '/v1/apps', { body: { name: 'web', repo: 'https://example.test/acme/web.git' } });
});
b.after(async (ctx) => ctx.a.close());

b('an apps/ record that is no app spec is left out of the list; it can be shown as invalid and deleted', async ({ a }) => {
  await a.store.put(keys.app('broken'), { name: 'broken' });
  await a.store.put(keys.app('num'), 7);
  await a.store.put('apps/1abc', { name: '1abc', repo: 'https://example.test/x.git', branch: 'main', webhookSecret: 's' });
  const list = await a.tcp.request<{ apps: { name: string }[] }>('GET', '/v1/apps');
  assert.equal(list.apps.map((x) => x.name), ['web']);
  const shown = await a.tcp.request('GET', '/v1/apps/broken').catch((err: { status?: number }) => err);
  assert.is((shown as { status?: number }).status, 409);
  await a.tcp.request('DELETE', '/v1/apps/broken');
  assert.is(a.store.get(keys.app('broken')), undefined);
});

b('a release record without its config is listed (without config keys)', async ({ a }) => {
  const rel = { app: 'web', number: 1, kind: 'deploy', description: 'x', commit: 'a'.repeat(40), image: 'pleaco/web:b1', imageId: null, build: 'b1', test: null, port: 5000, createdAt: '2024-01-01T00:00:00Z' };
  await a.store.put(keys.release('web', 1), rel);
  const res = await a.tcp.request<{ releases: { number: number; configKeys: string[] }[] }>('GET', '/v1/apps/web/releases');
  assert.equal(res.releases.map((r) => [r.number, r.configKeys]), [[1, []]]);
});

b.run();
