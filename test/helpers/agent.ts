/**
 * Starts the real agent (createAgent, the wiring pleaco-agent runs: real Store in a temp dir, the services, the
 * Docker adapters, the API on a unix socket and on TCP port 0) inside the test process, with the cluster port off.
 * Builder, runner and proxy are not started here.
 */
import type { AppService, DomainService, ScanService } from '../../src/agent/index.js';
import type { ApiServers } from '../../src/api/index.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { AgentClient } from '../../src/link/index.js';
import { createLogger, setLogSink } from '../../src/log.js';
import { createAgent } from '../../src/main/wire-agent.js';
import type { SoftState, Store } from '../../src/state/index.js';
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
  const config = loadConfig({ PLEACO_STATE_DIR: tmp.dir, PLEACO_API_HOST: '127.0.0.1', PLEACO_API_PORT: '0', PLEACO_CLUSTER_PORT: 'off', PLEACO_ALLOW_LOCAL_REPOS: 'true', PLEACO_CONFIG: '', PLEACO_CLUSTER_FILE: '', PLEACO_MIN_FREE_DISK: '512m', ...env });
  const logLines: string[] = [];
  const restore = setLogSink((l) => logLines.push(l));
  const token = 'test-token-' + Math.random().toString(36).slice(2);
  const agent = await createAgent({ config, nodeId: 'test-node', token, version: '0.0.0-test', log: createLogger({ proc: 'agent-test' }), rolloutTimeoutMs: 5_000 });
  const url = `http://127.0.0.1:${agent.servers.port}`;
  return {
    config, token, url, logLines,
    store: agent.store, apps: agent.apps, domains: agent.domains, scan: agent.scan, softState: agent.softState, servers: agent.servers,
    client: new AgentClient({ socketPath: config.socketPath, token }),
    tcp: new AgentClient({ url, token }),
    close: async () => {
      await agent.close();
      restore();
      tmp.cleanup();
    },
  };
}

/** A raw HTTP request over TCP, for checking status codes and headers exactly as a client sees them. */
export async function raw(url: string, method: string, path: string, opts: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<{ status: number; headers: Headers; json: unknown; text: string }> {
  const res = await fetch(url + path, { method, headers: opts.headers ?? {}, ...(opts.body === undefined ? {} : { body: typeof opts.body === 'string' ? opts.body : new Uint8Array(opts.body) }) });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, json, text };
}
