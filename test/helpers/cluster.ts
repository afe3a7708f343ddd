/**
 * The multi-node harness for tests: N pleaco nodes as separate hosts on this machine (scripts/cluster.sh: one
 * privileged-enough container per node on a bridge of pleaco's own, each with its own address, state dir and Docker
 * Engine). The tests of autoscaling, discovery, image transfer and updates use it as
 *
 *   const cl = await startCluster({ nodes: 3 });
 *   try { await cl.nodes[0].json('/v1/cluster'); await cl.nodes[2].kill(); ... } finally { await cl.stop(); }
 *
 * The discovery tests start it in other shapes (they combine): `discover` (no seeds, all nodes at once), `otherKey`
 * (those nodes have a cluster key of their own and stay out), `apart` (every node cut off from every other until
 * `a.link(b)`; `a.cut(b)` cuts again), `blockMdns` (udp 5353 dropped on every node).
 *
 * Everything goes through the docker CLI and the script with argv arrays. A test cluster is named `pleaco-test`
 * (subnet 10.212.13.0/24, apart from `make cluster`'s; PLEACO_TEST_CLUSTER and PLEACO_TEST_SUBNET change both, e.g.
 * for a second checkout testing on the same machine) and labelled with this process's id: starting one removes what
 * an earlier run left (one SIGKILLed before its cleanup), refuses to touch one whose owner still runs, and `stop()`
 * (also run on exit and on SIGINT/SIGTERM) removes its containers, volumes, network and key.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = `${REPO}scripts/cluster.sh`;
export const TEST_CLUSTER = process.env.PLEACO_TEST_CLUSTER || 'pleaco-test';
export const TEST_SUBNET = process.env.PLEACO_TEST_SUBNET || '10.212.13.0/24';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface MemberView {
  id: string;
  state: 'alive' | 'suspect' | 'dead' | 'left';
  incarnation: number;
  address: string | null;
}

export interface ClusterNode {
  name: string;
  /** 1-based, as in `scripts/cluster.sh kill 2`. */
  index: number;
  ip: string;
  /** The node's pleaco node id (its hostname and a random suffix). */
  id: string;
  apiUrl: string;
  token: string;
  /** fetch() against the node's API with its token (10 s timeout unless `init.signal` says otherwise). */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** GET (or `init`) the path and parse JSON; throws with status and body on a non-2xx answer. */
  json<T = unknown>(path: string, init?: RequestInit): Promise<T>;
  /** This node's membership view (GET /v1/cluster). */
  members(): Promise<MemberView[]>;
  /** Runs argv in the node container (`docker exec`); never throws for a non-zero exit. */
  exec(argv: string[], opts?: { input?: string; timeoutMs?: number }): Promise<ExecResult>;
  /** `docker kill`: the machine is gone, with its Engine and containers. */
  kill(): Promise<void>;
  /** `docker start` and wait until its agent answers again (state and Engine data are kept). */
  start(): Promise<void>;
  /** Drops everything in and out of the node's network interface (iptables inside the node). */
  isolate(): Promise<void>;
  heal(): Promise<void>;
  /** Removes the cut between this node and `other` (both ways; `apart` starts every pair cut). Idempotent. */
  link(other: ClusterNode): Promise<void>;
  /** Drops everything between this node and `other` (iptables in both; the host still reaches both). Idempotent. */
  cut(other: ClusterNode): Promise<void>;
}

export interface Cluster {
  name: string;
  subnet: string;
  image: string;
  nodes: ClusterNode[];
  /** Removes the nodes, their volumes, the network and the key. Idempotent. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  nodes: number;
  name?: string;
  subnet?: string;
  /** PLEACO_* settings for every node (not secrets: they show in `docker inspect`). */
  env?: Record<string, string>;
  /** No join list on any node (PLEACO_JOIN empty: they find each other by mDNS) and all started at the same moment. */
  discover?: boolean;
  /** These nodes (1-based) get a cluster key of their own: startCluster waits until each sees only itself. */
  otherKey?: number[];
  /** Every node starts cut off from every other (not from the host); startCluster waits for readiness only. */
  apart?: boolean;
  /** Every node drops udp port 5353 (mDNS) in and out from before pleaco starts. */
  blockMdns?: boolean;
  /** Bound for `up`, the node image build included (default 15 min). */
  timeoutMs?: number;
}

interface NodeInfo {
  name: string;
  index: number;
  ip: string;
  api: string;
  token: string;
  id: string;
}

/** Why the harness cannot run here, or null. */
export function clusterUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (Docker-in-Docker node containers, mmdebstrap for the node image)';
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 20_000 });
  } catch (err) {
    return `the Docker Engine does not answer: ${(err as Error).message.split('\n')[0]}`;
  }
  return null;
}

/** Runs a command with argv; resolves with its exit code and output (bounded by timeoutMs: then code 124). */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; stderr?: 'pipe' | 'inherit' } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', opts.stderr ?? 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => (clearTimeout(timer), reject(err)));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: timedOut ? 124 : (code ?? 1), stdout, stderr: timedOut ? `${stderr}\n(killed after ${opts.timeoutMs ?? 60_000} ms)` : stderr });
    });
    child.stdin?.end(opts.input ?? '');
  });
}

