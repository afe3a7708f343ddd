/**
 * make bench-proxy: wrk (50 connections) against the same static backend directly, through nginx as a
 * keep-alive reverse proxy doing the same work as pleaco (Host routing, X-Forwarded-For, no access log),
 * and through pleaco's routing (the HAProxy config pleaco renders, programmed by the same ProxyController
 * the pleaco-proxy process runs), in one run, several rounds in alternating order, medians. Optionally
 * (informational) nginx as Dokku's default template generates it.
 *
 * Fairness: wrk stands in for remote clients, so on a machine with ≥ 2 cores it is pinned to CPU 0 and the
 * backend and proxies to the other CPUs (they share them, as a proxy shares a host with its apps); nginx
 * gets as many workers as pleaco's HAProxy has threads, so neither wins CPU share by having more threads.
 * Besides rps and p99, each proxy's own CPU time per request (user+system, from /proc) is printed: it does
 * not depend on what else the machine is doing, which rps does.
 *
 * Prints rps and p99 for each, and last `proxy_vs_nginx_rps_ratio=X`.
 * Env: BENCH_DURATION (5s), BENCH_ROUNDS (5), BENCH_PROXY_THREADS (proxyThreads()), BENCH_PROXY_PIN=0 (no
 * pinning), BENCH_PROXY_DOKKU=0 (skip the Dokku-config target).
 */
