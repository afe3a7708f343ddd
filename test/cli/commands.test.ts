/** The read and write verbs against fakeAgent: requests sent, token header, output and exit codes. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentClient } from '../../src/link/client.js';
import { ago, cli, fakeAgent, TOKEN, type FakeAgent } from './_fake-agent.js';
import { appInfo, release, slot } from './_fixtures.js';

let agent: FakeAgent;

test.before(async () => {
  agent = await fakeAgent({
    'GET /v1/apps': { json: { apps: [{ name: 'web', repo: 'https://github.com/acme/web', branch: 'main', release: 3, replicas: 2, running: 2, url: 'http://web.pleaco.local' }, { name: 'api', repo: 'https://github.com/acme/api', branch: 'dev', release: null, replicas: 1, running: 0, url: null }] } },
    'POST /v1/apps': { status: 201, json: { app: { ...appInfo, release: null, currentRelease: null, url: null } } },
    'GET /v1/apps/web': { json: { app: appInfo } },
    'DELETE /v1/apps/web': { status: 204 },
    'GET /v1/apps/web/ps': { json: { replicas: 3, processes: [slot(0), slot(1, { node: 'node-b', next: { release: 4, containerId: 'n1', state: 'starting', since: ago(0), restarts: 0 } }), slot(2, { state: 'crashed', lastExitCode: 1, restarts: 4, hostPort: null, nextRetryAt: new Date(Date.parse(ago(0)) + 20_000).toISOString(), lastLog: 'Error: PORT not set\n' })] } },
    'PUT /v1/apps/web/scale': (req, res) => void res.end(JSON.stringify({ replicas: (req.body as { replicas: number }).replicas })),
    'PUT /v1/apps/api/scale': { json: { replicas: 1 } },
    'GET /v1/apps/web/config': { json: { config: { WORKERS: '4', DATABASE_URL: 'postgres://db/web?sslmode=require' } } },
    'PATCH /v1/apps/web/config': { json: { config: {}, release: release(4, { kind: 'config' }) } },
    'GET /v1/apps/web/releases': { json: { releases: [release(5, { kind: 'rollback', from: 3, description: 'Rollback to v3' }), release(4, { test: { command: null, skipped: 'no test command' } }), release(3)] } },
    'POST /v1/apps/web/rollback': { status: 201, json: { release: release(6, { kind: 'rollback', from: 2 }) } },
    'GET /v1/apps/web/logs': { ndjson: [{ slot: 'web#0', release: 3, stream: 'stdout', line: 'listening on 5000' }, { slot: 'web#1', release: 3, stream: 'stderr', line: 'warn: slow' }] },
    'GET /v1/nodes': { json: { nodes: [{ id: 'node-b', address: '10.0.0.2', version: '0.1.0', startedAt: ago(3600_000), docker: { ok: false, error: 'socket missing' }, cpus: 2, memoryBytes: 4 * 1024 ** 3, self: false, state: 'alive' }, { id: 'node-a', address: '10.0.0.1', version: '0.1.0', startedAt: ago(7200_000), docker: { ok: true, version: '24.0.5' }, cpus: 4, memoryBytes: 8 * 1024 ** 3, self: true, state: 'alive', labels: { zone: 'a', disk: 'ssd' } }],
      discovery: {
        clusterId: 'c-3f9a0c1d22b7', mdns: { enabled: true, interfaces: ['eth0'] },
        seeds: [{ seed: 'seeds.lan:7946', source: 'config', addrs: ['10.0.0.2:7946', '10.0.0.3:7946'], error: null }],
        foreign: { total: 5, otherCluster: 4, wrongKey: 1, senders: [{ node: 'lab-7', cluster: 'c-81d2aa907e10', from: '10.0.0.9', reason: 'other-cluster', count: 4 }, { node: 'lab-8', cluster: 'c-3f9a0c1d22b7', from: '10.0.0.8', reason: 'wrong-key', count: 1 }] },
        clashes: [{ app: 'web', kept: { createdAt: '2026-02-01T00:00:00Z', repo: 'https://git.example/b.git', branch: 'main' }, dropped: { createdAt: '2026-01-01T00:00:00Z', repo: 'https://git.example/a.git', branch: 'main' }, current: null, at: '2026-03-01T00:00:00Z' }],
      } } },
    'GET /v1/health': { json: { ok: true, node: 'node-a', version: '0.1.0', docker: { ok: true } } },
  });
});
test.after(() => agent.close());
test.before.each(() => void agent.requests.splice(0));

const last = () => agent.requests[agent.requests.length - 1]!;

test('apps: table, with the token in the Authorization header', async () => {
  const r = await cli(['apps'], agent);
  assert.is(r.code, 0);
  assert.equal(r.out, [
    'NAME  RELEASE  RUNNING  URL                      REPO                         BRANCH',
    'web   v3       2/2      http://web.pleaco.local  https://github.com/acme/web  main',
    'api   -        0/1      -                        https://github.com/acme/api  dev',
  ]);
  assert.is(last().method, 'GET');
  assert.is(last().url, '/v1/apps');
  assert.is(last().authorization, `Bearer ${TOKEN}`);
});

test('--json prints the API JSON', async () => {
  const r = await cli(['apps', '--json'], agent);
  assert.is(JSON.parse(r.stdout).apps[0].name, 'web');
  const info = await cli(['apps:info', 'web', '--json'], agent);
  assert.is(JSON.parse(info.stdout).app.webhook.secret, 'whsec-do-not-print');
});

test('apps:create sends name, repo, branch and shows the webhook', async () => {
  const r = await cli(['apps:create', 'web', '--repo', 'https://github.com/acme/web', '--branch', 'main'], agent);
  assert.is(r.code, 0);
  assert.equal(last().body, { name: 'web', repo: 'https://github.com/acme/web', branch: 'main' });
  assert.is(last().contentType, 'application/json');
  assert.is(r.out[0], 'Created web from https://github.com/acme/web (branch main)');
  assert.match(r.stdout, /Webhook secret: whsec-do-not-print/);
  await cli(['apps:create', 'web', '--repo', 'https://github.com/acme/web'], agent);
  assert.equal(last().body, { name: 'web', repo: 'https://github.com/acme/web' });
});

test('apps:info: Heroku-style sections, secret not shown', async () => {
  const r = await cli(['apps:info', 'web'], agent);
  assert.is(r.code, 0);
  assert.is(r.out[0], '=== web');
  assert.ok(r.out.includes('Release:    v3 (deploy 4b825dc, 5 minutes ago)'), r.stdout);
  assert.ok(r.out.includes('Config:     DATABASE_URL, WORKERS'));
  assert.ok(r.out.includes('=== web processes'));
  assert.match(r.stdout, /web#0\s+up 5m 00s\s+v3\s+node-a/);
  assert.ok(r.stdout.indexOf('web#0') < r.stdout.indexOf('web#1'), 'slots in order');
  assert.not.match(r.stdout, /whsec/);
});

test('apps:destroy: --confirm must match; interactive when stdin is a TTY; refuses otherwise', async () => {
  const ok = await cli(['apps:destroy', 'web', '--confirm', 'web'], agent);
  assert.is(ok.code, 0);
  assert.is(last().method, 'DELETE');
  assert.is(last().url, '/v1/apps/web');
  agent.requests.splice(0);
  const wrong = await cli(['apps:destroy', 'web', '--confirm', 'api'], agent);
  assert.is(wrong.code, 1);
  assert.match(wrong.stderr, /did not match web; nothing was destroyed/);
  const noTty = await cli(['apps:destroy', 'web'], agent);
  assert.is(noTty.code, 2);
  assert.match(noTty.stderr, /needs --confirm web when stdin is not a terminal/);
  assert.is(agent.requests.length, 0, 'nothing sent');
  const asked: string[] = [];
  const tty = await cli(['apps:destroy', 'web'], agent, { ask: async (q) => (asked.push(q), 'web\n') });
  assert.is(tty.code, 0);
  assert.match(asked[0] ?? '', /type web/);
  assert.is(last().method, 'DELETE');
});

test('ps: slots, crash details and last output', async () => {
  const r = await cli(['ps', 'web'], agent);
  assert.is(r.code, 0);
  assert.is(r.out[0], '=== web: 2 of 3 running');
  assert.match(r.out[1] ?? '', /^SLOT   STATE {34}RELEASE  NODE    CONTAINER +RESTARTS  ADDRESS$/);
  assert.match(r.out[3] ?? '', /^web#1  up 5m 00s, v4 starting\s+v3\s+node-b/);
  assert.match(r.out[4] ?? '', /^web#2  crashed \(exit 1\), retry in 20 seconds  v3\s+node-a  \S+\s+4\s+-$/);
  assert.ok(r.out.includes('=== last output of web#2'));
  assert.ok(r.out.includes('Error: PORT not set'));
});

test('ps:scale: one PUT per app, validated before anything is sent', async () => {
  const r = await cli(['ps:scale', 'web=3', 'api=1'], agent);
  assert.is(r.code, 0);
  assert.equal(agent.requests.map((q) => [q.method, q.url, q.body]), [
    ['PUT', '/v1/apps/web/scale', { replicas: 3 }],
    ['PUT', '/v1/apps/api/scale', { replicas: 1 }],
  ]);
  assert.equal(r.out, ['Scaled web to 3 replicas', 'Scaled api to 1 replica']);
  agent.requests.splice(0);
  assert.is((await cli(['ps:scale', 'web=2', 'api=many'], agent)).code, 2);
  assert.is(agent.requests.length, 0);
});

test('config, config:set (values with =), config:unset', async () => {
  const show = await cli(['config', 'web'], agent);
  assert.equal(show.out, ['=== web config vars', 'DATABASE_URL: postgres://db/web?sslmode=require', 'WORKERS:      4']);
  const shell = await cli(['config', 'web', '--shell'], agent);
  assert.equal(shell.out, ["DATABASE_URL='postgres://db/web?sslmode=require'", 'WORKERS=4']);
  const set = await cli(['config:set', 'web', 'URL=postgres://h/db?a=b', 'WORKERS=4'], agent);
  assert.is(set.code, 0);
  assert.is(last().method, 'PATCH');
  assert.equal(last().body, { set: { URL: 'postgres://h/db?a=b', WORKERS: '4' } });
  assert.is(set.out[0], 'Set URL and WORKERS on web: released v4, restarting');
  assert.not.match(set.stdout, /postgres/, 'values are not echoed');
  const unset = await cli(['config:unset', 'web', 'A', 'B', 'A'], agent);
  assert.equal(last().body, { unset: ['A', 'B'] });
  assert.is(unset.out[0], 'Unset A and B on web: released v4, restarting');
});

test('releases and rollback (v3 or 3)', async () => {
  const r = await cli(['releases', 'web'], agent);
  assert.is(r.out[0], '=== web releases');
  assert.match(r.out[1] ?? '', /^VERSION\s+DESCRIPTION\s+COMMIT\s+TESTS\s+CREATED$/);
  assert.match(r.out[2] ?? '', /^v5\*\s+Rollback to v3\s+4b825dc\s+passed\s+5 minutes ago$/);
  assert.match(r.out[3] ?? '', /skipped/);
  await cli(['rollback', 'web', 'v2'], agent);
  assert.equal([last().method, last().url, last().body], ['POST', '/v1/apps/web/rollback', { release: 2 }]);
  const bare = await cli(['rollback', 'web'], agent);
  assert.equal(last().body, {});
  assert.is(bare.out[0], 'Rolled back web to v2: released v6');
  await cli(['rollback', 'web', '2'], agent);
  assert.equal(last().body, { release: 2 });
});

test('logs: tail and follow query, `web#0 v3 | line`', async () => {
  const r = await cli(['logs', 'web', '-n', '20'], agent);
  assert.is(r.code, 0);
  assert.is(last().url, '/v1/apps/web/logs?tail=20');
  assert.equal(r.out, ['web#0 v3 | listening on 5000', 'web#1 v3 | warn: slow']);
  await cli(['logs', 'web', '-f'], agent);
  assert.is(last().url, '/v1/apps/web/logs?tail=100&follow=1');
});

test('nodes: sorted, self marked, docker state', async () => {
  const r = await cli(['nodes'], agent);
  assert.is(r.out[0], 'ID       ADDRESS   STATE  VERSION  DOCKER                CPUS  MEMORY   UP      LABELS');
  assert.is(r.out[1], 'node-a*  10.0.0.1  alive  0.1.0    ok 24.0.5             4     8.0 GiB  2h 00m  zone=a,disk=ssd');
  assert.is(r.out[2], 'node-b   10.0.0.2  alive  0.1.0    down: socket missing  2     4.0 GiB  1h 00m  -');
  assert.equal(r.out.slice(4), [
    'cluster c-3f9a0c1d22b7: mDNS on eth0; seeds: seeds.lan:7946 → 10.0.0.2:7946, 10.0.0.3:7946',
    'foreign announcements: 5 ignored (another cluster: 4, wrong key: 1)',
    '  lab-7 at 10.0.0.9: cluster c-81d2aa907e10 (4×)',
    '  lab-8 at 10.0.0.8: wrong key (1×)',
    'app web was made on both sides of a merge: kept the one of https://git.example/b.git (main, made 2026-02-01T00:00:00Z), dropped the one of https://git.example/a.git (main, made 2026-01-01T00:00:00Z); it has no release of its own yet: deploy it',
  ]);
});

test('version shows the node too; token prints the token', async () => {
  const v = await cli(['version'], agent);
  assert.equal(v.out.slice(1), ['node node-a: pleaco 0.1.0']);
  const t = await cli(['token'], agent);
  assert.equal(t.out, [TOKEN]);
});

test('API errors: message and code, exit 1; names are encoded', async () => {
  const r = await cli(['apps:info', 'nope'], agent);
  assert.is(r.code, 1);
  assert.is(r.err[0], 'error: no route GET /v1/apps/nope (not_found)');
  await cli(['ps', 'a/b'], agent);
  assert.is(last().url, '/v1/apps/a%2Fb/ps');
});

test('a wrong token: unauthorized with a hint', async () => {
  const r = await cli(['apps'], () => new AgentClient({ url: agent.url, token: 'wrong' }));
  assert.is(r.code, 1);
  assert.is(r.err[0], 'error: missing or invalid token (unauthorized)');
  assert.match(r.err[1] ?? '', /rejected the token/);
  assert.not.match(r.stderr, /wrong/);
});

test('connection failures name the socket or URL', async () => {
  const sock = await cli(['apps'], () => new AgentClient({ socketPath: '/nonexistent/agent.sock', token: TOKEN }));
  assert.is(sock.code, 1);
  assert.is(sock.err[0], "error: the pleaco node isn't reachable at /nonexistent/agent.sock (ENOENT)");
  assert.match(sock.err[1] ?? '', /make up/);
  const tcp = await cli(['apps'], () => new AgentClient({ url: 'http://127.0.0.1:1', token: TOKEN }));
  assert.is(tcp.err[0], "error: the pleaco node isn't reachable at http://127.0.0.1:1 (ECONNREFUSED)");
  assert.not.match(sock.stderr + tcp.stderr, new RegExp(TOKEN));
});

test.run();
