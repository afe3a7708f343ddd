/**
 * make fuzz-api: malformed and hostile requests against a RUNNING node (real agent, builder, runner and proxy
 * processes from test/helpers/node.ts), over TCP as a client on the network would send them: broken bodies (invalid
 * JSON, wrong types, huge numbers, deep nesting), headers (bad auth, content types, huge and smuggling-shaped ones),
 * paths (traversal, encoded slashes, very long), methods, oversized and slow bodies, forged and malformed webhooks,
 * internal state writes with bad keys and bad HLC stamps. The node first deploys an app; afterwards it must be healthy,
 * with none of its processes restarted, and still route that app through its proxy.
 *
 * Seeded (FUZZ_SEED, printed; FUZZ_N requests, default 10,000): a run can be repeated. Prints the counts by status
 * and by kind, every distinct 5xx (route, status, what the agent said), and as the last line `fuzz_5xx=N`. A 503
 * from the webhook's deliberate load shedding (more unauthenticated bodies in flight than its budget) is counted on
 * its own line and not in fuzz_5xx: it is the answer the budget exists to give.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { send, type RawReply } from './fuzz/client.js';
import { seededRandom } from '../src/cluster/index.js';
import { burstCase, nextCase, slowCase, type Case, type FuzzTarget, type Route } from './fuzz/gen.js';
import { webApp } from '../test/helpers/apps.js';
import { TestRepo } from '../test/helpers/gitrepo.js';
import { reservedPort } from '../test/helpers/net.js';
import { deploy, startNode, type TestNode } from '../test/helpers/node.js';
import { tempDir } from '../test/helpers/tmp.js';

const N = Number(process.env.FUZZ_N ?? 10_000);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CONCURRENCY = 16;
const SLOW = 4;
/** Unsigned webhook bodies sent at once, slowly: more than the 16 the budget lets in. */
const BURST = 40;
const KEEP = 'fz-web';
const JUNK = 'fz-junk';

interface Finding {
  label: string;
  status: number | string;
  text: string;
  index: number;
  count: number;
}

const counts = new Map<string, number>();
const byKind = new Map<string, Map<string, number>>();
const findings = new Map<string, Finding>();
let shed = 0;

function tally(c: Case, r: RawReply, index: number): void {
  const status = String(r.status);
  counts.set(status, (counts.get(status) ?? 0) + 1);
  const k = byKind.get(c.kind) ?? new Map<string, number>();
  k.set(status, (k.get(status) ?? 0) + 1);
  byKind.set(c.kind, k);
  if (typeof r.status === 'number' && r.status === 503 && c.label.includes('/v1/hooks/github') && r.text.includes('too many unauthenticated request bodies')) {
    shed++;
    return;
  }
  const bad = (typeof r.status === 'number' && r.status >= 500) || r.status === 'timeout';
  if (!bad) return;
  const key = `${status} ${c.label}`;
  const f = findings.get(key);
  if (f) f.count++;
  else findings.set(key, { label: c.label, status: r.status, text: r.text.replace(/\r\n/g, ' | ').slice(0, 400), index, count: 1 });
}

/** Routed through the node's proxy by Host, on a fresh connection. */
async function routed(node: TestNode): Promise<{ status: number | string; body: string }> {
  const r = await send(node.proxyPort, { head: `GET / HTTP/1.1\r\nHost: ${KEEP}.localhost\r\nConnection: close\r\n\r\n` }, 5000);
  return { status: r.status, body: r.text };
}

async function setup(node: TestNode, repo: TestRepo): Promise<FuzzTarget> {
  const created = await node.client.request<{ app: { webhook: { secret: string } } }>('POST', '/v1/apps', { body: { name: KEEP, repo: `file://${repo.bare}` } });
  const out = await deploy(node.client, KEEP);
  if (!out.ok) throw new Error(`the app to keep could not be deployed: ${JSON.stringify(out.error)}\n${out.log.join('\n')}`);
  const junk = await node.client.request<{ app: { webhook: { secret: string } } }>('POST', '/v1/apps', { body: { name: JUNK, repo: 'file:///nonexistent/fz-junk.git' } });
  const doc = await node.client.request<{ paths: Record<string, Record<string, unknown>> }>('GET', '/v1/openapi.json');
  const routes: Route[] = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase(), path })));
  const release = await node.client.request<{ app: { currentRelease: { commit: string } | null } }>('GET', `/v1/apps/${KEEP}`);
  return {
    token: readFileSync(join(node.stateDir, 'token'), 'utf8').trim(),
    nodeId: readFileSync(join(node.stateDir, 'node-id'), 'utf8').trim(),
    routes,
    keep: KEEP,
    keepSecret: created.app.webhook.secret,
    junk: { name: JUNK, secret: junk.app.webhook.secret },
    commits: [release.app.currentRelease?.commit ?? 'a'.repeat(40), 'c'.repeat(40)],
  };
}

