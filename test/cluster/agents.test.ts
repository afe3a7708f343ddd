/**
 * Three real pleaco-agent processes on 127.0.0.2-4 (UDP + TCP, sealed with the cluster key): they find each
 * other, replicate every write, mark a kill -9'd node failed, bring it back up to date when it restarts
 * with its state, see a graceful leave as a leave, and fetch an advisory database loaded on one of them.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { AgentCluster, until, type AgentProc, type Member } from './_agents.js';

const OSV = fileURLToPath(new URL('../../../test/fixtures/osv/valid', import.meta.url));

const c = suite<{ cl: AgentCluster }>('cluster of agents');

async function view(n: AgentProc, of: AgentProc): Promise<Member | undefined> {
  const v = await n.cluster();
  return v.members.find((m) => m.address.startsWith(of.ip + ':'));
}

c.before(async (ctx) => {
  ctx.cl = new AgentCluster();
  await ctx.cl.start(3);
});
c.after(async (ctx) => ctx.cl.stop());

c('every node sees all three alive, with their versions and addresses', async ({ cl }) => {
  for (const n of cl.nodes) {
    await until(`${n.name} sees 3 alive members`, async () => {
      const v = await n.cluster();
      return v.members.filter((m) => m.state === 'alive').length === 3 ? v : null;
    }, 20_000);
  }
  const v = await cl.nodes[1]!.cluster();
  assert.equal(v.members.map((m) => m.address.split(':')[0]).sort(), ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  assert.ok(v.members.every((m) => m.version === '0.1.0'));
  // What `pleaco nodes` prints: every member, with the state the membership gives it.
  const { nodes } = await cl.nodes[0]!.client.request<{ nodes: { id: string; address: string; state: string; self: boolean }[] }>('GET', '/v1/nodes');
  assert.equal(nodes.map((n) => [n.address, n.state]).sort(), [['127.0.0.1', 'alive'], ['127.0.0.3', 'alive'], ['127.0.0.4', 'alive']]);
  assert.equal(nodes.filter((n) => n.self).length, 1);
});

c('an app created on one node appears on the others', async ({ cl }) => {
  const [a, , z] = cl.nodes as [AgentProc, AgentProc, AgentProc];
  await a.client.request('POST', '/v1/apps', { body: { name: 'shared', repo: 'file:///srv/git/shared.git' } });
  const got = await until('the app on the third node', async () => {
    const r = await z.client.request<{ app: { name: string } }>('GET', '/v1/apps/shared').catch(() => null);
    return r?.app ?? null;
  }, 10_000);
  assert.is(got.name, 'shared');
});

c('an advisory database loaded on one node reaches the others by digest over the sealed stream', async ({ cl }) => {
  const [a, b, z] = cl.nodes as [AgentProc, AgentProc, AgentProc];
  let done: { digest: string; records: number } | null = null;
  await a.client.stream('/v1/scan/db', (ev) => {
    const e = ev as { type: string; db?: { digest: string; records: number } };
    if (e.type === 'done' && e.db) done = e.db;
  }, { method: 'POST', body: { source: OSV } });
  const db = done as { digest: string; records: number } | null;
  assert.ok(db && /^sha256:[0-9a-f]{64}$/.test(db.digest), 'the load answered with the record');
  for (const n of [b, z]) {
    const local = await until(`${n.name} holds the database`, async () => {
      const r = await n.client.request<{ db: { digest: string } | null; local: { digest: string; records: number } | null }>('GET', '/v1/scan/db');
      return r.local?.digest === db.digest ? r.local : null;
    }, 20_000);
    assert.is(local.records, db.records, `${n.name} installed every advisory`);
  }
  assert.ok(b.lines.some((l) => /advisory database fetched/.test(l) && l.includes(db.digest)), 'the fetch is logged with its digest');
});

c('kill -9 of a node: the others mark it failed; restarted with its state it catches up and is alive again', async ({ cl }) => {
  const [a, b, z] = cl.nodes as [AgentProc, AgentProc, AgentProc];
  await cl.kill(z, 'SIGKILL');
  for (const n of [a, b]) await until(`${n.name} marks ${z.name} failed`, async () => ((await view(n, z))?.state === 'dead' ? true : null), 45_000);
  // Written while it was down: it must get this from the others.
  await a.client.request('PATCH', '/v1/apps/shared/config', { body: { set: { WHILE_AWAY: 'yes' } } });
  await cl.run(z);
  const cfg = await until('the restarted node has the write it missed', async () => {
    const r = await z.client.request<{ config: Record<string, string> }>('GET', '/v1/apps/shared/config').catch(() => null);
    return r?.config.WHILE_AWAY === 'yes' ? r.config : null;
  }, 20_000);
  assert.is(cfg.WHILE_AWAY, 'yes');
  await until(`${a.name} sees ${z.name} alive again`, async () => ((await view(a, z))?.state === 'alive' ? true : null), 20_000);
});

c('a node that stops (SIGTERM) leaves: the others show it as left, not failed', async ({ cl }) => {
  const [a, b] = cl.nodes as [AgentProc, AgentProc];
  await cl.kill(b, 'SIGTERM');
  const m = await until(`${a.name} sees ${b.name} leave`, async () => {
    const v = await view(a, b);
    return v && v.state !== 'alive' ? v : null;
  }, 20_000);
  assert.is(m.state, 'left');
});

c.run();
