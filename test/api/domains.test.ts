/** Domains, health checks, soft state and request metrics through the real agent API (test/helpers/agent.ts). */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { raw, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { keys, type AppMetrics, type ProxyStatus, type StatusCodeCounts } from '../../src/model/index.js';
import { PleacoError } from '../../src/errors.js';

const t = suite<{ a: TestAgent }>('domains');

t.before(async (ctx) => {
  ctx.a = await startTestAgent();
  for (const name of ['web', 'api']) await ctx.a.client.request('POST', '/v1/apps', { body: { name, repo: `https://git.example.invalid/${name}.git` } });
});
t.after(async (ctx) => {
  await ctx.a.close();
});

async function fails(p: Promise<unknown>): Promise<PleacoError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, PleacoError);
    return err as PleacoError;
  }
  throw new Error('expected the request to fail');
}

type Domains = { domains: { host: string; implicit: boolean }[] };

t('add, list (implicit host first), remove; hosts are lowercased', async ({ a }) => {
  assert.equal(await a.client.request('GET', '/v1/apps/web/domains'), { domains: [{ host: 'web.localhost', implicit: true }] });
  const added = await a.client.request<{ domain: { host: string; implicit: boolean } }>('POST', '/v1/apps/web/domains', { body: { host: 'WWW.Example.COM' } });
  assert.equal([added.domain.host, added.domain.implicit], ['www.example.com', false]);
  await a.client.request('POST', '/v1/apps/web/domains', { body: { host: 'a.example.org' } });
  const list = await a.client.request<Domains>('GET', '/v1/apps/web/domains');
  assert.equal(list.domains, [
    { host: 'web.localhost', implicit: true },
    { host: 'a.example.org', implicit: false },
    { host: 'www.example.com', implicit: false },
  ]);
  assert.equal(a.store.get(keys.domain('www.example.com')), { app: 'web', createdAt: a.store.get<{ createdAt: string }>(keys.domain('www.example.com'))!.createdAt });
  const info = await a.client.request<{ app: { domains: unknown } }>('GET', '/v1/apps/web');
  assert.equal(info.app.domains, list.domains, 'apps:info carries the domains');
  const del = await raw(a.url, 'DELETE', '/v1/apps/web/domains/A.Example.ORG', { headers: { authorization: `Bearer ${a.token}` } });
  assert.is(del.status, 204);
  assert.equal((await a.client.request<Domains>('GET', '/v1/apps/web/domains')).domains.map((d) => d.host), ['web.localhost', 'www.example.com']);
  const gone = await fails(a.client.request('DELETE', '/v1/apps/web/domains/a.example.org'));
  assert.equal([gone.status, gone.code], [404, 'not_found']);
  assert.is((await fails(a.client.request('DELETE', '/v1/apps/api/domains/www.example.com'))).status, 404, "another app's host is not removed");
  assert.is((await fails(a.client.request('DELETE', '/v1/apps/web/domains/web.localhost'))).status, 400, 'the implicit host stays');
  assert.is((await fails(a.client.request('GET', '/v1/apps/nope/domains'))).status, 404);
});

t('invalid hosts get a 400 that says why; nothing is stored', async ({ a }) => {
  const cases: [unknown, RegExp][] = [
    [undefined, /host is required/],
    ['', /host is required/],
    [42, /host is required/],
    ['*.example.com', /wildcard domains are not supported/],
    ['example', /full name with a dot/],
    ['-bad.example.com', /label "-bad" must be 1-63/],
    ['bad-.example.com', /label "bad-"/],
    ['a..example.com', /label ""/],
    ['under_score.example.com', /label "under_score"/],
    ['sp ace.example.com', /label "sp ace"/],
    [`${'a'.repeat(64)}.example.com`, /must be 1-63/],
    [`${'a.'.repeat(127)}com`, /at most 253 characters/],
    ['10.0.0.1', /an IP address is not a domain/],
    ['example.com.', /label ""/],
  ];
  for (const [host, re] of cases) {
    const err = await fails(a.client.request('POST', '/v1/apps/api/domains', { body: host === undefined ? {} : { host } }));
    assert.is(err.status, 400, JSON.stringify(host));
    assert.match(err.message, re, JSON.stringify(host));
  }
  assert.equal((await a.client.request<Domains>('GET', '/v1/apps/api/domains')).domains.length, 1);
});

