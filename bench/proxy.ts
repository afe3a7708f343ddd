/**
 * make bench-proxy: wrk (50 connections) against the same static backend directly, through nginx as a
 * keep-alive reverse proxy, and through pleaco's routing (the HAProxy config pleaco renders and programs,
 * via the same ProxyController the pleaco-proxy process runs), in one run, alternating rounds.
 * Prints rps and p99 for each, and last `proxy_vs_nginx_rps_ratio=X`.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HAProxyProcess, ProxyController } from '../src/proxy/index.js';
import { freePort } from '../test/helpers/gitrepo.js';
import { tempDir } from '../test/helpers/tmp.js';

const DURATION = process.env.BENCH_DURATION ?? '8s';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONNS = 50;

function nginx(dir: string, name: string, body: string): ChildProcess {
  const d = join(dir, name);
  mkdirSync(join(d, 'logs'), { recursive: true });
  writeFileSync(join(d, 'nginx.conf'), body);
  return spawn('nginx', ['-p', d, '-c', join(d, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
}

/** GET with an explicit Host header (fetch may not set Host), resolving with the status code. */
function get(url: string, host?: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { headers: host ? { host } : {}, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

async function waitOk(url: string, host?: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if ((await get(url, host)) === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer 200`);
}

function wrk(url: string, host?: string): { rps: number; p99ms: number; errors: number } {
  const args = ['-t2', `-c${CONNS}`, `-d${DURATION}`, '--latency', ...(host ? ['-H', `Host: ${host}`] : []), url];
  const out = execFileSync('wrk', args, { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const m = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const p99ms = m ? Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 }[m[2] as 'us' | 'ms' | 's']) : NaN;
  const errs = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = (errs ? Number(errs[1]) : 0) + (sock ? sock.slice(1).reduce((s, x) => s + Number(x), 0) : 0);
  return { rps, p99ms, errors };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const tmp = tempDir('pleaco-bench-proxy-');
  const procs: ChildProcess[] = [];
  let ctl: ProxyController | undefined;
  try {
    const [pBack, pNginx, pPleaco] = [await freePort(), await freePort(), await freePort()];
    writeFileSync(join(tmp.dir, 'index.html'), '<h1>Hello from the backend</h1>\n'.repeat(8));
    chmodSync(tmp.dir, 0o755); // nginx workers run as nobody and must read the page
    const common = `pid ${tmp.dir}/%s.pid; error_log stderr error; events { worker_connections 4096; }`;
    procs.push(nginx(tmp.dir, 'backend', `${common.replace('%s', 'backend')} worker_processes 1;
http { access_log off; keepalive_requests 100000; server { listen 127.0.0.1:${pBack}; root ${tmp.dir}; } }`));
    procs.push(nginx(tmp.dir, 'proxy', `${common.replace('%s', 'proxy')} worker_processes auto;
http { access_log off; upstream backend { server 127.0.0.1:${pBack}; keepalive 64; }
  server { listen 127.0.0.1:${pNginx}; location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; } } }`));
    const dir = join(tmp.dir, 'haproxy');
    mkdirSync(dir);
    const statsSocket = join(dir, 'stats.sock');
    const threads = process.env.BENCH_PROXY_THREADS ? Number(process.env.BENCH_PROXY_THREADS) : undefined; // default: proxyThreads()
    ctl = new ProxyController({ proc: new HAProxyProcess({ dir, statsSocket }), paths: { dir, statsSocket }, ...(threads ? { threads } : {}) });
    const out = await ctl.apply({
      port: pPleaco,
      bindHost: '127.0.0.1',
      apps: [{ name: 'bench', hosts: ['bench.localhost'], health: { path: '/', intervalMs: 2000, rise: 1, fall: 3 }, servers: [{ id: 'backend', addr: '127.0.0.1', port: pBack, state: 'ready' }] }],
    });
    if (!out.ok) throw new Error(`pleaco proxy config failed: ${out.error}`);
    const targets = [
      { name: 'direct', url: `http://127.0.0.1:${pBack}/`, host: undefined as string | undefined },
      { name: 'nginx', url: `http://127.0.0.1:${pNginx}/`, host: undefined as string | undefined },
      { name: 'pleaco', url: `http://127.0.0.1:${pPleaco}/`, host: 'bench.localhost' },
    ];
    for (const t of targets) await waitOk(t.url, t.host);
    const res: Record<string, { rps: number[]; p99: number[]; errors: number }> = {};
    for (let round = 1; round <= ROUNDS; round++) {
      for (const t of targets) {
        const r = wrk(t.url, t.host);
        const acc = (res[t.name] ??= { rps: [], p99: [], errors: 0 });
        acc.rps.push(r.rps);
        acc.p99.push(r.p99ms);
        acc.errors += r.errors;
        console.log(`round ${round} ${t.name.padEnd(6)} ${r.rps.toFixed(0).padStart(7)} rps  p99 ${r.p99ms.toFixed(2)} ms  errors ${r.errors}`);
      }
    }
    console.log(`wrk -t2 -c${CONNS} -d${DURATION}, ${ROUNDS} rounds, medians:`);
    for (const t of targets) {
      const r = res[t.name]!;
      console.log(`${t.name.padEnd(6)} rps=${median(r.rps).toFixed(0)} p99_ms=${median(r.p99).toFixed(2)} errors=${r.errors}`);
    }
    const ratio = median(res.pleaco!.rps) / median(res.nginx!.rps);
    console.log(`p99 pleaco vs nginx: ${median(res.pleaco!.p99).toFixed(2)} ms vs ${median(res.nginx!.p99).toFixed(2)} ms`);
    console.log(`proxy_vs_nginx_rps_ratio=${ratio.toFixed(2)}`);
  } finally {
    await ctl?.close();
    for (const p of procs) p.kill('SIGTERM');
    tmp.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