async function run(port: number, t: FuzzTarget): Promise<void> {
  const r = seededRandom(SEED);
  const slowRng = seededRandom(SEED ^ 0x5eed);
  const slow = [...Array.from({ length: SLOW }, (_, i) => slowCase(slowRng, t, i)), ...Array.from({ length: BURST }, (_, i) => burstCase(slowRng, i))].map(async (c) => tally(c, await send(port, c.req, c.timeoutMs), -1));
  let next = 0;
  let done = 0;
  const started = Date.now();
  const worker = async (): Promise<void> => {
    while (next < N) {
      const index = next++;
      const c = nextCase(r, t);
      tally(c, await send(port, c.req, c.timeoutMs), index);
      if (++done % 2000 === 0) console.log(`  ${done} requests, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  };
  await Promise.all([...Array.from({ length: CONCURRENCY }, worker), ...slow]);
}

function table(m: Map<string, number>): string {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}:${v}`).join('  ');
}

async function main(): Promise<void> {
  console.log(`seed=${SEED} (repeat with FUZZ_SEED=${SEED}), ${N} requests, ${CONCURRENCY} at once, ${SLOW} slow bodies, a burst of ${BURST} webhook bodies`);
  const tmp = tempDir('pleaco-fuzz-');
  const apiPort = await reservedPort();
  const node = await startNode({ PLEACO_API_PORT: String(apiPort), PLEACO_API_HOST: '127.0.0.1' });
  let failed = false;
  try {
    const repo = new TestRepo(tmp.dir, 'web');
    repo.commit(webApp('fuzz keeps me'), 'v1');
    const t = await setup(node, repo);
    const before = await routed(node);
    console.log(`before: ${KEEP} through the proxy → ${before.status}`);
    const t0 = Date.now();
    await run(apiPort, t);
    console.log(`fuzzed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    console.log(`by status: ${table(counts)}`);
    for (const [kind, m] of [...byKind.entries()].sort()) console.log(`  ${kind.padEnd(9)} ${table(m)}`);
    console.log(`load shed by the webhook body budget (503 + Retry-After, not failures): ${shed}`);
    const health = await send(apiPort, { head: 'GET /v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' });
    const after = await routed(node);
    const restarts = node.lines.filter((l) => / exited \(/.test(l));
    console.log(`after: health → ${health.status}; ${KEEP} through the proxy → ${after.status} ${/fuzz keeps me/.test(after.body) ? '(its page)' : '(NOT its page)'}; process restarts: ${restarts.length}`);
    for (const l of restarts) console.log(`  ${l.slice(0, 300)}`);
    failed = health.status !== 200 || after.status !== 200 || !/fuzz keeps me/.test(after.body) || restarts.length > 0;
    for (const f of [...findings.values()].sort((a, b) => b.count - a.count)) {
      console.log(`5xx finding: ${f.status} ${f.label} ×${f.count} (first at #${f.index}): ${f.text}`);
    }
    // What the agent logged for its 5xx answers (the client sees only "internal error"), distinct messages.
    const causes = new Map<string, number>();
    for (const l of node.lines) {
      const m = /"msg":"request failed".*?"path":"([^"]{0,60})[^"]*".*?"message":"([^"]{0,160})/.exec(l);
      if (m) causes.set(`${m[1]}: ${m[2]}`, (causes.get(`${m[1]}: ${m[2]}`) ?? 0) + 1);
    }
    for (const [cause, n] of [...causes.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  agent log ×${n}: ${cause}`);
  } finally {
    await node.destroy();
    tmp.cleanup();
  }
  const fivexx = [...findings.values()].filter((f) => typeof f.status === 'number').reduce((n, f) => n + f.count, 0);
  if (failed) console.log('the node was not healthy or did not route its app after the run');
  console.log(`fuzz_5xx=${fivexx}`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
