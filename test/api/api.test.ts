import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { raw, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { PleacoError } from '../../src/errors.js';

const api = suite<{ a: TestAgent }>('api');

api.before(async (ctx) => {
  ctx.a = await startTestAgent();
});
api.after(async (ctx) => {
  await ctx.a.close();
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, PleacoError);
    return (err as PleacoError).code;
  }
  throw new Error('expected the request to fail');
}

api('health answers without a token; every other route wants the bearer token', async ({ a }) => {
  const h = await raw(a.url, 'GET', '/v1/health');
  assert.is(h.status, 200);
  assert.is((h.json as { ok: boolean }).ok, true);
  for (const [method, path] of [['GET', '/v1/apps'], ['GET', '/v1/openapi.json'], ['POST', '/v1/apps'], ['GET', '/v1/internal/watch']] as const) {
    const r = await raw(a.url, method, path);
    assert.is(r.status, 401, `${method} ${path}`);
    assert.equal((r.json as { error: { code: string } }).error.code, 'unauthorized');
    assert.is(r.headers.get('www-authenticate'), 'Bearer realm="pleaco"');
  }
  const wrong = await raw(a.url, 'GET', '/v1/apps', { headers: { authorization: 'Bearer nope' } });
  assert.is(wrong.status, 401);
  assert.is((await raw(a.url, 'HEAD', '/v1/health')).status, 200, 'HEAD works for liveness probes');
  assert.is((await raw(a.url, 'HEAD', '/v1/apps')).status, 401);
  const notAllowed = await raw(a.url, 'PUT', '/v1/apps', { headers: { authorization: `Bearer ${a.token}` } });
  assert.is(notAllowed.status, 405);
  assert.equal((notAllowed.json as { error: { code: string } }).error.code, 'bad_request');
});

api('the OpenAPI document lists the routes the CLI uses', async ({ a }) => {
  const doc = await a.client.request<{ openapi: string; paths: Record<string, Record<string, unknown>> }>('GET', '/v1/openapi.json');
  assert.is(doc.openapi, '3.1.0');
  for (const p of ['/v1/apps', '/v1/apps/{name}/deploys', '/v1/apps/{name}/releases', '/v1/apps/{name}/rollback', '/v1/hooks/github']) assert.ok(doc.paths[p], p);
  assert.ok(doc.paths['/v1/apps']!.post);
});

