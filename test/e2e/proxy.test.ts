/**
 * The proxy end to end on real parts: agent, builder, runner and proxy processes, Docker Engine, HAProxy.
 * Apps answer through the proxy by Host (`<app>.localhost`, extra domains), unknown hosts get the 404 page,
 * an app without replicas the 503 page, a redeploy is served, and a kill -9 of pleaco-proxy loses no route.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import Docker from 'dockerode';
import type { SlotStatus } from '../../src/model/index.js';
import { webApp } from '../helpers/apps.js';
import { TestRepo } from '../helpers/gitrepo.js';
import { deploy, startNode, type TestNode } from '../helpers/node.js';
import { tempDir } from '../helpers/tmp.js';

const px = suite<{ node: TestNode; repo: TestRepo; tmp: ReturnType<typeof tempDir> }>('e2e-proxy');
const APP = 'px-web';
const HOST = `${APP}.localhost`;

interface Reply {
  status: number;
  body: string;
}

/** One GET through the node's proxy on 127.0.0.1 with a Host header; a bounded timeout. */
function get(port: number, host: string, path = '/'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host }, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Polls until a reply through the proxy satisfies `ok`; fails with the last reply after the timeout. */
async function until(node: TestNode, host: string, ok: (r: Reply) => boolean, timeoutMs: number): Promise<Reply> {
  const deadline = Date.now() + timeoutMs;
  let last: Reply | string = 'no reply';
  while (Date.now() < deadline) {
    const r = await get(node.proxyPort, host).catch((err: Error) => err.message);
    if (typeof r !== 'string' && ok(r)) return r;
    last = r;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${host}: last ${typeof last === 'string' ? last : `${last.status} ${last.body.slice(0, 200)}`}`);
}

px.before(async (ctx) => {
  ctx.tmp = tempDir('pleaco-proxy-e2e-');
  ctx.repo = new TestRepo(ctx.tmp.dir, 'web');
  ctx.repo.commit(webApp('routed one'), 'v1');
  ctx.node = await startNode();
  await ctx.node.client.request('POST', '/v1/apps', { body: { name: APP, repo: `file://${ctx.repo.bare}` } });
});
px.after(async (ctx) => {
  await ctx.node.destroy();
  ctx.tmp.cleanup();
});

px('a deployed app answers through the proxy by its Host; the app URL is the routed one', async ({ node }) => {
  const out = await deploy(node.client, APP);
  assert.ok(out.ok, `deploy failed: ${JSON.stringify(out.error)}\n${out.log.join('\n')}`);
  const r = await until(node, HOST, (x) => x.status === 200, 30_000);
  assert.match(r.body, 'routed one');
  const { app } = await node.client.request<{ app: { url: string | null } }>('GET', `/v1/apps/${APP}`);
  assert.is(app.url, `http://${HOST}:${node.proxyPort}`);
});

px('an unknown host gets the 404 page', async ({ node }) => {
  const r = await get(node.proxyPort, 'nobody.localhost');
  assert.is(r.status, 404);
  assert.match(r.body, /404 Not Found/);
  assert.match(r.body, /nobody\.localhost/);
});

px('an extra domain routes to the app', async ({ node }) => {
  const res = await node.client.request('POST', `/v1/apps/${APP}/domains`, { body: { host: 'www.example.test' } }).then(() => 'ok', (err: Error & { status?: number }) => err);
  assert.is(res, 'ok', `domains:add failed: ${String(res)}`);
  const r = await until(node, 'www.example.test', (x) => x.status === 200, 10_000);
  assert.match(r.body, 'routed one');
  await node.client.request('DELETE', `/v1/apps/${APP}/domains/www.example.test`).catch(() => undefined);
});

px('a redeploy of a new commit is served at the routed URL', async ({ node, repo }) => {
  repo.commit({ 'index.html': '<h1>routed two</h1>\n' }, 'v2');
  const out = await deploy(node.client, APP);
  assert.ok(out.ok, `redeploy failed: ${JSON.stringify(out.error)}`);
  await until(node, HOST, (x) => x.status === 200 && x.body.includes('routed two'), 30_000);
});

/** The kernel's count of connections dropped because a listener's accept queue was full, in pid's namespace. */
function listenOverflows(pid: number): number {
  const lines = readFileSync(`/proc/${pid}/net/netstat`, 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
  const [names, values] = lines.map((l) => l.split(/\s+/));
  return Number(values![names!.indexOf('ListenOverflows')]);
}

px('a burst through the proxy never overflows the app\'s small accept queue: every request answered, no SYN dropped', async ({ node }) => {
  // busybox httpd listens with a backlog of 9; 40 requests at once through HAProxy would overflow it (the dropped
  // SYNs come back after 1 s and 3 s: multi-second stalls) unless the proxy keeps the rest in its own queue.
  const { app } = await node.client.request<{ app: { processes: SlotStatus[] } }>('GET', `/v1/apps/${APP}`);
  const proc = app.processes.find((p) => p.state === 'running')!;
  assert.is(proc.backlog, 9, 'the runner read the replica\'s accept queue');
  const pid = (await new Docker().getContainer(proc.containerId).inspect()).State.Pid;
  await until(node, HOST, (x) => x.status === 200, 10_000);
  const before = listenOverflows(pid);
  const statuses = new Map<number | string, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next++ < 2000) {
      const r = await get(node.proxyPort, HOST).then((x) => x.status, (err: Error) => err.message);
      statuses.set(r, (statuses.get(r) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 40 }, worker));
  assert.equal(Object.fromEntries(statuses), { 200: 2000 });
  assert.is(listenOverflows(pid) - before, 0, 'connections dropped at the app\'s full accept queue');
});

px('kill -9 of pleaco-proxy: routes are back from state within 10 s', async ({ node }) => {
  assert.ok(node.kill('proxy', 'SIGKILL'));
  await new Promise((r) => setTimeout(r, 300));
  const r = await until(node, HOST, (x) => x.status === 200, 10_000);
  assert.match(r.body, 'routed two');
});

// After the kill: this change reaching HAProxy shows the restarted pleaco-proxy is in charge.

px('scaled to 0 the app gets the 503 page, not a hang', async ({ node }) => {
  await node.client.request('PUT', `/v1/apps/${APP}/scale`, { body: { replicas: 0 } });
  const r = await until(node, HOST, (x) => x.status === 503, 30_000);
  assert.match(r.body, /503|unavailable/i);
});

px.run();