t('duplicates, hosts of other apps and implicit hosts are refused', async ({ a }) => {
  await a.client.request('POST', '/v1/apps/web/domains', { body: { host: 'shop.example.net' } });
  const dup = await fails(a.client.request('POST', '/v1/apps/web/domains', { body: { host: 'Shop.Example.Net' } }));
  assert.equal([dup.status, dup.code], [409, 'conflict']);
  assert.match(dup.message, /already added to web/);
  const taken = await fails(a.client.request('POST', '/v1/apps/api/domains', { body: { host: 'shop.example.net' } }));
  assert.equal([taken.status, taken.code], [409, 'conflict']);
  assert.match(taken.message, /already routed to app web/);
  const own = await fails(a.client.request('POST', '/v1/apps/web/domains', { body: { host: 'web.localhost' } }));
  assert.is(own.status, 400);
  assert.match(own.message, /already routed/);
  const reserved = await fails(a.client.request('POST', '/v1/apps/web/domains', { body: { host: 'api.localhost' } }));
  assert.is(reserved.status, 409);
  assert.match(reserved.message, /reserved for app api/);
  assert.match((await fails(a.client.request('POST', '/v1/apps/web/domains', { body: { host: 'future.localhost' } }))).message, /reserved for app future/, 'also for apps not created yet');
  await a.client.request('POST', '/v1/apps/web/domains', { body: { host: 'deep.api.localhost' } });
  // Two apps racing for one host: exactly one gets it.
  const race = await Promise.allSettled(['web', 'api'].map((app) => a.client.request('POST', `/v1/apps/${app}/domains`, { body: { host: 'race.example.net' } })));
  assert.is(race.filter((r) => r.status === 'fulfilled').length, 1);
  assert.is(a.store.list(keys.domainPrefix).filter((e) => e.key === keys.domain('race.example.net')).length, 1);
});

t('destroying an app frees its hosts; a new app of that name does not inherit them', async ({ a }) => {
  await a.client.request('POST', '/v1/apps', { body: { name: 'old', repo: 'https://git.example.invalid/old.git' } });
  await a.client.request('POST', '/v1/apps/old/domains', { body: { host: 'old.example.com' } });
  await a.client.request('PUT', '/v1/apps/old/healthcheck', { body: { path: '/up', rise: 5 } });
  await a.client.request('DELETE', '/v1/apps/old');
  assert.is(a.store.get(keys.domain('old.example.com')), undefined);
  assert.is(a.store.get(keys.health('old')), undefined);
  await a.client.request('POST', '/v1/apps', { body: { name: 'old', repo: 'https://git.example.invalid/new.git' } });
  assert.equal((await a.client.request<Domains>('GET', '/v1/apps/old/domains')).domains, [{ host: 'old.localhost', implicit: true }]);
  assert.equal((await a.client.request<{ healthcheck: unknown }>('GET', '/v1/apps/old/healthcheck')).healthcheck, { path: '/', intervalMs: 2000, rise: 2, fall: 3, deadlineMs: 60000 });
  // A record a racing write left behind (its app is gone) is free to take.
  await a.store.put(keys.domain('stale.example.com'), { app: 'ghost', createdAt: new Date().toISOString() });
  await a.client.request('POST', '/v1/apps/api/domains', { body: { host: 'stale.example.com' } });
  assert.equal(a.store.get<{ app: string }>(keys.domain('stale.example.com'))!.app, 'api');
  await a.client.request('DELETE', '/v1/apps/old');
});

t('health check: defaults, set (left-out fields take defaults), validation', async ({ a }) => {
  assert.equal(await a.client.request('GET', '/v1/apps/api/healthcheck'), { healthcheck: { path: '/', intervalMs: 2000, rise: 2, fall: 3, deadlineMs: 60000 } });
  const set = await a.client.request('PUT', '/v1/apps/api/healthcheck', { body: { path: '/up?full=1', intervalMs: 5000, rise: 1, fall: 10 } });
  assert.equal(set, { healthcheck: { path: '/up?full=1', intervalMs: 5000, rise: 1, fall: 10, deadlineMs: 60000 } });
  assert.equal(a.store.get(keys.health('api')), { path: '/up?full=1', intervalMs: 5000, rise: 1, fall: 10, deadlineMs: 60000 });
  assert.equal(await a.client.request('PUT', '/v1/apps/api/healthcheck', { body: { path: '/healthz' } }), { healthcheck: { path: '/healthz', intervalMs: 2000, rise: 2, fall: 3, deadlineMs: 60000 } });
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ path: 'up' }, /must start with '\/'/],
    [{ path: '/a b' }, /spaces or control characters/],
    [{ path: '/a\nb' }, /spaces or control characters/],
    [{ path: '/a%20b' }, /may only contain/],
    [{ path: '/"x' }, /may only contain/],
    [{ path: '/' + 'a'.repeat(1024) }, /over 1024 characters/],
    [{ intervalMs: 499 }, /intervalMs must be an integer from 500 to 60000/],
    [{ intervalMs: 60_001 }, /intervalMs/],
    [{ intervalMs: 1500.5 }, /intervalMs/],
    [{ rise: 0 }, /rise must be an integer from 1 to 10/],
    [{ fall: 11 }, /fall must be an integer from 1 to 10/],
    [{ fall: '3' }, /fall/],
    [{ interval: 2000 }, /unknown health check field "interval"/],
  ];
  for (const [body, re] of bad) {
    const err = await fails(a.client.request('PUT', '/v1/apps/api/healthcheck', { body }));
    assert.is(err.status, 400, JSON.stringify(body));
    assert.match(err.message, re, JSON.stringify(body));
  }
  assert.equal(a.store.get<{ path: string }>(keys.health('api'))!.path, '/healthz', 'a refused change changes nothing');
  assert.is((await fails(a.client.request('PUT', '/v1/apps/nope/healthcheck', { body: { path: '/' } }))).status, 404);
});