api('bad input gets clear 4xx errors and changes nothing', async ({ a }) => {
  const auth = { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' };
  assert.is(await code(a.client.request('POST', '/v1/apps', { body: { name: 'Bad_Name', repo: 'https://example.invalid/x.git' } })), 'invalid_name');
  assert.is(await code(a.client.request('POST', '/v1/apps', { body: { name: 'ok', repo: 'ext::sh -c touch% /tmp/pwned' } })), 'invalid_repo_url');
  assert.is(await code(a.client.request('POST', '/v1/apps', { body: { name: 'ok', repo: '--upload-pack=touch /tmp/x' } })), 'invalid_repo_url');
  assert.is(await code(a.client.request('POST', '/v1/apps', { body: { name: 'ok', repo: 'https://example.invalid/x.git', branch: '--force' } })), 'invalid_ref');
  const malformed = await raw(a.url, 'POST', '/v1/apps', { headers: auth, body: '{"name": ' });
  assert.is(malformed.status, 400);
  assert.match((malformed.json as { error: { message: string } }).error.message, /malformed JSON/);
  const big = await raw(a.url, 'POST', '/v1/apps', { headers: auth, body: JSON.stringify({ name: 'x', pad: 'y'.repeat(2 * 1024 * 1024) }) });
  assert.is(big.status, 413);
  const form = await raw(a.url, 'POST', '/v1/apps', { headers: { authorization: auth.authorization, 'content-type': 'text/plain' }, body: 'name=x' });
  assert.is(form.status, 415);
  assert.is(await code(a.client.request('GET', '/v1/apps/nope')), 'not_found');
  assert.is(await code(a.client.request('GET', '/v1/no/such/route')), 'not_found');
  const list = await a.client.request<{ apps: unknown[] }>('GET', '/v1/apps');
  assert.is(list.apps.length, 0);
});

api('create, show, duplicate, destroy', async ({ a }) => {
  const created = await a.tcp.request<{ app: { name: string; branch: string; webhook: { secret: string } } }>('POST', '/v1/apps', { body: { name: 'web', repo: 'https://user:hunter2@git.example.invalid/acme/web.git' } });
  assert.is(created.app.name, 'web');
  assert.is(created.app.branch, 'main');
  assert.ok(created.app.webhook.secret.length >= 32);
  const shown = await a.client.request<{ app: { repo: string } }>('GET', '/v1/apps/web');
  assert.not.match(shown.app.repo, /hunter2/, 'credentials in the repo URL are not shown back');
  assert.is(await code(a.client.request('POST', '/v1/apps', { body: { name: 'web', repo: 'https://git.example.invalid/x.git' } })), 'conflict');
  await a.client.request('DELETE', '/v1/apps/web');
  assert.is(await code(a.client.request('GET', '/v1/apps/web')), 'not_found');
  assert.not.ok(a.logLines.some((l) => l.includes('hunter2') || l.includes(created.app.webhook.secret)), 'no secret in the agent log');
});

api('deploys queue one build per app; a newer queued build replaces an older queued one', async ({ a }) => {
  await a.client.request('POST', '/v1/apps', { body: { name: 'queue', repo: 'https://git.example.invalid/q.git' } });
  const first = await a.client.request<{ build: { id: string; status: string } }>('POST', '/v1/apps/queue/deploys', { body: {} });
  assert.is(first.build.status, 'queued');
  const second = await a.client.request<{ build: { id: string }; replaced?: string }>('POST', '/v1/apps/queue/deploys', { body: { ref: 'v1.0' } });
  assert.is(second.replaced, first.build.id);
  const old = await a.client.request<{ build: { status: string; error: { message: string } } }>('GET', `/v1/apps/queue/builds/${first.build.id}`);
  assert.is(old.build.status, 'superseded');
  assert.match(old.build.error.message, second.build.id);
  const claimPath = `/v1/internal/apps/queue/builds/${second.build.id}/claim`;
  const claimAs = (node: string) => raw(a.url, 'POST', claimPath, { headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ node }) });
  const claimed = await claimAs('n1');
  assert.is(claimed.status, 200);
  const build = (claimed.json as { build: { status: string; node: string; startedAt: string } }).build;
  assert.is(build.status, 'running');
  assert.is(build.node, 'n1');
  // The same node claiming again (a retry after a lost answer) gets the build again, unchanged.
  const again = await claimAs('n1');
  assert.is(again.status, 200, 'a repeated claim from the node that has the build is not a conflict');
  assert.equal((again.json as { build: unknown }).build, build);
  const other = await claimAs('n2');
  assert.is(other.status, 409, 'another node cannot take a running build');
  assert.is(await code(a.client.request('POST', claimPath, { body: { node: 'n2' } })), 'conflict');
  assert.is(await code(a.client.request('POST', '/v1/apps/queue/deploys', { body: { ref: '--upload-pack=x' } })), 'invalid_ref');
});

