/**
 * A diagnosis aid for make bench-rollout (not a benchmark): while the app is redeployed, 8 keep-alive clients
 * request it through the proxy and every response slower than 500 ms is printed with the time since start, next
 * to the deploy stages' times, so a slow request can be matched with what the node was doing.
 */
import { Agent, request } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { git, TestRepo } from '../test/helpers/gitrepo.js';
import { startNode } from '../test/helpers/node.js';
import { tempDir } from '../test/helpers/tmp.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/hello', import.meta.url));
const APP = 'slow';
const t0 = Date.now();
const at = (): string => new Date().toISOString();

function get(port: number, agent: Agent): Promise<{ status: number; ms: number }> {
  const start = Date.now();
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host: `${APP}.localhost` }, agent, timeout: 15_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: Date.now() - start }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, ms: Date.now() - start }));
    req.end();
  });
}

async function main(): Promise<void> {
  const tmp = tempDir('pleaco-rollout-slow-');
  const node = await startNode();
  let stop = false;
  try {
    const repo = new TestRepo(tmp.dir, 'hello');
    repo.commitTree(EXAMPLE, 'example');
    await node.client.request('POST', '/v1/apps', { body: { name: APP, repo: `file://${repo.bare}` } });
    await node.client.request('PUT', `/v1/apps/${APP}/scale`, { body: { replicas: 2 } });
    const deploy = async (): Promise<void> => {
      const { build } = await node.client.request<{ build: { id: string } }>('POST', `/v1/apps/${APP}/deploys`, { body: {} });
      let stage = '';
      await node.client.stream(`/v1/apps/${APP}/builds/${build.id}/events?follow=1`, (raw) => {
        const ev = raw as { type: string; build?: { stage: string }; slots?: { slot: string; state: string; next?: { state: string } }[]; ok?: boolean };
        if (ev.type === 'build' && ev.build!.stage !== stage) console.log(`${at()} stage ${(stage = ev.build!.stage)}`);
        if (ev.type === 'rollout') console.log(`${at()} rollout ${ev.slots!.map((s) => `${s.slot}:${s.state}${s.next ? `/${s.next.state}` : ''}`).join(' ')}`);
        if (ev.type === 'done') console.log(`${at()} done ok=${ev.ok}`);
      });
    };
    await deploy();
    const { spawn } = await import('node:child_process');
    const wrk = spawn('wrk', ['-t2', '-c20', '-d120s', '-H', `Host: ${APP}.localhost`, `http://127.0.0.1:${node.proxyPort}/`], { stdio: ['ignore', 'inherit', 'inherit'] });
    const probe = spawn(process.execPath, ['/tmp/probe.mjs', String(node.proxyPort), `${APP}.localhost`, '4'], { stdio: ['ignore', 'inherit', 'inherit'] });
    const stats = { n: 0, slow: 0, failed: 0 };
    const loops: Promise<void>[] = [];
    void get; void Agent;
    const page = join(repo.work, 'www', 'index.html');
    const original = readFileSync(page, 'utf8');
    for (let i = 1; i <= Number(process.env.DEPLOYS ?? 5); i++) {
      writeFileSync(page, `${original}<!-- ${i} -->\n`);
      git(repo.work, 'commit', '-q', '-am', `r${i}`);
      git(repo.work, 'push', '-q', 'origin', 'main');
      console.log(`${at()} deploy ${i}`);
      await deploy();
    }
    await new Promise((r) => setTimeout(r, 3000));
    stop = true;
    probe.kill('SIGTERM');
    wrk.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 1500));
    await Promise.all(loops);
    console.log(`requests=${stats.n} slow_or_failed=${stats.slow} failed=${stats.failed}`);
  } finally {
    stop = true;
    await node.destroy();
    tmp.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
