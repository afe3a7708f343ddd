/** autoscale, autoscale:set, autoscale:off against the CLI's fake agent (canned answers; the API side is test/multinode). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ago, cli, fakeAgent, type FakeAgent } from './_fake-agent.js';

let agent: FakeAgent;
const policy = { min: 1, max: 10, targetRps: 50, windowS: 300 };
const history = [...Array(50).fill(0), 10, 40, 90, 140, 142, 138, 120, 131, 130, 131.5];
const status = {
  app: 'web', node: 'pleaco-2-7d1f0a', at: ago(1), metric: 131.5, nodes: 3, desired: 3, panic: false, history,
  decisions: [{ at: Date.parse(ago(120)), current: 1, desired: 3, metric: 142, perReplica: 142, target: 50, panic: true, reason: 'panic: 142.0 req/s in the last 4 s is ≥ 2× the capacity of 1 replica: scale up to 3 at once' }],
  memory: { recommendations: [], panicUntil: null, lastActiveAt: null },
};

test.before(async () => {
  agent = await fakeAgent({
    'GET /v1/apps/web/autoscale': { json: { app: 'web', policy, replicas: 3, status } },
    'GET /v1/apps/api/autoscale': { json: { app: 'api', policy: null, replicas: 2, status: null } },
    'PUT /v1/apps/web/autoscale': { json: { app: 'web', policy: { ...policy, min: 0 }, replicas: 3 } },
    'DELETE /v1/apps/web/autoscale': { json: { app: 'web', policy: null, replicas: 3 } },
  });
});

test.after(() => agent.close());

test('autoscale: the policy, the traffic now, a sparkline of the last minutes and the last decisions', async () => {
  const r = await cli(['autoscale', 'web'], agent);
  assert.is(r.code, 0, r.stderr);
  const text = r.out.join('\n');
  assert.match(text, /Replicas:\s+3 \(between 1 and 10\)/);
  assert.match(text, /Target:\s+50 req\/s per replica/);
  assert.match(text, /Now:\s+131\.5 req\/s from 3 proxies; desired 3/);
  assert.match(text, /Last 10 min:\s+[ ▁▂▃▄▅▆▇█]+ +0–142 req\/s/);
  assert.ok(text.includes('█'), 'the peak is a full block');
  assert.match(text, /1 → 3  panic: 142\.0 req\/s/);
});

test('autoscale of an app without a policy says how to set one', async () => {
  const r = await cli(['autoscale', 'api'], agent);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.out.join('\n'), /Off: 2 replicas, set by hand \(pleaco autoscale:set api/);
});

test('autoscale:set sends the policy; --max and exactly one target are required', async () => {
  const r = await cli(['autoscale:set', 'web', '--min', '0', '--max', '10', '--target-rps', '50', '--window', '5m'], agent);
  assert.is(r.code, 0, r.stderr);
  assert.equal(agent.requests.at(-1)!.body, { max: 10, min: 0, targetRps: 50, windowS: 300 });
  assert.is(r.out[0], 'Autoscaling web: 0 to 10 replicas, 50 req/s per replica');
  assert.is((await cli(['autoscale:set', 'web', '--target-rps', '5'], agent)).code, 2, 'no --max');
  assert.is((await cli(['autoscale:set', 'web', '--max', '3'], agent)).code, 2, 'no target');
  assert.is((await cli(['autoscale:set', 'web', '--max', '3', '--target-rps', '5', '--target-concurrency', '2'], agent)).code, 2, 'two targets');
  assert.is((await cli(['autoscale:set', 'web', '--max', 'x', '--target-rps', '5'], agent)).code, 2, 'not a number');
});

test('autoscale:off keeps the count', async () => {
  const r = await cli(['autoscale:off', 'web'], agent);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.out[0], 'Autoscaling of web is off; it keeps 3 replicas (pleaco ps:scale web=N to change)');
});

test.run();