api('releases: numbered, config snapshotted, config changes and rollbacks make new releases', async ({ a }) => {
  await a.client.request('POST', '/v1/apps', { body: { name: 'rel', repo: 'https://git.example.invalid/r.git' } });
  await a.client.request('PATCH', '/v1/apps/rel/config', { body: { set: { GREETING: 'hi', SECRET_KEY: 's3cr3t-value' } } });
  const mk = (commit: string) => a.client.request<{ release: { number: number } }>('POST', '/v1/internal/apps/rel/releases', { body: { build: `b-${commit}`, commit, image: `pleaco/rel:${commit}`, imageId: `sha256:${commit}`, test: null, port: 5000 } });
  assert.is((await mk('aaaaaaa')).release.number, 1);
  assert.is((await mk('bbbbbbb')).release.number, 2);
  assert.is((await mk('bbbbbbb')).release.number, 2, 'a repeated request for the same build returns its release');
  const cfg = await a.client.request<{ release: { number: number; kind: string } }>('PATCH', '/v1/apps/rel/config', { body: { set: { GREETING: 'hello' }, unset: ['SECRET_KEY'] } });
  assert.is(cfg.release.number, 3);
  assert.is(cfg.release.kind, 'config');
  const back = await a.client.request<{ release: { number: number; from: number; commit: string; kind: string } }>('POST', '/v1/apps/rel/rollback', { body: { release: 'v1' } });
  assert.equal([back.release.number, back.release.from, back.release.commit, back.release.kind], [4, 1, 'aaaaaaa', 'rollback']);
  const r4 = a.apps.release('rel', 4);
  assert.equal(r4.config, { GREETING: 'hi', SECRET_KEY: 's3cr3t-value' }, 'a rollback brings back the config of that release');
  const list = await a.client.request<{ releases: { number: number; configKeys: string[]; config?: unknown }[] }>('GET', '/v1/apps/rel/releases');
  assert.equal(list.releases.map((r) => r.number), [4, 3, 2, 1]);
  assert.is(list.releases[0]!.config, undefined, 'values are not listed');
  assert.equal(list.releases[0]!.configKeys, ['GREETING', 'SECRET_KEY']);
  assert.is(await code(a.client.request('POST', '/v1/apps/rel/rollback', { body: { release: 99 } })), 'not_found');
  assert.is(await code(a.client.request('PATCH', '/v1/apps/rel/config', { body: { set: { 'BAD KEY': 'x' } } })), 'bad_request');
  assert.is(await code(a.client.request('PUT', '/v1/apps/rel/scale', { body: { replicas: -1 } })), 'bad_request');
  assert.equal(await a.client.request('PUT', '/v1/apps/rel/scale', { body: { replicas: 3 } }), { replicas: 3 });
  assert.not.ok(a.logLines.some((l) => l.includes('s3cr3t-value')), 'config values never reach the log');
});

api('resources: limits set per app roll out as a release, over the node defaults; a rollback restores them', async ({ a }) => {
  await a.client.request('POST', '/v1/apps', { body: { name: 'lim', repo: 'https://git.example.invalid/l.git' } });
  type View = { resources: Record<string, number>; defaults: Record<string, number | null>; effective: Record<string, number>; release: { number: number; kind: string; description: string } | null };
  const before = await a.client.request<View>('GET', '/v1/apps/lim/resources');
  assert.equal(before.defaults, { memoryBytes: 512 * 1024 ** 2, cpus: null, pids: 1024 });
  assert.equal(before.effective, { memoryBytes: 512 * 1024 ** 2, pids: 1024 }, 'no release yet: the defaults');
  const noRelease = await a.client.request<View>('PUT', '/v1/apps/lim/resources', { body: { cpus: 0.5 } });
  assert.is(noRelease.release, null);
  await a.client.request('POST', '/v1/internal/apps/lim/releases', { body: { build: 'b-1', commit: 'aaaaaaa', image: 'pleaco/lim:1', imageId: 'sha256:1', test: null, port: 5000 } });
  assert.equal(a.apps.release('lim', 1).resources, { cpus: 0.5 }, 'a deploy carries the limits set before it');
  const set = await a.client.request<View>('PUT', '/v1/apps/lim/resources', { body: { memoryBytes: '1g', pids: 64 } });
  assert.equal(set.resources, { cpus: 0.5, memoryBytes: 1024 ** 3, pids: 64 });
  assert.equal(set.effective, { cpus: 0.5, memoryBytes: 1024 ** 3, pids: 64 });
  assert.equal([set.release?.number, set.release?.kind, set.release?.description], [2, 'config', 'Resources: memory 1 GiB, 0.5 CPUs, 64 processes']);
  const reset = await a.client.request<View>('PUT', '/v1/apps/lim/resources', { body: { memoryBytes: null } });
  assert.equal(reset.effective, { cpus: 0.5, memoryBytes: 512 * 1024 ** 2, pids: 64 }, 'null: back to the default');
  await a.client.request('POST', '/v1/apps/lim/rollback', { body: { release: 2 } });
  assert.equal((await a.client.request<View>('GET', '/v1/apps/lim/resources')).effective, { cpus: 0.5, memoryBytes: 1024 ** 3, pids: 64 }, 'the rollback runs with v2\'s limits');
  for (const bad of [{ memoryBytes: '5k' }, { cpus: 0 }, { pids: 1.5 }, { swap: 1 }, {}, { memoryBytes: 'lots' }]) {
    assert.is(await code(a.client.request('PUT', '/v1/apps/lim/resources', { body: bad })), 'bad_request', JSON.stringify(bad));
  }
  const info = await a.client.request<{ app: { resources: View } }>('GET', '/v1/apps/lim');
  assert.equal(info.app.resources.effective, { cpus: 0.5, memoryBytes: 1024 ** 3, pids: 64 });
});

