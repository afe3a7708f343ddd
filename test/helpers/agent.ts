/**
 * Starts the real agent API (Koa on a unix socket and a TCP port 0, real Store in a temp dir,
 * real Docker Engine client) inside the test process. Builder and runner are not started here.
 */
import { join } from 'node:path';
import { AgentClient, createApi, serveApi, type ApiServers } from '../../src/api/index.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { AppService, BuildLogs, DomainService, ScanService } from '../../src/core/index.js';
import { createLogger, setLogSink } from '../../src/log.js';
import { connectEngine } from '../../src/runtime/engine.js';
import { SoftState, Store } from '../../src/state/index.js';
import { tempDir } from './tmp.js';

export interface TestAgent {
  config: Config;
  store: Store;
  apps: AppService;
  domains: DomainService;
  scan: ScanService;
  /** The agent's soft state (memory only, TTL). */
  softState: SoftState;
  client: AgentClient;
  /** The same API over TCP. */
  tcp: AgentClient;
  url: string;
  token: string;
  logLines: string[];
  servers: ApiServers;
  close(): Promise<void>;
}

export async function startTestAgent(env: Record<string, string> = {}): Promise<TestAgent> {
  const tmp = tempDir('pleaco-agent-');
  const config = loadConfig({ PLEACO_STATE_DIR: tmp.dir, PLEACO_API_PORT: '0', PLEACO_ALLOW_LOCAL_REPOS: 'true', PLEACO_CONFIG: '', ...env });
  const logLines: string[] = [];
  const restore = setLogSink((l) => logLines.push(l));
  const store = Store.open({ dir: join(config.stateDir, 'state'), nodeId: 'test-node', tombstoneTtlMs: config.store.tombstoneTtlMs, compactAfterEntries: config.store.compactAfterEntries });
  const apps = new AppService({ store, allowLocalRepos: config.source.allowLocal });
  const domains = new DomainService({ store, apps, domain: config.proxy.domain });
  const softState = new SoftState();
  const scan = new ScanService({ store, apps });
  const token = 'test-token-' + Math.random().toString(36).slice(2);
  const { app } = createApi({
    config, nodeId: 'test-node', version: '0.0.0-test', token, store, apps, domains, scan, softState,
    buildLogs: new BuildLogs(join(config.stateDir, 'builds')),
    engine: connectEngine(config.docker.socketPath),
    appLogs: async () => undefined,
    log: createLogger({ proc: 'agent-test' }),
    rolloutTimeoutMs: 5_000,
  });
  const servers = await serveApi(app, { host: '127.0.0.1', port: 0, socketPath: config.socketPath });
  const url = `http://127.0.0.1:${servers.port}`;
  return {
    config, store, apps, domains, scan, softState, token, url, logLines, servers,
    client: new AgentClient({ socketPath: config.socketPath, token }),
    tcp: new AgentClient({ url, token }),
    close: async () => {
      await servers.close();
      store.close();
      restore();
      tmp.cleanup();
    },
  };
}

/** A raw HTTP request over TCP, for checking status codes and headers exactly as a client sees them. */
export async function raw(url: string, method: string, path: string, opts: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<{ status: number; headers: Headers; json: unknown; text: string }> {
  const res = await fetch(url + path, { method, headers: opts.headers ?? {}, ...(opts.body === undefined ? {} : { body: typeof opts.body === "string" ? opts.body : new Uint8Array(opts.body) }) });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, json, text };
}
