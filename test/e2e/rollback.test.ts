/**
 * Health-gated rollouts and automatic rollback, end to end on real parts (agent, builder, runner and proxy
 * processes, Docker Engine, HAProxy). A client polls the routed URL throughout: a new release takes traffic
 * only once its health path answers; a release that never gets healthy, or crash-loops, is given up and the
 * previous one keeps serving, and the deploy says why with the container's last log lines.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'node:http';
import type { Release } from '../../src/model/index.js';
import { TestRepo } from '../helpers/gitrepo.js';
import { deploy, startNode, type TestNode } from '../helpers/node.js';
import { tempDir } from '../helpers/tmp.js';

const rb = suite<{ node: TestNode; repo: TestRepo; tmp: ReturnType<typeof tempDir> }>('e2e-rollback');
const APP = 'rb-web';
const HOST = `${APP}.localhost`;

/** An httpd app on busybox: `/` says `body`; `/health` exists after `healthAfter` seconds (never when null). */
function app(body: string, o: { healthAfter: number | null; boot?: string; crash?: boolean }): Record<string, string> {
  const health = o.healthAfter === null ? '' : `(sleep ${o.healthAfter}; echo ok > /www/health) & `;
  const run = o.crash ? 'exit 3' : `${health}httpd -f -p "\${PORT:-5000}" -h /www & pid=$!; trap "kill $pid" TERM INT; wait $pid`;
  const cmd = `echo ${JSON.stringify(o.boot ?? 'booting')}; ${run}`;
  return {
    Dockerfile: ['FROM busybox:latest', 'COPY index.html /www/index.html', 'EXPOSE 5000', `CMD ["sh", "-c", ${JSON.stringify(cmd)}]`, ''].join('\n'),
    'index.html': `<h1>${body}</h1>\n`,
  };
}

