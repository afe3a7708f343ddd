/**
 * A diagnosis aid for make bench-rollout (not a benchmark): the same wrk load while the app is redeployed, plus a
 * probe process (probe.ts) that prints every response slower than 1 s; both next to the deploy stages' and the
 * rollout's timestamps, so a slow request can be matched with what the node was doing.
 * Usage: node dist/bench/rollout-slow.js   (DEPLOYS=5)
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { git, TestRepo } from '../test/helpers/gitrepo.js';
import { startNode } from '../test/helpers/node.js';
import { tempDir } from '../test/helpers/tmp.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/hello', import.meta.url));
const APP = 'slow';
const at = (): string => new Date().toISOString();

async function main(): Promise<void> {
  const tmp = tempDir('pleaco-rollout-slow-');
  const node = await startNode();
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
    const wrk = spawn('wrk', ['-t2', '-c20', '-d120s', '-H', `Host: ${APP}.localhost`, `http://127.0.0.1:${node.proxyPort}/`], { stdio: ['ignore', 'inherit', 'inherit'] });
    const probe = spawn(process.execPath, [fileURLToPath(new URL('./probe.js', import.meta.url)), String(node.proxyPort), `${APP}.localhost`, '4'], { stdio: ['ignore', 'inherit', 'inherit'] });
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
    probe.kill('SIGTERM');
    wrk.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 1500));
  } finally {
    await node.destroy();
    tmp.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
