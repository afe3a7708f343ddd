/**
 * The agent's API in front of a wedged Docker Engine (an EngineProxy that accepts connections and never answers, as
 * a frozen dockerd does): health answers at once from what the agent last learnt, deploys are refused with
 * docker_unavailable instead of hanging, and both recover when the Engine answers again.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { EngineProxy } from '../helpers/engineproxy.js';

const t = suite<{ a: TestAgent; proxy: EngineProxy }>('api with a wedged Docker Engine');

t.before(async (ctx) => {
  ctx.proxy = new EngineProxy();
  await ctx.proxy.up();
  ctx.a = await startTestAgent({ PLEACO_DOCKER_SOCKET: ctx.proxy.path });
  await ctx.a.client.request('POST', '/v1/apps', { body: { name: 'web', repo: 'https://git.example.invalid/x.git' } });
});

t.after(async (ctx) => {
  ctx.proxy?.unwedge();
  await ctx.a?.close();
  await ctx.proxy?.down();
});

interface Health {
  ok: boolean;
  docker: { ok: boolean };
}

/** GET /v1/health; a request still unanswered after 1.5 s fails the test (health must never wait on Docker). */
async function health(a: TestAgent): Promise<Health> {
  const res = await fetch(`${a.url}/v1/health`, { signal: AbortSignal.timeout(1500) });
  assert.is(res.status, 200);
  return (await res.json()) as Health;
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** POST a deploy with a bounded wait: a request the agent leaves hanging fails the test. */
async function deploy(a: TestAgent): Promise<{ status: number; code?: string; message?: string }> {
  const res = await fetch(`${a.url}/v1/apps/web/deploys`, { method: 'POST', headers: { authorization: `Bearer ${a.token}` }, signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { error?: { code: string; message: string } };
  return { status: res.status, code: body.error?.code, message: body.error?.message };
}

t('health answers within a second while the Engine is wedged and says docker is not ok; a deploy is refused with docker_unavailable', async ({ a, proxy }) => {
  assert.equal((await health(a)).docker, { ok: true });
  proxy.wedge();
  try {
    // Every health request answers at once, even while the Engine does not; within seconds it says so.
    await until('health to say docker is not ok', async () => !(await health(a)).docker.ok);
    const h = await health(a);
    assert.equal([h.ok, h.docker.ok], [true, false], 'the node itself is alive');
    const d = await deploy(a);
    assert.equal([d.status, d.code], [503, 'docker_unavailable']);
    assert.match(d.message ?? '', /Docker Engine/);
    assert.is(a.apps.builds('web').length, 0, 'nothing queued');
  } finally {
    proxy.unwedge();
  }
  await until('health to say docker is ok again', async () => (await health(a)).docker.ok);
  const d = await deploy(a);
  assert.is(d.status, 202, `deploy accepted again: ${JSON.stringify(d)}`);
});

t.run();