/** GETs / through the proxy every 100 ms until stop() is called; keeps every outcome with its time. */
function poller(port: number): { seen: { t: number; status: number; body: string }[]; stop: () => Promise<void> } {
  const seen: { t: number; status: number; body: string }[] = [];
  let running = true;
  const once = (): Promise<void> =>
    new Promise((resolve) => {
      // A slow answer is still an answer (these machines are shared); a hang of 15 s is not.
      const req = request({ host: '127.0.0.1', port, path: '/', headers: { host: HOST }, agent: false, timeout: 15_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(void seen.push({ t: Date.now(), status: res.statusCode ?? 0, body })));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => resolve(void seen.push({ t: Date.now(), status: 0, body: err.message })));
      req.end();
    });
  const loop = (async () => {
    for (let i = 0; running && i < 3000; i++) {
      await once();
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return { seen, stop: async () => void ((running = false), await loop) };
}

async function releases(node: TestNode): Promise<{ releases: Release[]; current: number | null }> {
  return node.client.request('GET', `/v1/apps/${APP}/releases`);
}

rb.before(async (ctx) => {
  ctx.tmp = tempDir('pleaco-rollback-e2e-');
  ctx.repo = new TestRepo(ctx.tmp.dir, 'web');
  ctx.node = await startNode();
  await ctx.node.client.request('POST', '/v1/apps', { body: { name: APP, repo: `file://${ctx.repo.bare}` } });
  await ctx.node.client.request('PUT', `/v1/apps/${APP}/healthcheck`, { body: { path: '/health', deadlineMs: 8000 } });
  ctx.repo.commit(app('version one', { healthAfter: 0 }), 'v1');
  const out = await deploy(ctx.node.client, APP);
  assert.ok(out.ok, `first deploy failed: ${JSON.stringify(out.error)}\n${out.log.join('\n')}`);
});
rb.after(async (ctx) => {
  await ctx.node.destroy();
  ctx.tmp.cleanup();
});

rb('a release whose health path never answers is rolled back at the deadline; v1 serves throughout', async ({ node, repo }) => {
  repo.commit(app('version two', { healthAfter: null, boot: 'v2 starting without /health' }), 'v2 without health');
  const p = poller(node.proxyPort);
  const out = await deploy(node.client, APP);
  await p.stop();
  assert.not.ok(out.ok, 'the deploy fails');
  assert.is(out.error?.code, 'rollout_failed');
  assert.match(out.error!.message, /release v2 failed: rb-web#0 was not healthy within 8 s \(waiting for GET \/health answered 2xx\/3xx 2 times in a row\); rolled back to v1/);
  assert.match(out.lastLog ?? '', /v2 starting without \/health/, 'the deploy shows the container log');
  const bad = p.seen.filter((s) => s.status !== 200 || !s.body.includes('version one'));
  assert.equal(bad.slice(0, 3), [], `every request was answered by v1 (${p.seen.length} requests)`);
  assert.ok(p.seen.length >= 20, `requests were made during the rollout (${p.seen.length})`);
  const r = await releases(node);
  assert.is(r.current, 1, 'v1 is current again');
  const v2 = r.releases.find((x) => x.number === 2)!;
  assert.equal([v2.failure?.rolledBackTo, v2.failure?.slot], [1, `${APP}#0`]);
});

rb('a release that crashes at start is given up after 3 crashes with its log; v1 serves throughout', async ({ node, repo }) => {
  repo.commit(app('version three', { healthAfter: 0, crash: true, boot: 'fatal: DATABASE_URL is not set' }), 'v3 crashes');
  const p = poller(node.proxyPort);
  const out = await deploy(node.client, APP);
  await p.stop();
  assert.not.ok(out.ok);
  assert.match(out.error!.message, /release v3 failed: rb-web#0 crashed 3 times in a row \(last exit code 3\); rolled back to v1/);
  assert.match(out.lastLog ?? '', /fatal: DATABASE_URL is not set/);
  const bad = p.seen.filter((s) => s.status !== 200 || !s.body.includes('version one'));
  assert.equal(bad.slice(0, 3), [], `every request was answered by v1 (${p.seen.length} requests)`);
  assert.is((await releases(node)).current, 1);
});

rb('a new release takes traffic only once its health path answers, with no failed request', async ({ node, repo }) => {
  // A deadline with room for a loaded machine: this test is about gating, not about giving up.
  await node.client.request('PUT', `/v1/apps/${APP}/healthcheck`, { body: { path: '/health', deadlineMs: 60_000 } });
  repo.commit(app('version four', { healthAfter: 3 }), 'v4 healthy after 3 s');
  const p = poller(node.proxyPort);
  const out = await deploy(node.client, APP);
  await new Promise((r) => setTimeout(r, 500));
  await p.stop();
  assert.ok(out.ok, `deploy failed: ${JSON.stringify(out.error)}`);
  const r = await releases(node);
  assert.is(r.current, 4);
  const v4 = r.releases.find((x) => x.number === 4)!;
  const firstFour = p.seen.find((s) => s.body.includes('version four'));
  assert.ok(firstFour, 'v4 served in the end');
  // v4 answers `/` at once, `/health` only 3 s after its container started (after the release was made).
  assert.ok(firstFour.t - Date.parse(v4.createdAt) >= 3000, `v4 got traffic ${firstFour.t - Date.parse(v4.createdAt)} ms after its release: before it was healthy`);
  const failed = p.seen.filter((s) => s.status !== 200);
  const at = (t: number): string => `${t - Date.parse(v4.createdAt)} ms`;
  if (failed.length && process.env.ROLLBACK_DEBUG) {
    console.log(p.seen.map((s) => `${at(s.t)} ${s.status} ${s.body.slice(0, 30)}`).join('\n'));
    console.log(node.lines.filter((l) => /proxy|runner/.test(l)).slice(-80).join('\n'));
  }
  assert.equal(failed.map((s) => `${at(s.t)} after v4: ${s.status}`), [], `no failed request during the switch (${p.seen.length} requests)`);
});

rb.run();