/** Polls `fn` until it returns a value other than null/undefined; throws after `timeoutMs` naming `what` and the last state. */
export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined>, timeoutMs: number, intervalMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v !== null && v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function scriptEnv(name: string, subnet: string): NodeJS.ProcessEnv {
  return { ...process.env, PLEACO_CLUSTER_NAME: name, PLEACO_CLUSTER_SUBNET: subnet, PLEACO_CLUSTER_OWNER: String(process.pid) };
}

/** Runs scripts/cluster.sh with argv; its progress goes to this process's stderr; throws on failure. */
async function script(env: NodeJS.ProcessEnv, args: string[], timeoutMs: number): Promise<string> {
  const r = await run('bash', [SCRIPT, ...args], { env, timeoutMs, stderr: 'inherit' });
  if (r.code !== 0) throw new Error(`scripts/cluster.sh ${args.join(' ')} failed (exit ${r.code}${r.code === 124 ? `: timed out after ${timeoutMs / 1000} s` : ''}); its messages are above`);
  return r.stdout;
}

function lastJson<T>(stdout: string, what: string): T {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`${what}: expected a JSON line last, got ${JSON.stringify(line.slice(0, 200))}`);
  }
}

function makeNode(info: NodeInfo, env: NodeJS.ProcessEnv): ClusterNode {
  const node: ClusterNode = {
    name: info.name, index: info.index, ip: info.ip, id: info.id, apiUrl: info.api, token: info.token,
    api: (path, init = {}) => {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${node.token}`);
      return fetch(`${node.apiUrl}${path}`, { ...init, headers, signal: init.signal ?? AbortSignal.timeout(10_000) });
    },
    json: async <T>(path: string, init?: RequestInit): Promise<T> => {
      const res = await node.api(path, init);
      const text = await res.text();
      if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${path} on ${node.name}: ${res.status} ${text.slice(0, 300)}`);
      return JSON.parse(text) as T;
    },
    members: async () => (await node.json<{ members: MemberView[] }>('/v1/cluster')).members,
    exec: (argv, opts = {}) => run('docker', ['exec', ...(opts.input !== undefined ? ['-i'] : []), node.name, ...argv], { timeoutMs: opts.timeoutMs ?? 60_000, ...(opts.input !== undefined ? { input: opts.input } : {}) }),
    kill: async () => void (await script(env, ['kill', String(node.index)], 60_000)),
    start: async () => {
      const again = lastJson<NodeInfo>(await script(env, ['start', String(node.index)], 240_000), `start of ${node.name}`);
      node.token = again.token;
      node.id = again.id;
    },
    isolate: async () => void (await script(env, ['isolate', String(node.index)], 60_000)),
    heal: async () => void (await script(env, ['heal', String(node.index)], 60_000)),
    link: async (other) => void (await script(env, ['link', String(node.index), String(other.index)], 60_000)),
    cut: async (other) => void (await script(env, ['cut', String(node.index), String(other.index)], 60_000)),
  };
  return node;
}

/** scripts/cluster.sh up's arguments for `o`. */
export function upArgs(o: ClusterOptions): string[] {
  return [
    'up', String(o.nodes),
    ...Object.entries(o.env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
    ...(o.discover ? ['--discover'] : []),
    ...(o.otherKey ?? []).flatMap((i) => ['--other-key', String(i)]),
    ...(o.apart ? ['--apart'] : []),
    ...(o.blockMdns ? ['--block-mdns'] : []),
  ];
}

/**
 * Starts a cluster of `nodes` nodes (building the node image first when it is missing or stale) and waits until
 * every node sees every other alive (with `otherKey`: the others see each other, those see only themselves; with
 * `apart`, or `discover` and `blockMdns`: until each node is ready). Throws (after removing what it made) when that
 * fails within the bound.
 */
export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const name = o.name ?? TEST_CLUSTER;
  const env = scriptEnv(name, o.subnet ?? TEST_SUBNET);
  const down = (): void => {
    try {
      execFileSync('bash', [SCRIPT, 'down'], { env, stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 });
    } catch {
      /* reported by the script on stderr; the next start removes what is left */
    }
  };
  const onExit = (): void => down();
  const onSignal = (sig: NodeJS.Signals): void => {
    down();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('exit', onExit);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const detach = (): void => {
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  const args = upArgs(o);
  let info: { cluster: string; subnet: string; image: string; nodes: NodeInfo[] };
  try {
    info = lastJson(await script(env, args, o.timeoutMs ?? 15 * 60_000), 'scripts/cluster.sh up');
  } catch (err) {
    down();
    detach();
    throw err;
  }
  let stopped = false;
  return {
    name: info.cluster, subnet: info.subnet, image: info.image,
    nodes: info.nodes.map((n) => makeNode(n, env)),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      detach();
      await script(env, ['down'], 120_000);
    },
  };
}

/** Docker resources (containers, volumes, networks) labelled as part of cluster `name`, as "kind name" lines. */
export async function clusterResources(name = TEST_CLUSTER): Promise<string[]> {
  const filter = `label=io.pleaco.cluster=${name}`;
  const out: string[] = [];
  for (const [kind, args] of [['container', ['ps', '-a', '--filter', filter, '--format', '{{.Names}}']], ['volume', ['volume', 'ls', '--filter', filter, '--format', '{{.Name}}']], ['network', ['network', 'ls', '--filter', filter, '--format', '{{.Name}}']]] as const) {
    const r = await new Promise<string>((resolve, reject) => execFile('docker', [...args], (err, stdout) => (err ? reject(err) : resolve(stdout))));
    out.push(...r.split('\n').filter(Boolean).map((n) => `${kind} ${n}`));
  }
  return out;
}
