/**
 * make bench-state: an agent with a long history. 100 apps x 300 builds, each with a scan report of 5-20 KB, an
 * SBOM and a build log, 100 releases per app; the agent is the real wiring (createAgent, real Store on a temp dir,
 * real WAL and fsync) run in this process, so the event loop measured is the agent's own: the longest stall while
 * the whole state is compacted (the longer of perf_hooks monitorEventLoopDelay and a 10 ms setInterval drift probe),
 * then one build-retention pass (keep 50 builds per app) and the compaction that follows it, and the state size
 * before and after. Last line: max_loop_stall_ms=X (goal <= 50). BENCH_STATE_APPS / BENCH_STATE_BUILDS shrink it.
 */
import { closeSync, mkdirSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { loadConfig } from '../src/config/index.js';
import { createLogger, setLogLevel } from '../src/log.js';
import { createAgent, type Agent } from '../src/main/wire-agent.js';
import { keys } from '../src/model/index.js';
import { tempDir } from '../test/helpers/tmp.js';

const APPS = Number(process.env.BENCH_STATE_APPS || 100);
const BUILDS = Number(process.env.BENCH_STATE_BUILDS || 300);
const KEEP = 50;
const NODE = 'bench-node';
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** A seeded PRNG so every run has the same state. */
let seed = 42;
const rand = (): number => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);

function finding(i: number): unknown {
  const sev = ['critical', 'high', 'medium', 'low', 'unknown'][i % 5];
  return {
    id: `GHSA-${(i * 7919).toString(36).padStart(4, 'x')}-abcd-${(i * 104729).toString(36).slice(0, 4)}`, aliases: [`CVE-2024-${10000 + i}`], severity: sev,
    package: { type: 'deb', ecosystem: 'Debian:12', name: `libexample${i % 40}`, version: `1.${i % 9}.${i % 13}-1+deb12u1`, purl: `pkg:deb/debian/libexample${i % 40}@1.${i % 9}`, locations: ['/var/lib/dpkg/status'] },
    fixed: `1.${i % 9}.${(i % 13) + 1}-1+deb12u2`, summary: 'Out-of-bounds read in the example parser allows a crafted input to crash the process', blocking: false,
  };
}

function scanReport(app: string, build: string, at: string): unknown {
  const target = 5_000 + Math.floor(rand() * 15_000);
  const findings: unknown[] = [];
  let size = 400;
  while (size < target) {
    const f = finding(findings.length + Math.floor(rand() * 1000));
    size += JSON.stringify(f).length;
    findings.push(f);
  }
  return { app, build, image: `pleaco/${app}:${build}`, imageId: `sha256:${build.padEnd(64, '0')}`, at, os: 'debian 12', dbLoadedAt: at, findings, truncated: 0, expired: [], skipped: 0, counts: { critical: 1, high: 2, medium: 3, low: 4, unknown: 0 }, blocked: false, failOn: 'critical' };
}

/** Writes the history straight as the store's snapshot file (the on-disk format Store.open reads) and the build logs. */
function generate(stateDir: string): { entries: number; bytes: number } {
  const dir = join(stateDir, 'state');
  mkdirSync(dir, { recursive: true });
  const fd = openSync(join(dir, 'state.snapshot'), 'w', 0o600);
  let wall = Date.now() - 30 * 86_400_000;
  let entries = 0;
  let bytes = 0;
  const put = (key: string, value: unknown): void => {
    const line = JSON.stringify({ key, value, ts: { wall: ++wall, counter: 0, node: NODE } }) + '\n';
    writeSync(fd, line);
    entries++;
    bytes += line.length;
  };
  for (let a = 0; a < APPS; a++) {
    const app = `app${a}`;
    put(keys.app(app), { name: app, repo: `https://github.com/acme/${app}`, branch: 'main', webhookSecret: 'x'.repeat(40), createdAt: new Date(wall).toISOString() });
    put(keys.scale(app), { replicas: 2 });
    mkdirSync(join(stateDir, 'builds', app), { recursive: true });
    let release = 0;
    for (let b = 0; b < BUILDS; b++) {
      const at = new Date(wall).toISOString();
      const id = `b${wall.toString(36)}${(a * 1000 + b).toString(16).padStart(6, '0')}`;
      const ok = b % 3 !== 1;
      put(keys.build(app, id), { id, app, ref: 'main', status: ok ? 'succeeded' : 'failed', stage: 'done', trigger: 'webhook', createdAt: at, startedAt: at, finishedAt: at, node: NODE, commit: 'c'.repeat(40), image: `pleaco/${app}:${id}`, durations: { fetch: 800, build: 21000, test: 3000, scan: 4000 } });
      put(keys.scan(app, id), scanReport(app, id, at));
      put(keys.sbom(app, id), { format: 'CycloneDX-1.5', encoding: 'gzip+base64', data: Buffer.alloc(2000 + Math.floor(rand() * 6000), a + b).toString('base64') });
      writeFileSync(join(stateDir, 'builds', app, `${id}.log`), `#1 [internal] load build definition from Dockerfile\n`.repeat(40));
      if (ok && b % 3 === 0) {
        release++;
        put(keys.release(app, release), { app, number: release, kind: 'deploy', description: `Deploy ${id}`, commit: 'c'.repeat(40), image: `pleaco/${app}:${id}`, imageId: `sha256:${id}`, build: id, test: null, port: 5000, config: { DATABASE_URL: 'postgres://db/app', LOG_LEVEL: 'info' }, createdAt: at });
      }
    }
    put(keys.current(app), { release });
  }
  closeSync(fd);
  return { entries, bytes };
}

