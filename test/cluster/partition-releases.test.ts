/**
 * Releases on both sides of a partition both survive the heal (two real agents on 127.0.0.8-9). The partition is
 * made of stops, as machines going down make one: node b down while a releases v2; a down while b, back on its own
 * (its seed is down: it runs alone and keeps asking it), releases its own v2; then a comes back and b's renewed join
 * merges them. LWW keeps the release written last as v2 (and current); the other is kept as v3, marked.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentCluster, until, type AgentProc } from './_agents.js';

const c = suite<{ cl: AgentCluster }>('releases across a partition');

interface Rel { number: number; build: string | null; renumberedFrom?: number; description: string }

c.before(async (ctx) => {
  ctx.cl = new AgentCluster();
  await ctx.cl.start(2, 8);
});
c.after(async (ctx) => ctx.cl.stop());

const release = (n: AgentProc, build: string) =>
  n.client.request<{ release: Rel }>('POST', '/v1/internal/apps/split/releases', {
    body: { build, commit: build.padEnd(40, 'f').replace(/[^0-9a-f]/g, 'e').slice(0, 40), image: `pleaco/split:${build}`, imageId: `sha256:${'b'.repeat(64)}`, port: 8080 },
  });

const releasesOf = async (n: AgentProc): Promise<Rel[]> => (await n.client.request<{ releases: Rel[] }>('GET', '/v1/apps/split/releases')).releases;

c('both sides release v2 while cut off: after the heal both are kept, the later one as v2 and current', async ({ cl }) => {
  const [a, b] = cl.nodes as [AgentProc, AgentProc];
  await until('b sees a alive', async () => ((await b.cluster()).members.filter((m) => m.state === 'alive').length === 2 ? true : null), 20_000);
  await a.client.request('POST', '/v1/apps', { body: { name: 'split', repo: 'file:///srv/git/split.git' } });
  assert.is((await release(a, 'one')).release.number, 1);
  await until('b holds v1', async () => ((await releasesOf(b).catch(() => [])).length === 1 ? true : null), 10_000);

  const bId = (await b.cluster()).self;
  await cl.kill(b, 'SIGKILL');
  // Until a holds b dead, b may still own the app: a's release would wait for it.
  await until('a holds b dead', async () => ((await a.cluster()).members.find((m) => m.id === bId)?.state === 'dead' ? true : null), 60_000);
  assert.is((await release(a, 'left')).release.number, 2, 'a alone numbers v2');
  await cl.kill(a, 'SIGKILL');
  await cl.run(b);
  assert.is((await release(b, 'right')).release.number, 2, 'b alone numbers its own v2');

  await cl.run(a);
  const [ra, rb] = await Promise.all([a, b].map((n) => until(`${n.name} holds 3 releases`, async () => {
    const r = await releasesOf(n);
    return r.length === 3 ? r : null;
  }, 60_000)));
  for (const rels of [ra!, rb!]) {
    const byNumber = new Map(rels.map((r) => [r.number, r]));
    assert.equal([1, 2, 3].map((n) => byNumber.get(n)?.build), ['one', 'right', 'left'], 'the release written last keeps v2; the other is v3');
    assert.is(byNumber.get(3)!.renumberedFrom, 2);
    assert.match(byNumber.get(3)!.description, 'was v2');
  }
  for (const n of [a, b]) {
    const info = await n.client.request<{ app: { currentRelease: Rel | null } }>('GET', '/v1/apps/split');
    assert.is(info.app.currentRelease?.build, 'right', `${n.name}: the release written last is current`);
  }
});

c.run();
