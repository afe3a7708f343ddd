import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { signGithubPayload } from '../../src/source/index.js';
import { raw, startTestAgent, type TestAgent } from '../helpers/agent.js';

const hooks = suite<{ a: TestAgent; secret: string; payload: string }>('github webhooks');
const REPO = 'https://github.com/acme/web.git';

hooks.before(async (ctx) => {
  ctx.a = await startTestAgent();
  const res = await ctx.a.client.request<{ app: { webhook: { secret: string } } }>('POST', '/v1/apps', { body: { name: 'web', repo: REPO } });
  ctx.secret = res.app.webhook.secret;
  // A push event shaped as GitHub sends it (see test/source/fixtures/push.json), for acme/web on main.
  const fixture = JSON.parse(readFileSync(fileURLToPath(new URL('../../../test/source/fixtures/push.json', import.meta.url)), 'utf8')) as Record<string, unknown>;
  const repository = { ...(fixture.repository as object), full_name: 'acme/web', name: 'web', clone_url: REPO, html_url: 'https://github.com/acme/web', ssh_url: 'git@github.com:acme/web.git', git_url: 'git://github.com/acme/web.git' };
  ctx.payload = JSON.stringify({ ...fixture, ref: 'refs/heads/main', after: 'a'.repeat(40), deleted: false, repository });
});
hooks.after(async (ctx) => ctx.a.close());

const send = (a: TestAgent, event: string, body: string, signature?: string) =>
  raw(a.url, 'POST', '/v1/hooks/github', { headers: { 'content-type': 'application/json', 'x-github-event': event, 'x-github-delivery': randomUUID(), ...(signature ? { 'x-hub-signature-256': signature } : {}) }, body });

hooks('a forged or missing signature is refused with 401 and triggers nothing', async ({ a, payload }) => {
  const forged = await send(a, 'push', payload, signGithubPayload('not-the-secret', payload));
  assert.is(forged.status, 401);
  const missing = await send(a, 'push', payload);
  assert.is(missing.status, 401);
  const garbage = await send(a, 'push', payload, 'sha256=zz');
  assert.is(garbage.status, 401);
  assert.is(a.apps.builds('web').length, 0);
});

hooks('a body changed after signing is refused', async ({ a, secret, payload }) => {
  const sig = signGithubPayload(secret, payload);
  const tampered = payload.replace('a'.repeat(40), 'b'.repeat(40));
  assert.is((await send(a, 'push', tampered, sig)).status, 401);
  assert.is(a.apps.builds('web').length, 0);
});

hooks('ping answers pong for a correctly signed delivery', async ({ a, secret }) => {
  const body = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1, repository: { clone_url: REPO, html_url: 'https://github.com/acme/web' } });
  const r = await send(a, 'ping', body, signGithubPayload(secret, body));
  assert.is(r.status, 200);
  assert.equal(r.json, { pong: true, apps: ['web'] });
});

hooks('a signed push to the app branch queues a build of the branch (the builder takes its head as it fetches it)', async ({ a, secret, payload }) => {
  const r = await send(a, 'push', payload, signGithubPayload(secret, payload));
  assert.is(r.status, 202);
  const triggered = (r.json as { triggered: { app: string; build: string }[] }).triggered;
  assert.is(triggered.length, 1);
  const b = a.apps.build('web', triggered[0]!.build);
  assert.is(b.ref, 'main', 'not the commit the (replayable) payload names');
  assert.is(b.trigger, 'webhook');
});

hooks('the same delivery sent again (a replay) triggers nothing the second time', async ({ a, secret, payload }) => {
  const before = a.apps.builds('web').length;
  const sig = signGithubPayload(secret, payload);
  const send2 = () => raw(a.url, 'POST', '/v1/hooks/github', { headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': 'replayed-1', 'x-hub-signature-256': sig }, body: payload });
  assert.is((await send2()).status, 202);
  const again = await send2();
  assert.is(again.status, 200);
  assert.equal(again.json, { duplicate: true, triggered: [] });
  assert.is(a.apps.builds('web').length, before + 1);
});

hooks('a signed push to another branch triggers nothing; malformed JSON is a 400', async ({ a, secret, payload }) => {
  const other = payload.replace('"refs/heads/main"', '"refs/heads/feature"');
  const r = await send(a, 'push', other, signGithubPayload(secret, other));
  assert.is(r.status, 202);
  assert.equal((r.json as { triggered: unknown[] }).triggered, []);
  const bad = await send(a, 'push', '{not json', signGithubPayload(secret, '{not json'));
  assert.is(bad.status, 400);
});

hooks.run();