import http from 'node:http';
import { type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { HAProxyProcess, ProxyController, proxyThreads } from '../src/proxy/index.js';
import { reservedPort } from '../test/helpers/net.js';
import { tempDir } from '../test/helpers/tmp.js';
import { cpuSeconds, median, pinTree, runWrk } from './proxy/measure.js';
import { backendConf, dokkuConf, keepAliveProxyConf, startNginx } from './proxy/nginx.js';

const DURATION = process.env.BENCH_DURATION ?? '5s';
const ROUNDS = Math.max(1, Math.min(50, Number(process.env.BENCH_ROUNDS ?? 5)));
const CONNS = 50;
const HOST = 'bench.localhost';
const CORES = availableParallelism();
const PIN = CORES >= 2 && process.env.BENCH_PROXY_PIN !== '0';
const WRK_CPUS = PIN ? '0' : undefined;
const SERVER_CPUS = PIN ? (CORES === 2 ? '1' : `1-${CORES - 1}`) : undefined;
const WRK_THREADS = PIN ? 1 : 2;
const THREADS = process.env.BENCH_PROXY_THREADS ? Math.max(1, Number(process.env.BENCH_PROXY_THREADS)) : proxyThreads();
const WITH_DOKKU = process.env.BENCH_PROXY_DOKKU !== '0';

interface Target {
  name: string;
  url: string;
  host?: string;
  /** Root pid of the proxy (its CPU time is measured); none for direct. */
  pid?: number;
}

interface Samples {
  rps: number[];
  p99: number[];
  cpuUs: number[];
  errors: number;
}

/** GET with an explicit Host header, resolving with the status code (0 on error). */
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

async function waitStatus(url: string, host: string | undefined, want: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last = 0;
  while (Date.now() < deadline) {
    if ((last = await get(url, host)) === want) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} (Host ${host ?? '-'}) answered ${last}, expected ${want}`);
}

function measure(t: Target): { rps: number; p99ms: number; cpuUs: number; errors: number } {
  const before = t.pid ? cpuSeconds(t.pid) : 0;
  const r = runWrk({ url: t.url, host: t.host, threads: WRK_THREADS, connections: CONNS, duration: DURATION, cpus: WRK_CPUS });
  const cpuUs = t.pid && r.requests > 0 ? ((cpuSeconds(t.pid) - before) * 1e6) / r.requests : NaN;
  return { rps: r.rps, p99ms: r.p99ms, cpuUs, errors: r.errors };
}

const fmt = (x: number, d = 0): string => (Number.isFinite(x) ? x.toFixed(d) : '-');

async function main(): Promise<void> {
  const tmp = tempDir('pleaco-bench-proxy-');
  const procs: ChildProcess[] = [];
  let ctl: ProxyController | undefined;
  let last: string | null = null;
  try {
    const [pBack, pNginx, pPleaco, pDokku] = [await reservedPort(), await reservedPort(), await reservedPort(), await reservedPort()];
    const root = join(tmp.dir, 'www');
    mkdirSync(root);
    writeFileSync(join(root, 'index.html'), '<h1>Hello from the backend</h1>\n'.repeat(8));
    chmodSync(tmp.dir, 0o755); // nginx workers run as nobody and must read the page
    chmodSync(root, 0o755);
    const o = { backend: pBack, host: HOST, workers: THREADS };
    procs.push(startNginx(tmp.dir, 'backend', backendConf(tmp.dir, pBack, root), SERVER_CPUS));
    const nginx = startNginx(tmp.dir, 'nginx', keepAliveProxyConf(tmp.dir, { ...o, port: pNginx }), SERVER_CPUS);
    procs.push(nginx);
    const dokku = WITH_DOKKU ? startNginx(tmp.dir, 'dokku', dokkuConf(tmp.dir, { ...o, port: pDokku }), SERVER_CPUS) : undefined;
    if (dokku) procs.push(dokku);

    const dir = join(tmp.dir, 'haproxy');
    mkdirSync(dir);
    const statsSocket = join(dir, 'stats.sock');
    const proc = new HAProxyProcess({ dir, statsSocket });
    ctl = new ProxyController({ proc, paths: { dir, statsSocket }, threads: THREADS });
    const out = await ctl.apply({
      port: pPleaco,
      bindHost: '127.0.0.1',
      apps: [{ name: 'bench', hosts: [HOST], health: { path: '/', intervalMs: 2000, rise: 1, fall: 3 }, servers: [{ id: 'backend', addr: '127.0.0.1', port: pBack, state: 'ready' }] }],
    });
    if (!out.ok) throw new Error(`pleaco proxy config failed: ${out.error.message}`);
    if (SERVER_CPUS && proc.pid) pinTree(proc.pid, SERVER_CPUS);

    const targets: Target[] = [
      { name: 'direct', url: `http://127.0.0.1:${pBack}/` },
      { name: 'nginx', url: `http://127.0.0.1:${pNginx}/`, host: HOST, pid: nginx.pid },
      { name: 'pleaco', url: `http://127.0.0.1:${pPleaco}/`, host: HOST, pid: proc.pid },
      ...(dokku ? [{ name: 'dokku-nginx', url: `http://127.0.0.1:${pDokku}/`, host: HOST, pid: dokku.pid }] : []),
    ];
    for (const t of targets) await waitStatus(t.url, t.host, 200);
    // Same routing work on both proxies: an unknown host is a 404 on each.
    for (const t of targets.filter((x) => x.pid)) await waitStatus(t.url, 'unknown.invalid', 404);
    for (const t of targets) runWrk({ url: t.url, host: t.host, threads: WRK_THREADS, connections: CONNS, duration: '1s', cpus: WRK_CPUS }); // warm-up

    const res: Record<string, Samples> = {};
    for (let round = 1; round <= ROUNDS; round++) {
      for (const t of round % 2 ? targets : [...targets].reverse()) {
        const r = measure(t);
        const acc = (res[t.name] ??= { rps: [], p99: [], cpuUs: [], errors: 0 });
        acc.rps.push(r.rps);
        acc.p99.push(r.p99ms);
        acc.cpuUs.push(r.cpuUs);
        acc.errors += r.errors;
        const cpu = t.pid ? `  proxy cpu ${fmt(r.cpuUs, 1)} µs/req` : '';
        console.log(`round ${round} ${t.name.padEnd(11)} ${fmt(r.rps).padStart(7)} rps  p99 ${fmt(r.p99ms, 2)} ms${cpu}  errors ${r.errors}`);
      }
    }
    const where = PIN ? `wrk pinned to cpu ${WRK_CPUS}, backend and proxies to cpu ${SERVER_CPUS}` : 'no pinning';
    console.log(`wrk -t${WRK_THREADS} -c${CONNS} -d${DURATION}, ${where}; nginx worker_processes ${THREADS}, pleaco nbthread ${THREADS}; ${ROUNDS} rounds, alternating order; medians:`);
    for (const t of targets) {
      const r = res[t.name]!;
      const cpu = t.pid ? ` proxy_cpu_us_per_req=${fmt(median(r.cpuUs), 1)}` : '';
      const note = t.name === 'dokku-nginx' ? "  (informational: Dokku's generated config, no upstream keep-alive, access log on)" : '';
      console.log(`${t.name.padEnd(11)} rps=${fmt(median(r.rps))} p99_ms=${fmt(median(r.p99), 2)}${cpu} errors=${r.errors}${note}`);
    }
    const pleaco = res.pleaco!;
    const ngx = res.nginx!;
    if (res['dokku-nginx']) console.log(`pleaco_vs_dokku_nginx_rps_ratio=${fmt(median(pleaco.rps) / median(res['dokku-nginx'].rps), 2)} (informational)`);
    const paired = pleaco.rps.map((x, i) => x / ngx.rps[i]!);
    console.log(`per-round pleaco/nginx rps: ${paired.map((x) => fmt(x, 2)).join(' ')} (median ${fmt(median(paired), 2)})`);
    console.log(`proxy CPU per request pleaco vs nginx: ${fmt(median(pleaco.cpuUs), 1)} µs vs ${fmt(median(ngx.cpuUs), 1)} µs`);
    console.log(`p99 pleaco vs nginx: ${fmt(median(pleaco.p99), 2)} ms vs ${fmt(median(ngx.p99), 2)} ms`);
    last = `proxy_vs_nginx_rps_ratio=${fmt(median(pleaco.rps) / median(ngx.rps), 2)}`;
  } finally {
    await ctl?.close();
    for (const p of procs) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    tmp.cleanup();
  }
  // The figure is the last line, after HAProxy's shutdown lines.
  if (last) console.log(last);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
