/**
 * One invalid record in replicated state (an app key that is no app name, two domain keys differing only in case)
 * must not stop routing: the real agent, the proxy's StateMirror and ProxyLoop, a real HAProxy and real backends.
 * The bad records are written straight into the agent's store, as a record replicated from another node would be.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { AgentLink, StateMirror } from '../../src/link/index.js';
import { createLogger } from '../../src/log.js';
import { keys, type AppSpec, type ProxyStatus, type SlotStatus } from '../../src/model/index.js';
import { HAProxyProcess, PROXY_PREFIXES, ProxyLoop } from '../../src/proxy/index.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { tempDir } from '../helpers/tmp.js';
import { get, reservedPort, startBackend, waitFor, type Backend } from './_support.js';

interface Running {
  loop: ProxyLoop;
  view: StateMirror;
}

interface Ctx {
  a: TestAgent;
  tmp: { dir: string; cleanup: () => void };
  port: number;
  web: Backend;
  api: Backend;
  proxy?: Running;
}

const NODE = 'test-node';
const t = suite<Ctx>('proxy keeps routing around an invalid record');

const spec = (name: string): AppSpec => ({ name, repo: 'https://example.test/x.git', branch: 'main', webhookSecret: 's', createdAt: '2024-01-01T00:00:00Z' });
const slot = (app: string, b: Backend): SlotStatus => ({
  app, slot: `${app}#1`, node: NODE, release: 1, containerId: `c-${app}`, state: 'running', host: '127.0.0.1', hostPort: b.port, restarts: 0, since: '2024-01-01T00:00:00Z',
});

async function startProxy(ctx: Ctx): Promise<Running> {
  const view = new StateMirror(ctx.a.client, PROXY_PREFIXES);
  await view.start();
  const dir = join(ctx.tmp.dir, 'proxy');
  const statsSocket = join(dir, 'stats.sock');
  const proc = new HAProxyProcess({ dir, statsSocket, restartMinMs: 100 });
  const loop = new ProxyLoop({ view, link: new AgentLink(ctx.a.client, view), proc, paths: { dir, statsSocket }, nodeId: NODE, proxy: { port: ctx.port, bindHost: '127.0.0.1', domain: 'localhost' }, log: createLogger({ proc: 'proxy-test' }) });
  try {
    await loop.start();
  } catch (err) {
    view.stop();
    throw err;
  }
  return { loop, view };
}

async function stopProxy(ctx: Ctx): Promise<void> {
  if (!ctx.proxy) return;
  await ctx.proxy.loop.stop();
  ctx.proxy.view.stop();
  ctx.proxy = undefined;
}

/** The keys the proxy's status record lists as skipped. */
const skippedKeys = (status: unknown): string[] => ((status as { skipped?: { key: string }[] } | undefined)?.skipped ?? []).map((x) => x.key).sort();

const routes = (ctx: Ctx, host: string, body: string) => async () => {
  const r = await get(ctx.port, host);
  return r.status === 200 && r.body === body;
};

t.before(async (ctx) => {
  ctx.a = await startTestAgent();
  ctx.tmp = tempDir('pleaco-badrecord-');
  ctx.port = await reservedPort();
  ctx.web = await startBackend('web');
  ctx.api = await startBackend('api');
  await ctx.a.store.put(keys.app('web'), spec('web'));
  await ctx.a.store.put(keys.slot(NODE, 'web', 1), slot('web', ctx.web));
  ctx.proxy = await startProxy(ctx);
  await waitFor('web routed', routes(ctx, 'web.localhost', 'web'));
});

t.after(async (ctx) => {
  await stopProxy(ctx);
  await ctx.web.close();
  await ctx.api.close();
  await ctx.a.close();
  ctx.tmp.cleanup();
});

t('a running proxy skips an invalid app key and colliding domain keys, reports them, and routes what comes next', async (ctx) => {
  await ctx.a.store.put('apps/1abc', spec('1abc'));
  await ctx.a.store.put('apps/a.b', spec('a.b'));
  await ctx.a.store.put('domains/www.example.test', { app: 'web', createdAt: '2024-01-01T00:00:00Z' });
  await ctx.a.store.put('domains/WWW.Example.Test', { app: 'api', createdAt: '2024-01-01T00:00:00Z' });
  // A good app added after the bad records: routing must follow it.
  await ctx.a.store.put(keys.app('api'), spec('api'));
  await ctx.a.store.put(keys.slot(NODE, 'api', 1), slot('api', ctx.api));
  await waitFor('api routed after the bad records', routes(ctx, 'api.localhost', 'api'));
  assert.ok(await routes(ctx, 'web.localhost', 'web')(), 'web still routed');
  assert.ok(await routes(ctx, 'www.example.test', 'web')(), 'the valid domain record routes to its app');
  const status = () => ctx.a.store.get<ProxyStatus>(keys.proxy(NODE));
  await waitFor('the status record to list what was skipped', () => skippedKeys(status()).length > 0).catch(() => undefined);
  assert.ok(status()?.ok, `the proxy reports itself up: ${JSON.stringify(status())}`);
  assert.equal(skippedKeys(status()), ['apps/1abc', 'apps/a.b', 'domains/WWW.Example.Test']);
});

t('a restarted proxy starts and routes with the invalid records still in state', async (ctx) => {
  await stopProxy(ctx);
  ctx.proxy = await startProxy(ctx);
  await waitFor('web routed after the restart', routes(ctx, 'web.localhost', 'web'));
  await waitFor('api routed after the restart', routes(ctx, 'api.localhost', 'api'));
  const status = () => ctx.a.store.get<ProxyStatus>(keys.proxy(NODE));
  await waitFor('the status record to list what was skipped', () => skippedKeys(status()).length > 0).catch(() => undefined);
  assert.equal(skippedKeys(status()), ['apps/1abc', 'apps/a.b', 'domains/WWW.Example.Test']);
  const logged = ctx.a.logLines.filter((l) => l.includes('invalid record left out of routing') && l.includes('apps/1abc'));
  assert.is(logged.length, 2, 'logged once by each of the two proxies, not at every apply');
});

t.run();
