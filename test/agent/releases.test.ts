/**
 * The agent's guard against pushes released out of order: two builds of the branch head that ran at once (on two
 * builders) finish in the wrong order; the one queued first must not replace the release of the one queued after it.
 * The real agent; the builders' calls are made through its internal routes as AgentLink makes them.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentLink } from '../../src/link/index.js';
import { isPleacoError } from '../../src/errors.js';
import type { Build, ReleaseInput } from '../../src/model/index.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';

const r = suite<{ a: TestAgent; link: AgentLink }>('push releases never go backwards');

r.before(async (ctx) => {
  ctx.a = await startTestAgent();
  ctx.link = new AgentLink(ctx.a.client);
  await ctx.a.client.request('POST', '/v1/apps', { body: { name: 'web', repo: 'https://example.test/acme/web.git' } });
});
r.after(async (ctx) => ctx.a.close());

const input = (b: Build, commit: string): ReleaseInput => ({ build: b.id, commit, image: `pleaco/web:${b.id}`, imageId: `sha256:${'1'.repeat(64)}`, test: null, port: 5000 });

r('a push build queued before the one that is released cannot release after it (409), a manual deploy still can', async ({ a, link }) => {
  const { build: older } = await a.apps.enqueue('web', 'main', 'webhook');
  await link.claimBuild('web', older.id, 'node-1');
  await new Promise((res) => setTimeout(res, 5)); // build ids and times order the queue
  const { build: newer } = await a.apps.enqueue('web', 'main', 'webhook');
  await link.claimBuild('web', newer.id, 'node-2');
  const released = await link.createRelease('web', input(newer, 'b'.repeat(40)));
  let refused: unknown;
  await link.createRelease('web', input(older, 'a'.repeat(40))).catch((err: unknown) => (refused = err));
  assert.ok(isPleacoError(refused), 'the older build is refused');
  assert.is(isPleacoError(refused) && refused.status, 409);
  assert.is(a.apps.current('web')?.number, released.number, 'the newer push stays current');
  assert.is(a.apps.current('web')?.commit, 'b'.repeat(40));

  const { build: manual } = await a.apps.enqueue('web', 'a'.repeat(40), 'api');
  await link.claimBuild('web', manual.id, 'node-1');
  const chosen = await link.createRelease('web', input(manual, 'a'.repeat(40)));
  assert.is(a.apps.current('web')?.number, chosen.number, 'a deploy the user asked for goes where it was told');
});

r.run();
