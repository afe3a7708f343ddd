/**
 * make bench-rollout: a bounded wrk load (2 threads, 20 connections) against an app through pleaco's
 * routing while the app is redeployed 5 times (each a new commit). Every non-2xx response and every
 * socket error counts as a failed request. Prints the deploys and wrk's figures with its latency distribution
 * (`p99_ms`: 99th percentile over the whole run, the rollouts included), last `failed_requests=N`.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { git, TestRepo } from '../test/helpers/gitrepo.js';
import { deploy, startNode } from '../test/helpers/node.js';
import { tempDir } from '../test/helpers/tmp.js';

const DEPLOYS = Number(process.env.BENCH_DEPLOYS ?? 5);
const EXAMPLE = fileURLToPath(new URL('../../examples/hello', import.meta.url));
const APP = 'rollout';

/** wrk's 99th percentile latency (`99%  12.34ms`) in milliseconds, or NaN when wrk did not print it. */
function p99Ms(out: string): number {
  const m = /^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(out);
  if (!m) return NaN;
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2] as 'us' | 'ms' | 's' | 'm'];
  return Math.round(Number(m[1]) * scale * 100) / 100;
}

async function main(): Promise<void> {
  const tmp = tempDir('pleaco-bench-rollout-');
  const node = await startNode();
  try {
    const repo = new TestRepo(tmp.dir, 'hello');
    repo.commitTree(EXAMPLE, 'example');
    await node.client.request('POST', '/v1/apps', { body: { name: APP, repo: `file://${repo.bare}` } });
    await node.client.request('PUT', `/v1/apps/${APP}/scale`, { body: { replicas: 2 } });
    const first = await deploy(node.client, APP);
    if (!first.ok) throw new Error(`first deploy failed: ${first.error?.message}`);
    const seconds = Number(process.env.BENCH_SECONDS ?? 10 + DEPLOYS * 8); // bounded: wrk stops by itself
    const wrk = spawn('wrk', ['-t2', '-c20', '--latency', `-d${seconds}s`, '-H', `Host: ${APP}.localhost`, `http://127.0.0.1:${node.proxyPort}/`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    wrk.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<void>((r) => wrk.on('close', () => r()));
    await new Promise((r) => setTimeout(r, 2000));
    const page = join(repo.work, 'www', 'index.html');
    const original = readFileSync(page, 'utf8');
    for (let i = 1; i <= DEPLOYS; i++) {
      writeFileSync(page, `${original}<!-- rollout ${i} -->\n`);
      git(repo.work, 'commit', '-q', '-am', `rollout ${i}`);
      git(repo.work, 'push', '-q', 'origin', 'main');
      const t0 = Date.now();
      const res = await deploy(node.client, APP);
      console.log(`deploy ${i}: ${res.ok ? `v${res.release}` : `failed (${res.error?.message})`} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    await done;
    const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
    const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const socketErrors = sock ? sock.slice(1).reduce((s, x) => s + Number(x), 0) : 0;
    console.log(out.trim());
    console.log(`requests=${total} non_2xx=${non2xx} socket_errors=${socketErrors} p99_ms=${p99Ms(out)}`);
    console.log(`failed_requests=${non2xx + socketErrors}`);
  } finally {
    await node.destroy();
    tmp.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