function sample(node: string, app: string, over: Partial<AppMetrics> = {}): AppMetrics {
  return { app, node, at: new Date().toISOString(), reqRate: 10, reqTotal: 1000, inFlight: 2, queue: 0, codes: { '1xx': 0, '2xx': 900, '3xx': 50, '4xx': 40, '5xx': 10, other: 0 }, avgResponseMs: 4, avgTotalMs: 5, ...over };
}

const post = (a: TestAgent, entries: unknown[]) => a.client.request<{ stored: number }>('POST', '/v1/internal/soft', { body: { entries } });

t('soft metrics: per-app JSON totals and the Prometheus text', async ({ a }) => {
  const n1 = sample('n1', 'web');
  const n2 = sample('n2', 'web', { reqRate: 30, reqTotal: 3000, inFlight: 1, queue: 2, avgResponseMs: 8, codes: { '1xx': 0, '2xx': 2900, '3xx': 0, '4xx': 60, '5xx': 40, other: 0 } });
  const api = sample('n1', 'api', { reqRate: 0, reqTotal: 7, inFlight: 0, avgResponseMs: 1.5, codes: { '1xx': 0, '2xx': 7, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 } });
  assert.equal(await post(a, [keys.metrics('n2', 'web'), keys.metrics('n1', 'web'), keys.metrics('n1', 'api')].map((key, i) => ({ key, value: [n2, n1, api][i], ttlMs: 60_000 }))), { stored: 3 });
  const web = await a.client.request<{ app: string; nodes: AppMetrics[]; total: Record<string, unknown> }>('GET', '/v1/apps/web/metrics');
  assert.is(web.app, 'web');
  assert.equal(web.nodes, [n1, n2]);
  assert.equal(web.total, { reqRate: 40, reqTotal: 4000, inFlight: 3, queue: 2, codes: { '1xx': 0, '2xx': 3800, '3xx': 50, '4xx': 100, '5xx': 50, other: 0 }, avgResponseMs: 7 });
  const empty = await a.client.request<{ nodes: unknown[]; total: { reqRate: number; avgResponseMs: number } }>('GET', '/v1/apps/old/metrics').catch((e: PleacoError) => e);
  assert.instance(empty, PleacoError, 'a missing app is a 404');
  const r = await raw(a.url, 'GET', '/metrics', { headers: { authorization: `Bearer ${a.token}` } });
  assert.is(r.status, 200);
  assert.is(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const codes = (app: string, node: string, c: StatusCodeCounts) => Object.entries(c).map(([k, v]) => `pleaco_app_responses_total{app="${app}",node="${node}",code="${k}"} ${v}`);
  assert.equal(r.text.split('\n'), [
    '# HELP pleaco_app_requests_per_second HTTP requests per second over the last second.',
    '# TYPE pleaco_app_requests_per_second gauge',
    'pleaco_app_requests_per_second{app="api",node="n1"} 0',
    'pleaco_app_requests_per_second{app="web",node="n1"} 10',
    'pleaco_app_requests_per_second{app="web",node="n2"} 30',
    '# HELP pleaco_app_requests_total HTTP requests since the proxy started.',
    '# TYPE pleaco_app_requests_total counter',
    'pleaco_app_requests_total{app="api",node="n1"} 7',
    'pleaco_app_requests_total{app="web",node="n1"} 1000',
    'pleaco_app_requests_total{app="web",node="n2"} 3000',
    '# HELP pleaco_app_in_flight HTTP requests being served now.',
    '# TYPE pleaco_app_in_flight gauge',
    'pleaco_app_in_flight{app="api",node="n1"} 0',
    'pleaco_app_in_flight{app="web",node="n1"} 2',
    'pleaco_app_in_flight{app="web",node="n2"} 1',
    '# HELP pleaco_app_responses_total HTTP responses by status class since the proxy started.',
    '# TYPE pleaco_app_responses_total counter',
    ...codes('api', 'n1', api.codes),
    ...codes('web', 'n1', n1.codes),
    ...codes('web', 'n2', n2.codes),
    '# HELP pleaco_app_response_time_ms Average response time over the last 1024 requests, in milliseconds.',
    '# TYPE pleaco_app_response_time_ms gauge',
    'pleaco_app_response_time_ms{app="api",node="n1"} 1.5',
    'pleaco_app_response_time_ms{app="web",node="n1"} 4',
    'pleaco_app_response_time_ms{app="web",node="n2"} 8',
    '',
  ]);
});

t('/metrics and the soft-state route need the token; bad soft entries are refused whole', async ({ a }) => {
  for (const [method, path] of [['GET', '/metrics'], ['POST', '/v1/internal/soft'], ['GET', '/v1/apps/web/metrics']] as const) {
    const r = await raw(a.url, method, path);
    assert.is(r.status, 401, `${method} ${path}`);
  }
  const before = a.softState.size();
  const bad: [unknown, RegExp][] = [
    [{ key: '../x', value: 1, ttlMs: 5000 }, /invalid soft-state key/],
    [{ key: 'x/y', value: null, ttlMs: 5000 }, /a value is required/],
    [{ key: 'x/y', value: 1, ttlMs: 999 }, /ttlMs must be an integer from 1000 to 300000/],
    [{ key: 'x/y', value: 1, ttlMs: 300_001 }, /ttlMs/],
    [{ key: 'metrics/n1', value: sample('n1', 'web'), ttlMs: 5000 }, /metrics\/<node>\/<app>/],
    [{ key: 'metrics/n1/web', value: sample('n2', 'web'), ttlMs: 5000 }, /app and node must be web and n1/],
    [{ key: 'metrics/n1/web', value: sample('n1', 'web', { reqRate: -1 }), ttlMs: 5000 }, /reqRate must be a number/],
  ];
  for (const [entry, re] of bad) {
    const err = await fails(post(a, [{ key: 'ok/first', value: 1, ttlMs: 5000 }, entry]));
    assert.is(err.status, 400, JSON.stringify(entry));
    assert.match(err.message, re, JSON.stringify(entry));
  }
  assert.is(a.softState.size(), before, 'nothing stored from a refused request');
  const big = await raw(a.url, 'POST', '/v1/internal/soft', { headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ entries: [{ key: 'x/big', value: 'y'.repeat(300 * 1024), ttlMs: 5000 }] }) });
  assert.is(big.status, 413);
});