api('an app destroyed while config and deploy requests race leaves nothing behind for a new app of that name', async ({ a }) => {
  await a.client.request('POST', '/v1/apps', { body: { name: 'race', repo: 'https://git.example.invalid/old.git' } });
  await a.client.request('PATCH', '/v1/apps/race/config', { body: { set: { DB_PASSWORD: 'old-app-secret' } } });
  await Promise.allSettled([
    a.client.request('DELETE', '/v1/apps/race'),
    a.client.request('PATCH', '/v1/apps/race/config', { body: { set: { LATE: 'x' } } }),
    a.client.request('POST', '/v1/apps/race/deploys', { body: {} }),
    a.client.request('PUT', '/v1/apps/race/scale', { body: { replicas: 4 } }),
  ]);
  await a.client.request('POST', '/v1/apps', { body: { name: 'race', repo: 'https://git.example.invalid/new.git' } });
  assert.equal(await a.client.request('GET', '/v1/apps/race/config'), { config: {} });
  assert.equal((await a.client.request<{ builds: unknown[] }>('GET', '/v1/apps/race/builds')).builds, []);
  assert.is((await a.client.request<{ replicas: number }>('GET', '/v1/apps/race/ps')).replicas, 1);
});

api('HEAD on a streaming route answers its headers at once (found by make fuzz-api: it hung)', async ({ a }) => {
  const r = await Promise.race([
    raw(a.url, 'HEAD', '/v1/internal/watch', { headers: { authorization: `Bearer ${a.token}` } }),
    new Promise<'hung'>((res) => setTimeout(() => res('hung'), 5000)),
  ]);
  assert.ok(r !== 'hung', 'answered within 5 s');
  assert.is(r.status, 200);
  assert.is(r.headers.get('content-type'), 'application/x-ndjson');
});

api('a 5xx never leaks internals', async ({ a }) => {
  const spare = await startTestAgent();
  try {
    // Fault injection (a fake failure, not a fake store): a write fails with a plain Error naming a path inside.
    spare.store.batch = () => Promise.reject(new Error('EIO: i/o error, write /var/lib/pleaco/state/state.wal'));
    const r = await raw(spare.url, 'POST', '/v1/apps', { headers: { authorization: `Bearer ${spare.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x', repo: 'https://git.example.invalid/x.git' }) });
    assert.is(r.status, 500);
    assert.equal(r.json, { error: { code: 'internal', message: 'internal error' } });
  } finally {
    await spare.close();
  }
  assert.ok(a);
});

api('Docker Engine down: deploy answers 503 with a message', async () => {
  const down = await startTestAgent({ PLEACO_DOCKER_SOCKET: '/nonexistent/docker.sock' });
  try {
    await down.client.request('POST', '/v1/apps', { body: { name: 'web', repo: 'https://git.example.invalid/x.git' } });
    const r = await raw(down.url, 'POST', '/v1/apps/web/deploys', { headers: { authorization: `Bearer ${down.token}` } });
    assert.is(r.status, 503);
    assert.is((r.json as { error: { code: string } }).error.code, 'docker_unavailable');
    assert.match((r.json as { error: { message: string } }).error.message, /Docker Engine is not reachable/);
    assert.is(down.apps.builds('web').length, 0, 'nothing queued');
  } finally {
    await down.close();
  }
});

api.run();
