/**
 * make bench-deploy: push-to-serving time of the example app through pleaco (push, signed webhook,
 * fetch, build, test, release, container up and answering) beside a bare `docker build` +
 * `docker run` of the same source, in the same run, alternating, each with a fresh change so both
 * rebuild the same layers. Prints each round, the medians, and last `deploy_overhead_ratio=X`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signGithubPayload } from '../src/source/index.js';
import { git, TestRepo } from '../test/helpers/gitrepo.js';
import { deploy, startNode, waitForBody } from '../test/helpers/node.js';
import { tempDir } from '../test/helpers/tmp.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const EXAMPLE = fileURLToPath(new URL('../../examples/hello', import.meta.url));
const APP = 'bench-hello';

function docker(...args: string[]): string {
  return execFileSync('docker', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
}

async function bare(dir: string, marker: string, round: number): Promise<number> {
  const t0 = performance.now();
  const tag = `pleaco-bench/bare:${round}`;
  const b = spawnSync('docker', ['build', '-q', '--label', 'io.pleaco.managed=true', '--label', 'io.pleaco.role=bench', '-t', tag, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  if (b.status !== 0) throw new Error(`docker build failed: ${b.stderr}`);
  const id = docker('run', '-d', '--label', 'io.pleaco.managed=true', '--label', 'io.pleaco.role=bench', '-e', 'PORT=5000', '-p', '127.0.0.1::5000', tag);
  try {
    const port = docker('port', id, '5000/tcp').split('\n')[0]!.split(':').pop();
    await waitForBody(async () => `http://127.0.0.1:${port}/`, new RegExp(marker), 60_000);
    return performance.now() - t0;
  } finally {
    docker('rm', '-f', id);
    spawnSync('docker', ['rmi', tag], { stdio: 'ignore' });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const tmp = tempDir('pleaco-bench-');
  const node = await startNode();
  try {
    const repo = new TestRepo(tmp.dir, 'hello');
    repo.commitTree(EXAMPLE, 'example');
    const created = await node.client.request<{ app: { webhook: { secret: string } } }>('POST', '/v1/apps', { body: { name: APP, repo: `file://${repo.bare}` } });
    const warm = await deploy(node.client, APP);
    if (!warm.ok) throw new Error(`warm-up deploy failed: ${warm.error?.message}\n${warm.log.join('\n')}`);
    const bareDir = join(tmp.dir, 'bare');
    cpSync(EXAMPLE, bareDir, { recursive: true });
    const url = async () => (await node.client.request<{ app: { url: string | null } }>('GET', `/v1/apps/${APP}`)).app.url;
    const original = readFileSync(join(EXAMPLE, 'www', 'index.html'), 'utf8');
    const pleaco: number[] = [];
    const plain: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const marker = `bench-round-${round}-${Date.now()}`;
      const page = `${original}<!-- ${marker} -->\n<p>${marker}</p>\n`;
      // pleaco: push, then the webhook GitHub would send; timed until the new content is served.
      writeFileSync(join(repo.work, 'www', 'index.html'), page);
      const t0 = performance.now();
      git(repo.work, 'commit', '-q', '-am', marker);
      git(repo.work, 'push', '-q', 'origin', 'main');
      const sha = git(repo.work, 'rev-parse', 'HEAD');
      const payload = JSON.stringify({ ref: 'refs/heads/main', after: sha, deleted: false, repository: { clone_url: `file://${repo.bare}` } });
      await node.client.request('POST', '/v1/hooks/github', { rawBody: payload, headers: { 'x-github-event': 'push', 'x-hub-signature-256': signGithubPayload(created.app.webhook.secret, payload) } });
      await waitForBody(url, new RegExp(marker), 180_000);
      pleaco.push(performance.now() - t0);
      // bare Docker: the same source change, built and run by hand.
      writeFileSync(join(bareDir, 'www', 'index.html'), page);
      plain.push(await bare(bareDir, marker, round));
      const builds = (await node.client.request<{ builds: { createdAt: string; startedAt?: string; finishedAt?: string; durations?: Record<string, number> }[] }>('GET', `/v1/apps/${APP}/builds`)).builds;
      const last = builds.reduce((a, b) => (a.createdAt > b.createdAt ? a : b));
      const stages = Object.entries(last.durations ?? {}).map(([k, v]) => `${k} ${(v / 1000).toFixed(2)}`).join(', ');
      const total = ((Date.parse(last.finishedAt ?? '') - Date.parse(last.startedAt ?? '')) / 1000).toFixed(2);
      console.log(`round ${round}: pleaco ${(pleaco.at(-1)! / 1000).toFixed(2)} s (build record: ${total} s from claim to release; ${stages}), docker build+run ${(plain.at(-1)! / 1000).toFixed(2)} s`);
    }
    const p = median(pleaco);
    const b = median(plain);
    console.log(`pleaco push-to-serving median: ${(p / 1000).toFixed(2)} s over ${ROUNDS} rounds (includes fetch, tests, release, rollout)`);
    console.log(`bare docker build + run median: ${(b / 1000).toFixed(2)} s`);
    console.log(`deploy_overhead_ratio=${(p / b).toFixed(2)}`);
  } finally {
    await node.destroy();
    tmp.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