t('soft entries expire after their TTL', async ({ a }) => {
  await post(a, [{ key: keys.metrics('n3', 'api'), value: sample('n3', 'api'), ttlMs: 1000 }]);
  const nodes = async () => (await a.client.request<{ nodes: AppMetrics[] }>('GET', '/v1/apps/api/metrics')).nodes.map((n) => n.node);
  assert.ok((await nodes()).includes('n3'));
  const deadline = Date.now() + 5000;
  while ((await nodes()).includes('n3')) {
    assert.ok(Date.now() < deadline, 'expired within 5 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const text = (await raw(a.url, 'GET', '/metrics', { headers: { authorization: `Bearer ${a.token}` } })).text;
  assert.not.match(text, /node="n3"/);
});

t('the app URL is the routed one while a proxy reports itself up', async ({ a }) => {
  const url = async () => (await a.client.request<{ apps: { name: string; url: string | null }[] }>('GET', '/v1/apps')).apps.find((x) => x.name === 'web')!.url;
  assert.is(await url(), null, 'no proxy, no running replica');
  const status: ProxyStatus = { port: 8080, domain: 'localhost', ok: true, at: new Date().toISOString() };
  await a.store.put(keys.proxy('test-node'), status);
  assert.is(await url(), 'http://web.localhost:8080');
  assert.is((await a.client.request<{ app: { url: string } }>('GET', '/v1/apps/web')).app.url, 'http://web.localhost:8080');
  await a.store.put(keys.proxy('test-node'), { ...status, port: 80, domain: 'apps.example.com' });
  assert.is(await url(), 'http://web.apps.example.com');
  await a.store.put(keys.proxy('test-node'), { ...status, ok: false });
  assert.is(await url(), null, 'a proxy that is down: the replica URL (none here)');
});

t('the OpenAPI document lists the new routes', async ({ a }) => {
  const doc = await a.client.request<{ paths: Record<string, Record<string, { responses: Record<string, { content: Record<string, unknown> }> }>> }>('GET', '/v1/openapi.json');
  for (const [p, m] of [['/v1/apps/{name}/domains', 'get'], ['/v1/apps/{name}/domains', 'post'], ['/v1/apps/{name}/domains/{host}', 'delete'], ['/v1/apps/{name}/healthcheck', 'put'], ['/v1/apps/{name}/metrics', 'get'], ['/metrics', 'get'], ['/v1/internal/soft', 'post']] as const) {
    assert.ok(doc.paths[p]?.[m], `${m} ${p}`);
  }
  assert.ok(doc.paths['/metrics']!.get!.responses['2XX']!.content['text/plain; version=0.0.4']);
});

t.run();
