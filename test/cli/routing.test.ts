/** domains, domains:add, domains:remove, healthcheck, healthcheck:set and metrics against fakeAgent. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, fakeAgent, type FakeAgent } from './_fake-agent.js';
import { appInfo } from './_fixtures.js';

let agent: FakeAgent;

const codes = (c2: number, c4: number, c5: number) => ({ '1xx': 0, '2xx': c2, '3xx': 0, '4xx': c4, '5xx': c5, other: 0 });

test.before(async () => {
  agent = await fakeAgent({
    'GET /v1/apps/web/domains': { json: { domains: [{ host: 'web.localhost', implicit: true }, { host: 'www.example.com', implicit: false }] } },
    'GET /v1/apps/api/domains': { json: { domains: [{ host: 'api.localhost', implicit: true }] } },
    'POST /v1/apps/web/domains': (req, res) => {
      const host = String((req.body as { host: string }).host).toLowerCase();
      if (host === 'taken.example.com') return void res.writeHead(409, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'conflict', message: 'taken.example.com is already routed to app api' } }));
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ domain: { host, implicit: false, createdAt: '2025-03-01T12:00:00.000Z' } }));
    },
    'DELETE /v1/apps/web/domains/www.example.com': { status: 204 },
    'GET /v1/apps/web/healthcheck': { json: { healthcheck: { path: '/', intervalMs: 2000, rise: 2, fall: 3, deadlineMs: 60000 } } },
    'PUT /v1/apps/web/healthcheck': (req, res) => void res.end(JSON.stringify({ healthcheck: { path: '/', intervalMs: 2000, rise: 2, fall: 3, deadlineMs: 60000, ...(req.body as object) } })),
    'GET /v1/apps/web/metrics': {
      json: {
        app: 'web',
        nodes: [
          { app: 'web', node: 'node-a', at: '2025-03-01T12:00:00.000Z', reqRate: 12, reqTotal: 1000, inFlight: 3, queue: 0, codes: codes(900, 10, 1), avgResponseMs: 4, avgTotalMs: 5 },
          { app: 'web', node: 'node-b', at: '2025-03-01T12:00:00.000Z', reqRate: 8, reqTotal: 500, inFlight: 0, queue: 0, codes: codes(480, 0, 2), avgResponseMs: 6.5, avgTotalMs: 7 },
        ],
        total: { reqRate: 20, reqTotal: 1500, inFlight: 3, queue: 0, codes: codes(1380, 10, 3), avgResponseMs: 5 },
      },
    },
    'GET /v1/apps/api/metrics': { json: { app: 'api', nodes: [], total: { reqRate: 0, reqTotal: 0, inFlight: 0, queue: 0, codes: codes(0, 0, 0), avgResponseMs: 0 } } },
    'GET /v1/apps/web': { json: { app: { ...appInfo, domains: [{ host: 'web.localhost', implicit: true }, { host: 'www.example.com', implicit: false }] } } },
  });
});
test.after(() => agent.close());
test.before.each(() => void agent.requests.splice(0));

const last = () => agent.requests[agent.requests.length - 1]!;

test('domains: implicit host first, marked; --json is the API answer', async () => {
  const r = await cli(['domains', 'web'], agent);
  assert.is(r.code, 0);
  assert.equal(r.out, ['=== web domains', 'web.localhost (implicit)', 'www.example.com']);
  const none = await cli(['domains', 'api'], agent);
  assert.equal(none.out, ['=== api domains', 'api.localhost (implicit)', 'Add one with: pleaco domains:add api www.example.com']);
  const j = await cli(['domains', 'web', '--json'], agent);
  assert.is(JSON.parse(j.stdout).domains[1].host, 'www.example.com');
});

test('domains:add and domains:remove: requests, output, a conflict is exit 1 with the message', async () => {
  const add = await cli(['domains:add', 'web', 'WWW.Example.com'], agent);
  assert.is(add.code, 0);
  assert.equal([last().method, last().url, last().body], ['POST', '/v1/apps/web/domains', { host: 'WWW.Example.com' }]);
  assert.equal(add.out, ['Added www.example.com to web']);
  const taken = await cli(['domains:add', 'web', 'taken.example.com'], agent);
  assert.is(taken.code, 1);
  assert.is(taken.err[0], 'error: taken.example.com is already routed to app api (conflict)');
  const rm = await cli(['domains:remove', 'web', 'www.example.com'], agent);
  assert.is(rm.code, 0);
  assert.equal([last().method, last().url], ['DELETE', '/v1/apps/web/domains/www.example.com']);
  assert.equal(rm.out, ['Removed www.example.com from web']);
  agent.requests.splice(0);
  assert.is((await cli(['domains:add', 'web'], agent)).code, 2, 'HOST is required');
  assert.is(agent.requests.length, 0);
});

test('apps:info lists the added domains', async () => {
  const r = await cli(['apps:info', 'web'], agent);
  assert.ok(r.out.includes('Domains:    www.example.com'), r.stdout);
});

test('healthcheck and healthcheck:set (durations, counts, only the flags given are sent)', async () => {
  const show = await cli(['healthcheck', 'web'], agent);
  assert.equal(show.out, [
    '=== web health check',
    'Path:     /',
    'Interval: 2s',
    'Rise:     2 (passing checks before a replica takes traffic)',
    'Fall:     3 (failing checks before it leaves rotation)',
    'Deadline: 60s (a new release not healthy by then is rolled back)',
  ]);
  const set = await cli(['healthcheck:set', 'web', '/up', '--interval', '1500ms', '--rise', '3', '--fall', '5', '--deadline', '2m'], agent);
  assert.is(set.code, 0);
  assert.equal([last().method, last().url, last().body], ['PUT', '/v1/apps/web/healthcheck', { path: '/up', intervalMs: 1500, rise: 3, fall: 5, deadlineMs: 120_000 }]);
  assert.equal(set.out, ['Set the health check of web:', 'Path:     /up', 'Interval: 1500ms', 'Rise:     3 (passing checks before a replica takes traffic)', 'Fall:     5 (failing checks before it leaves rotation)', 'Deadline: 2m (a new release not healthy by then is rolled back)']);
  await cli(['healthcheck:set', 'web', '/healthz'], agent);
  assert.equal(last().body, { path: '/healthz' });
  await cli(['healthcheck:set', 'web', '/', '--interval', '5s'], agent);
  assert.equal(last().body, { path: '/', intervalMs: 5000 });
  await cli(['healthcheck:set', 'web', '/', '--interval', '1m'], agent);
  assert.equal(last().body, { path: '/', intervalMs: 60_000 });
  agent.requests.splice(0);
  for (const [argv, re] of [
    [['healthcheck:set', 'web', 'up'], /PATH must start with '\/'/],
    [['healthcheck:set', 'web', '/', '--interval', '100ms'], /--interval must be from 500ms to 60s/],
    [['healthcheck:set', 'web', '/', '--interval', 'soon'], /--interval/],
    [['healthcheck:set', 'web', '/', '--rise', '11'], /--rise must be a whole number from 1 to 10/],
    [['healthcheck:set', 'web', '/', '--fall', '0'], /--fall/],
    [['healthcheck:set', 'web', '/', '--deadline', '500ms'], /--deadline must be from 1s to 60m/],
  ] as [string[], RegExp][]) {
    const r = await cli(argv, agent);
    assert.is(r.code, 2, argv.join(' '));
    assert.match(r.stderr, re);
  }
  assert.is(agent.requests.length, 0, 'nothing sent for bad input');
});

test('metrics: per node and total; none yet; --json', async () => {
  const r = await cli(['metrics', 'web'], agent);
  assert.is(r.code, 0);
  assert.equal(r.out, [
    '=== web requests',
    'NODE    REQ/S  IN-FLIGHT  2XX   4XX  5XX  AVG MS',
    'node-a  12     3          900   10   1    4',
    'node-b  8      0          480   0    2    6.5',
    'total   20     3          1380  10   3    5',
  ]);
  const none = await cli(['metrics', 'api'], agent);
  assert.equal(none.out, ['=== api requests', 'No metrics yet: the proxy reports every 2 s while it runs (is pleaco-proxy up?)']);
  const j = await cli(['metrics', 'web', '--json'], agent);
  assert.is(JSON.parse(j.stdout).total.reqRate, 20);
});

test.run();
