/**
 * A whole pleaco node as real processes (agent, builder, runner, proxy: the systemd units' entry points)
 * with its own temp state dir, its API and cluster ports bound at 0 (the test talks to it over its unix socket)
 * and a reserved proxy port (HAProxy is told its port; domain `localhost`). Used by the
 * end-to-end tests and benchmarks.
 *
 * Names under `.localhost` are loopback (RFC 6761; browsers and systemd-resolved answer them), but this
 * machine's resolver does not know them: the test process resolves them to loopback itself, so a routed URL
 * like `http://web.localhost:<port>` can be fetched as users would.
 */
import { execFileSync } from 'node:child_process';
import dns from 'node:dns';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentClient } from '../../src/link/client.js';
import { loadConfig } from '../../src/config/index.js';
import { connectToAgent } from '../../src/main/node.js';
import { Supervisor } from '../../src/main/supervisor.js';
import { reservedPort } from './net.js';
import { assertNoProcessesIn } from './procs.js';
import { tempDir } from './tmp.js';

const MAIN = fileURLToPath(new URL('../../src/main/', import.meta.url));

const lookup = dns.lookup;
(dns as { lookup: unknown }).lookup = function (this: unknown, host: unknown, ...rest: unknown[]) {
  const h = typeof host === 'string' && host.toLowerCase().endsWith('.localhost') ? 'localhost' : host;
  return (lookup as (...a: unknown[]) => unknown).call(this, h, ...rest);
};

export interface TestNode {
  client: AgentClient;
  stateDir: string;
  /** Where the node's pleaco-proxy listens (127.0.0.1); apps answer as `<app>.localhost`. */
  proxyPort: number;
  lines: string[];
  /** Signals one of the node's processes; the supervisor restarts it like systemd would. */
  kill(proc: 'agent' | 'builder' | 'runner' | 'proxy', sig: NodeJS.Signals): boolean;
  /** Stops the node's processes; throws (after killing them) when any process of its state dir outlives them. */
  stop(): Promise<void>;
  /** Removes containers and images the node made (by its labels) and the state dir. */
  destroy(): Promise<void>;
}

export async function startNode(env: Record<string, string> = {}): Promise<TestNode> {
  const tmp = tempDir('pleaco-node-');
  const proxyPort = await reservedPort();
  const fullEnv = {
    ...process.env, PLEACO_STATE_DIR: tmp.dir, PLEACO_API_PORT: '0', PLEACO_ALLOW_LOCAL_REPOS: 'true', PLEACO_POLL_INTERVAL: '0', PLEACO_CONFIG: '',
    PLEACO_PROXY_PORT: String(proxyPort), PLEACO_PROXY_BIND: '127.0.0.1', PLEACO_DOMAIN: 'localhost', PLEACO_CLUSTER_PORT: '0', PLEACO_INIT: '1', PLEACO_CLUSTER_FILE: '', PLEACO_MIN_FREE_DISK: '512m', ...env,
  };
  const config = loadConfig(fullEnv);
  const lines: string[] = [];
  const sup = new Supervisor({ logDir: join(tmp.dir, 'logs'), env: fullEnv, onLine: (proc, line) => lines.push(`${proc} ${line}`) });
  sup.start({ name: 'agent', script: join(MAIN, 'agent.js') });
  const client = await connectToAgent(config);
  sup.start({ name: 'builder', script: join(MAIN, 'builder.js') });
  sup.start({ name: 'runner', script: join(MAIN, 'runner.js') });
  sup.start({ name: 'proxy', script: join(MAIN, 'proxy.js') });
  let stopped = false;
  let leftover: unknown = null;
  // A stopped node leaves no process behind: its HAProxy (run as `haproxy … -f <state dir>/proxy/haproxy.cfg`) included.
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await sup.stop();
    await assertNoProcessesIn(tmp.dir, 'the stopped test node');
  };
  return {
    client, stateDir: tmp.dir, proxyPort: config.proxy.port, lines, stop,
    kill: (proc, sig) => sup.signal(proc, sig),
    destroy: async () => {
      await stop().catch((err: unknown) => void (leftover = err));
      const nodeId = execFileSync('cat', [join(tmp.dir, 'node-id')]).toString().trim();
      const ids = execFileSync('docker', ['ps', '-aq', '--filter', 'label=io.pleaco.managed=true', '--filter', `label=io.pleaco.node=${nodeId}`]).toString().split('\n').filter(Boolean);
      if (ids.length) execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
      tmp.cleanup();
      if (leftover) throw leftover;
    },
  };
}

export interface DeployOutcome {
  ok: boolean;
  release?: number;
  url?: string | null;
  error?: { code: string; message: string };
  /** The failing container's last log lines, on a failed rollout. */
  lastLog?: string;
  log: string[];
  stages: string[];
}

/** Follows a build's event stream to its `done` event. */
export async function followBuild(client: AgentClient, app: string, id: string): Promise<DeployOutcome> {
  const out: DeployOutcome = { ok: false, log: [], stages: [] };
  await client.stream(`/v1/apps/${app}/builds/${id}/events?follow=1`, (raw) => {
    const ev = raw as { type: string; line?: string; build?: { stage: string }; ok?: boolean; release?: number; url?: string | null; error?: { code: string; message: string }; lastLog?: string };
    if (ev.type === 'log') out.log.push(ev.line!);
    if (ev.type === 'build' && out.stages[out.stages.length - 1] !== ev.build!.stage) out.stages.push(ev.build!.stage);
    if (ev.type === 'done') Object.assign(out, { ok: ev.ok, release: ev.release, url: ev.url, error: ev.error, lastLog: ev.lastLog });
  });
  // The reported URL is the routed one once the proxy runs; a new replica joins rotation only after its
  // health checks pass (rise × interval), so give it that long (bounded) before the caller requests it.
  if (out.ok && out.url) await waitForOk(out.url, 30_000);
  return out;
}

async function waitForOk(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(3000) }).then(async (r) => (await r.arrayBuffer(), r.ok), () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function deploy(client: AgentClient, app: string, ref?: string): Promise<DeployOutcome> {
  const { build } = await client.request<{ build: { id: string } }>('POST', `/v1/apps/${app}/deploys`, { body: ref ? { ref } : {} });
  return followBuild(client, app, build.id);
}

/** GETs a URL until its body matches, or fails after the timeout. */
export async function waitForBody(url: () => Promise<string | null>, re: RegExp, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const u = await url();
    if (u) {
      try {
        const res = await fetch(u);
        last = await res.text();
        if (res.ok && re.test(last)) return last;
      } catch (err) {
        last = (err as Error).message;
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${re} (last: ${last.slice(0, 200)})`);
}
