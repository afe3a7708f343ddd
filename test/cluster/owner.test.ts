/**
 * One owner per decision, with three real agents (127.0.0.5-7, sealed cluster streams): whichever node a request
 * reaches, the app's rendezvous owner takes the decision. Concurrent releases through every node get unique numbers
 * and none is lost; a build is claimed by exactly one of several builders racing for it; concurrent creates of one
 * name make one app; when the owner is killed, the others take its decisions once it is declared dead.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentCluster, until, type AgentProc } from './_agents.js';
import { ownerOf } from '../../src/scale/index.js';
import { PleacoError } from '../../src/errors.js';

const c = suite<{ cl: AgentCluster }>('one owner per decision');

interface Rel { number: number; build: string | null }

c.before(async (ctx) => {
  ctx.cl = new AgentCluster();
  await ctx.cl.start(3, 5);
  for (const n of ctx.cl.nodes) {
    await until(`${n.name} sees 3 alive`, async () => ((await n.cluster()).members.filter((m) => m.state === 'alive').length === 3 ? true : null), 20_000);
  }
});
c.after(async (ctx) => ctx.cl.stop());

const release = (n: AgentProc, app: string, build: string) =>
  n.client.request<{ release: Rel }>('POST', `/v1/internal/apps/${app}/releases`, {
    body: { build, commit: build.padEnd(40, '0').slice(0, 40), image: `pleaco/${app}:${build}`, imageId: `sha256:${'a'.repeat(64)}`, port: 8080 },
  });

async function createApp(n: AgentProc, name: string): Promise<void> {
  await n.client.request('POST', '/v1/apps', { body: { name, repo: `file:///srv/git/${name}.git` } });
}

async function releasesEverywhere(cl: AgentCluster, app: string, count: number): Promise<Rel[][]> {
  return Promise.all(cl.nodes.filter((n) => n.proc).map((n) => until(`${n.name} holds ${count} releases of ${app}`, async () => {
    const r = await n.client.request<{ releases: Rel[] }>('GET', `/v1/apps/${app}/releases`).catch(() => null);
    return r && r.releases.length === count ? r.releases : null;
  }, 20_000)));
}

c('concurrent releases through all three nodes get unique numbers, and none is lost', async ({ cl }) => {
  await createApp(cl.nodes[0]!, 'race');
  await until('the app everywhere', async () => ((await Promise.all(cl.nodes.map((n) => n.client.request('GET', '/v1/apps/race').catch(() => null)))).every(Boolean) ? true : null), 10_000);
  const calls: Promise<{ release: Rel }>[] = [];
  for (let i = 0; i < 6; i++) for (const [j, n] of cl.nodes.entries()) calls.push(release(n, 'race', `b${j}x${i}`));
  const answers = await Promise.all(calls);
  const numbers = answers.map((a) => a.release.number).sort((x, y) => x - y);
  assert.equal(numbers, Array.from({ length: 18 }, (_, i) => i + 1), 'the answers carry 18 distinct numbers');
  for (const rels of await releasesEverywhere(cl, 'race', 18)) {
    assert.equal(rels.map((r) => r.build).sort(), answers.map((a) => a.release.build).sort(), 'every node holds every release, each under its own number');
  }
});

c('several builders racing for one build: exactly one gets it', async ({ cl }) => {
  await createApp(cl.nodes[1]!, 'claims');
  const { build } = await cl.nodes[2]!.client.request<{ build: { id: string } }>('POST', '/v1/apps/claims/deploys', { body: {} });
  await Promise.all(cl.nodes.map((n) => until(`${n.name} sees the queued build`, async () => (await n.client.request('GET', `/v1/apps/claims/builds/${build.id}`).catch(() => null)) ?? null, 10_000)));
  const tries = await Promise.allSettled(cl.nodes.map((n, i) => n.client.request<{ build: { node: string } }>('POST', `/v1/internal/apps/claims/builds/${build.id}/claim`, { body: { node: `builder-${i}` } })));
  const won = tries.filter((t) => t.status === 'fulfilled');
  assert.is(won.length, 1, `one claim won: ${JSON.stringify(tries.map((t) => (t.status === 'fulfilled' ? 'ok' : String((t.reason as Error).message))))}`);
  for (const t of tries) if (t.status === 'rejected') assert.is((t.reason as PleacoError).status, 409);
});

c('two nodes creating the same name at once make one app', async ({ cl }) => {
  const tries = await Promise.allSettled(cl.nodes.map((n) => createApp(n, 'twice')));
  assert.is(tries.filter((t) => t.status === 'fulfilled').length, 1);
});

c('the owner killed: once it is declared dead, another node takes its decisions', async ({ cl }) => {
  const ids = await Promise.all(cl.nodes.map(async (n) => (await n.cluster()).self));
  const members = ids.map((id) => ({ id, state: 'alive' as const }));
  // An app whose owner is the third node (so the founder, which the others joined through, stays up).
  let app = '';
  for (let i = 0; !app; i++) if (ownerOf(`fail${i}`, members) === ids[2]) app = `fail${i}`;
  const [a, b, owner] = cl.nodes as [AgentProc, AgentProc, AgentProc];
  await createApp(a, app);
  await releasesEverywhere(cl, app, 0);
  await release(b, app, 'before');
  await cl.kill(owner, 'SIGKILL');
  // Asked right away: it waits for the membership to settle (or says the owner is not answering), never splits.
  const after = await until('a release once the owner is declared dead', async () => (await release(a, app, 'after').catch(() => null))?.release ?? null, 30_000);
  assert.is(after.number, 2);
  const again = await release(b, app, 'again');
  assert.is(again.release.number, 3, 'the other survivor agrees on the new owner');
});

c('a build running on a node that left is taken over by the app\'s owner: re-queued once', async ({ cl }) => {
  const [a, b, gone] = cl.nodes as [AgentProc, AgentProc, AgentProc];
  assert.is(gone.proc, null, 'the third node was killed by the test before');
  const goneId = (await a.cluster()).members.find((m) => m.address.startsWith(`${gone.ip}:`))!.id;
  await until('the third node is dead for both', async () => {
    const views = await Promise.all([a.cluster(), b.cluster()]);
    return views.every((v) => v.members.find((m) => m.id === goneId)?.state === 'dead') ? true : null;
  }, 30_000);
  await createApp(a, 'orphan');
  const { build } = await b.client.request<{ build: { id: string } }>('POST', '/v1/apps/orphan/deploys', { body: {} });
  // The dead node's builder had claimed it just before it died (its claim arrived through a survivor).
  const claimed = await b.client.request<{ build: { status: string; node: string } }>('POST', `/v1/internal/apps/orphan/builds/${build.id}/claim`, { body: { node: goneId } });
  assert.equal([claimed.build.status, claimed.build.node], ['running', goneId]);
  for (const n of [a, b]) {
    const got = await until(`${n.name} sees the build queued again`, async () => {
      const r = await n.client.request<{ build: { status: string; retried?: boolean; node?: string } }>('GET', `/v1/apps/orphan/builds/${build.id}`);
      return r.build.status === 'queued' ? r.build : null;
    }, 15_000);
    assert.equal([got.retried, got.node], [true, undefined]);
  }
});

c.run();