/** Runs fn and reports the longest event-loop stall meanwhile, by both probes (ms). */
async function stallDuring(fn: () => Promise<void>): Promise<{ ms: number; stallMs: number; histogramMs: number; probeMs: number; gcMs: number }> {
  let gcMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs = Math.max(gcMs, e.duration);
  });
  gc.observe({ entryTypes: ['gc'] });
  const h = monitorEventLoopDelay({ resolution: 5 });
  let probeMs = 0;
  let last = performance.now();
  const probe = setInterval(() => {
    const now = performance.now();
    probeMs = Math.max(probeMs, now - last - 10);
    last = now;
  }, 10);
  h.enable();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  h.disable();
  clearInterval(probe);
  gc.disconnect();
  // The longer of the two probes: each can miss what the other sees (the histogram samples every 5 ms).
  return { ms, stallMs: Math.max(h.max / 1e6, probeMs), histogramMs: h.max / 1e6, probeMs, gcMs };
}

function snapshotSize(agent: Agent, stateDir: string): number {
  void agent;
  return statSync(join(stateDir, 'state', 'state.snapshot')).size;
}

/** Brings the log to one entry short of the compaction bound (not measured). */
async function nearlyFull(agent: Agent, tag: string, bound: number): Promise<void> {
  await agent.store.whenIdle();
  const room = bound - agent.store.logLength - 1;
  for (let i = 0; i < room; i += 500) await agent.store.batch(Array.from({ length: Math.min(500, room - i) }, (_, j) => ({ key: `bench/${tag}/${i + j}`, value: { i: i + j } })));
}

/** One small write that crosses the bound, and the compaction it starts, to its end. */
async function compact(agent: Agent, tag: string): Promise<void> {
  await agent.store.put(`bench/${tag}/last`, { last: true });
  await agent.store.whenIdle();
}

async function main(): Promise<void> {
  const tmp = tempDir('pleaco-bench-state-');
  try {
    let t = performance.now();
    const gen = generate(tmp.dir);
    console.log(`history: ${APPS} apps x ${BUILDS} builds, ${gen.entries} entries, snapshot ${mb(gen.bytes)}, generated in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    setLogLevel('warn');
    const config = loadConfig({ PLEACO_STATE_DIR: tmp.dir, PLEACO_API_HOST: '127.0.0.1', PLEACO_API_PORT: '0', PLEACO_CLUSTER_PORT: 'off', PLEACO_CONFIG: '', PLEACO_KEEP_BUILDS: String(KEEP), PLEACO_LOG_LEVEL: 'warn' });
    config.store.compactAfterEntries = 2000;
    t = performance.now();
    const agent = await createAgent({ config, nodeId: NODE, token: 'bench-token', version: 'bench', log: createLogger({ proc: 'bench-state' }) });
    const startS = (performance.now() - t) / 1000;
    console.log(`agent start: ${startS.toFixed(1)} s, rss ${mb(process.memoryUsage().rss)}, heap ${mb(process.memoryUsage().heapUsed)}`);
    try {
      await nearlyFull(agent, 'a', config.store.compactAfterEntries);
      const c1 = await stallDuring(() => compact(agent, 'a'));
      console.log(`compaction of the whole state: ${(c1.ms / 1000).toFixed(1)} s, longest loop stall ${c1.stallMs.toFixed(1)} ms (histogram ${c1.histogramMs.toFixed(1)} ms, interval probe ${c1.probeMs.toFixed(1)} ms, longest GC pause ${c1.gcMs.toFixed(1)} ms), snapshot ${mb(snapshotSize(agent, tmp.dir))}`);
      const before = agent.store.list('builds/').length;
      const r = await stallDuring(() => agent.pruneBuilds());
      const after = agent.store.list('builds/').length;
      console.log(`retention (keep ${KEEP}/app): builds ${before} -> ${after} in ${(r.ms / 1000).toFixed(1)} s, longest loop stall ${r.stallMs.toFixed(1)} ms (histogram ${r.histogramMs.toFixed(1)} ms, probe ${r.probeMs.toFixed(1)} ms, GC ${r.gcMs.toFixed(1)} ms)`);
      await nearlyFull(agent, 'b', config.store.compactAfterEntries);
      const c2 = await stallDuring(() => compact(agent, 'b'));
      console.log(`compaction after retention: ${(c2.ms / 1000).toFixed(1)} s, longest loop stall ${c2.stallMs.toFixed(1)} ms (histogram ${c2.histogramMs.toFixed(1)} ms, probe ${c2.probeMs.toFixed(1)} ms, GC ${c2.gcMs.toFixed(1)} ms)`);
      console.log(`state size: snapshot ${mb(gen.bytes)} before retention -> ${mb(snapshotSize(agent, tmp.dir))} after (tombstones of the pruned keys included until reaped), entries ${gen.entries} -> ${agent.store.allEntries().length}`);
      console.log(`rss ${mb(process.memoryUsage().rss)}, heap ${mb(process.memoryUsage().heapUsed)} at the end`);
      console.log(`max_loop_stall_ms=${Math.max(c1.stallMs, c2.stallMs).toFixed(1)}`);
    } finally {
      await agent.close();
    }
  } finally {
    tmp.cleanup();
  }
}

await main();
