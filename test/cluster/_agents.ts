/**
 * Real pleaco-agent processes forming a cluster on loopback addresses (127.0.0.x, one per node, the same
 * cluster port on each, like hosts: the first binds port 0 and the others take the port it got), each with its own
 * state dir and its API on port 0 (the tests use its unix socket). The first founds the cluster (its
 * cluster.key is copied to the others before they start, as an operator would). Not a suite.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentClient } from '../../src/link/index.js';
import { loadConfig } from '../../src/config/index.js';
import { connectToAgent } from '../../src/main/node.js';
import { tempDir } from '../helpers/tmp.js';

const AGENT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'main', 'agent.js');

export interface Member {
  id: string;
  state: string;
  incarnation: number;
  address: string;
  version: string | null;
}

export interface AgentProc {
  name: string;
  ip: string;
  env: Record<string, string>;
  client: AgentClient;
  proc: ChildProcess | null;
  lines: string[];
  cluster(): Promise<{ self: string; members: Member[]; sync: { status: string } | null }>;
}

export class AgentCluster {
  readonly nodes: AgentProc[] = [];
  private readonly tmp = tempDir('pleaco-cluster-');
  private port = 0;

  /** Starts `n` agents on 127.0.0.<base+i>; every one after the first joins the first. */
  async start(n: number, base = 2): Promise<void> {
    this.port = 0;
    for (let i = 0; i < n; i++) {
      const ip = `127.0.0.${base + i}`;
      const name = `n${i}`;
      const stateDir = join(this.tmp.dir, name);
      mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      if (i > 0) copyFileSync(join(this.tmp.dir, 'n0', 'cluster.key'), join(stateDir, 'cluster.key'));
      const env: Record<string, string> = {
        PLEACO_STATE_DIR: stateDir, PLEACO_API_PORT: '0', PLEACO_CONFIG: '', PLEACO_ALLOW_LOCAL_REPOS: 'true',
        PLEACO_CLUSTER_PORT: String(this.port), PLEACO_CLUSTER_BIND: ip, PLEACO_JOIN: i === 0 ? '' : `127.0.0.${base}:${this.port}`, PLEACO_INIT: i === 0 ? '1' : '', PLEACO_CLUSTER_FILE: '',
        PLEACO_ANTI_ENTROPY_MS: '2000',
      };
      const node: AgentProc = { name, ip, env, client: null as never, proc: null, lines: [], cluster: () => node.client.request('GET', '/v1/cluster') };
      this.nodes.push(node);
      await this.run(node);
      if (i === 0) {
        // The port the founder got is the cluster's port; a restart of the founder binds it again.
        const c = await node.cluster();
        this.port = Number(c.members.find((m) => m.id === c.self)!.address.split(':').pop());
        node.env.PLEACO_CLUSTER_PORT = String(this.port);
      }
    }
  }

  /** (Re)starts a node's agent process with its state dir and waits for its API. */
  async run(node: AgentProc): Promise<void> {
    const proc = spawn(process.execPath, [AGENT], { env: { ...process.env, ...node.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    node.proc = proc;
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString('utf8');
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      node.lines.push(...parts);
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    node.client = await connectToAgent(loadConfig(node.env), 30_000);
  }

  kill(node: AgentProc, sig: NodeJS.Signals): Promise<void> {
    const p = node.proc;
    node.proc = null;
    if (!p || p.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      p.once('exit', () => resolve());
      p.kill(sig);
    });
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n, 'SIGKILL')));
    this.tmp.cleanup();
  }
}

/** Polls `fn` every 200 ms until it returns a non-null value; throws with `what` after timeoutMs. */
export async function until<T>(what: string, fn: () => Promise<T | null>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== null) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms: ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}
