/** Real backends and a small HTTP client for the proxy suites (everything on 127.0.0.1). */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { HAProxyProcess, ProxyController, type ProxyApp, type ProxyControllerOptions, type ProxyModel } from '../../src/proxy/index.js';
import { setLogSink } from '../../src/log.js';
import { reservedPort } from '../helpers/net.js';
import { assertNoProcessesIn } from '../helpers/procs.js';
import { tempDir } from '../helpers/tmp.js';

export interface Backend {
  name: string;
  port: number;
  healthy: boolean;
  /** Requests served (not counting /health). */
  hits: number;
  close(): Promise<void>;
}

/** Answers its own name; `/health` answers 200 or 500 (flip `healthy`); `/slow?ms=N` answers after N ms. */
export async function startBackend(name: string): Promise<Backend> {
  const b: Backend = { name, port: 0, healthy: true, hits: 0, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/health') {
      res.statusCode = b.healthy ? 200 : 500;
      res.end(b.healthy ? 'ok' : 'sick');
      return;
    }
    b.hits++;
    const ms = url.pathname === '/slow' ? Number(url.searchParams.get('ms') ?? 1000) : 0;
    setTimeout(() => res.end(name), ms);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  b.port = (server.address() as AddressInfo).port;
  b.close = () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); });
  return b;
}

export { reservedPort };

export interface Reply {
  status: number;
  body: string;
}

/** One request on a fresh connection, with a bounded timeout (a hang is a failure, not a wait). */
export function get(port: number, host: string, path = '/', timeoutMs = 3000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host }, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`request timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export async function waitFor(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 10_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await Promise.resolve(fn()).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function app(name: string, backends: Backend[], extra: Partial<ProxyApp> = {}): ProxyApp {
  return {
    name,
    hosts: [`${name}.localhost`],
    health: { path: '/health', intervalMs: 200, rise: 2, fall: 2 },
    servers: backends.map((b) => ({ id: `c-${b.name}`, addr: '127.0.0.1', port: b.port, state: 'ready' as const })),
    ...extra,
  };
}

export interface Rig {
  dir: string;
  port: number;
  proc: HAProxyProcess;
  ctl: ProxyController;
  model(apps: ProxyApp[]): ProxyModel;
  logs: string[];
  close(): Promise<void>;
}

/**
 * A controller over a real HAProxy in a temp dir; close() stops it (by its own pid), checks that no process of the dir
 * is left (HAProxy master or worker) and removes the dir.
 */
export async function rig(opts: { drainMs?: number; render?: ProxyControllerOptions['render'] } = {}): Promise<Rig> {
  const tmp = tempDir('pleaco-proxy-');
  const port = await reservedPort();
  const logs: string[] = [];
  const restore = setLogSink((l) => logs.push(l));
  const { proc, ctl } = makeController({ dir: tmp.dir, drainMs: opts.drainMs, render: opts.render });
  let closed = false;
  return {
    dir: tmp.dir,
    port,
    proc,
    ctl,
    logs,
    model: (apps) => ({ port, bindHost: '127.0.0.1', apps }),
    close: async () => {
      if (closed) return;
      closed = true;
      await ctl.close();
      restore();
      try {
        await assertNoProcessesIn(tmp.dir, 'the proxy rig');
      } finally {
        tmp.cleanup();
      }
    },
  };
}

export function makeController(o: { dir: string; drainMs?: number; render?: ProxyControllerOptions['render'] }): { proc: HAProxyProcess; ctl: ProxyController } {
  const statsSocket = join(o.dir, 'stats.sock');
  const proc = new HAProxyProcess({ dir: o.dir, statsSocket, restartMinMs: 100 });
  const ctl = new ProxyController({ proc, paths: { dir: o.dir, statsSocket }, drainMs: o.drainMs, drainPollMs: 100, render: o.render });
  return { proc, ctl };
}
