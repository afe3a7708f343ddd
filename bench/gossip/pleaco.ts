/**
 * pleaco's own agent (`node dist/src/main/agent.js`) as a GossipCluster: one real agent per namespace host, its
 * cluster member on <host>:7946 (UDP + TCP, sealed with the cluster key), memberlist LAN timing (the agent's
 * defaults, as Serf's profile lan). Node 0 founds the cluster; the others join it (PLEACO_JOIN). The key lives
 * only in each node's `cluster.key` (0600, in a 0700 dir), never in argv or the environment; each node id is
 * pre-written to `<stateDir>/node-id` as its NodeSpec name, so log lines name members like Serf's do.
 *
 * Membership times come from the agents' JSON log lines on stdout, stamped by the harness when they arrive
 * (as serf.ts does): 'cluster member failed' / 'suspect' / 'alive' / 'joined' / 'left', field `member`.
 * Note: pleaco logs 'suspect' on every node that enters the suspect state (also by gossip), memberlist only
 * on the prober whose probe failed, so pleaco's suspect count is the larger kind of count. An agent counts as up
 * at its 'agent ready' line (its API listens; its cluster member started just before and is joining).
 *
 * An "event" is a real replicated state write: `POST /v1/internal/state` of `<prefix><name>` on the origin
 * (acknowledged once durable), delivered on each node when its watch stream (`GET /v1/internal/watch`, ndjson
 * over the agent's unix socket with its bearer token) reports the entry: streaming, so no polling bias. The
 * streams are opened (and synced) when `start` resolves, before any event is sent.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pathOf, ROUTES, type AgentClient } from '../../src/link/index.js';
import { loadConfig } from '../../src/config/index.js';
import { connectToAgent } from '../../src/main/node.js';
import type { Entry } from '../../src/state/index.js';
import { type FalsePositives, type GossipCluster, type JoinTimes, type NodeSpec, type ObservationKind, type StartOptions } from './cluster.js';
import type { NetnsLab } from './netns.js';
import { mapLimit, nowMs, sleep } from './proc.js';
import { ProcessCluster } from './procset.js';

const PORT = 7946;
const AGENT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'main', 'agent.js');
const MSGS: Record<string, ObservationKind> = {
  'cluster member joined': 'alive', 'cluster member alive': 'alive', 'cluster member failed': 'failed', 'cluster member left': 'left', 'cluster member suspect': 'suspect',
};

export interface PleacoClusterOptions {
  /** PLEACO_ANTI_ENTROPY_MS for every agent; default: the agent's own (30 s). */
  antiEntropyMs?: number;
  /** State key prefix events are written under and the watch streams follow. Default `bench/`. */
  prefix?: string;
  /** Where to say extra figures (suspicion episodes under loss); default: not said. */
  progress?: (line: string) => void;
}

/** A state entry as a node's watch stream last reported it, with the harness time it arrived. */
export type SeenEntry = Entry & { at: number };

/** One member as `GET /v1/cluster` reports it. */
export interface ClusterMember {
  id: string;
  state: string;
  incarnation: number;
  address: string;
}

/** See the file comment. Node i runs on nodes[i].host with node id nodes[i].name. */
export class PleacoCluster extends ProcessCluster implements GossipCluster {
  readonly label = 'pleaco';
  readonly prefix: string;
  private clients: AgentClient[] = [];
  private readonly views: Array<Map<string, SeenEntry>> = [];
  private readonly watches: AbortController[] = [];
  private readonly tails: string[][] = [];
  /** Suspicions as (time, `member@incarnation`): one episode is logged by every node that enters it. */
  private readonly episodes: Array<{ at: number; member: string; id: string }> = [];
  private lab: NetnsLab | undefined;
  private dir = '';
  /** Removes the state dirs (they hold the key and tokens) even when the process exits without stop(). */
  private readonly removeDir = (): void => {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  };

  constructor(private readonly o: PleacoClusterOptions = {}) {
    super();
    this.prefix = o.prefix ?? 'bench/';
  }

  async start(nodes: NodeSpec[], opts: StartOptions): Promise<JoinTimes> {
    if (opts.key.length !== 32) throw new Error('pleaco: the cluster key must be 32 bytes');
    this.nodes = nodes;
    this.lab = opts.lab;
    this.dir = mkdtempSync(join(opts.workDir, 'pleaco-'));
    chmodSync(this.dir, 0o700);
    process.on('exit', this.removeDir);
    nodes.forEach((n, i) => {
      mkdirSync(this.stateDir(i), { mode: 0o700 });
      writeFileSync(join(this.stateDir(i), 'node-id'), `${n.name}\n`, { mode: 0o644 });
    });
    // The founder's key file; joiners get a copy before they start, as an operator would do.
    writeFileSync(join(this.stateDir(0), 'cluster.key'), opts.key.toString('base64') + '\n', { mode: 0o600 });
    for (let i = 1; i < nodes.length; i++) {
      const to = join(this.stateDir(i), 'cluster.key');
      copyFileSync(join(this.stateDir(0), 'cluster.key'), to);
      chmodSync(to, 0o600);
    }
    this.procs = nodes.map(() => null);
    const bound = Math.min(opts.timeoutMs, 30_000);
    await this.spawnAgent(0, bound);
    // A few at a time: 50 Node.js processes loading at once on 2 cores would starve the running members.
    await mapLimit(nodes.slice(1), 8, (_, k) => this.spawnAgent(k + 1, bound));
    if (!(await this.waitConverged([], opts.timeoutMs))) {
      const short = nodes.map((_, i) => i).filter((i) => this.log.view(i).size < nodes.length);
      throw new Error(`pleaco: ${short.length} agents did not see all ${nodes.length} members within ${opts.timeoutMs} ms (e.g. node ${short[0]}: ${this.tail(short[0]!)})`);
    }
    const convergedAt = nowMs();
    await mapLimit(nodes, 8, (_, i) => this.watch(i));
    return this.joinTimes(convergedAt);
  }

  /** The state dir of node `i` (holds node-id, token, cluster.key, agent.sock, state/). */
  stateDir(i: number): string {
    return join(this.dir, `n${i}`);
  }

  /** The API client of node `i` (its unix socket, its bearer token). */
  client(i: number): AgentClient {
    const c = this.clients[i];
    if (!c) throw new Error(`pleaco: node ${i} has no client`);
    return c;
  }

  /** Entries under the prefix as node `i`'s watch stream reported them so far (latest per key). */
  entries(i: number): ReadonlyMap<string, SeenEntry> {
    return this.views[i] ?? new Map();
  }

  /** Membership as node `i` reports it (`GET /v1/cluster`). */
  async members(i: number): Promise<ClusterMember[]> {
    return (await this.client(i).request<{ members: ClusterMember[] }>('GET', '/v1/cluster')).members;
  }

  private env(i: number): Record<string, string> {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => !k.startsWith('PLEACO_') && v !== undefined)) as Record<string, string>;
    return {
      ...base,
      PLEACO_CONFIG: '',
      PLEACO_STATE_DIR: this.stateDir(i),
      PLEACO_API_PORT: '7070', // on the namespace's own loopback; clients use the unix socket
      PLEACO_CLUSTER_PORT: String(PORT),
      PLEACO_CLUSTER_BIND: this.nodes[i]!.host.addr,
      PLEACO_JOIN: i === 0 ? '' : `${this.nodes[0]!.host.addr}:${PORT}`,
      PLEACO_INIT: i === 0 ? '1' : '',
      PLEACO_CLUSTER_FILE: '',
      PLEACO_MDNS: 'off', // joins by seed only, as the Serf it is compared with
      PLEACO_LOG_LEVEL: 'info',
      ...(this.o.antiEntropyMs ? { PLEACO_ANTI_ENTROPY_MS: String(this.o.antiEntropyMs) } : {}),
    };
  }

  /** Starts node i's agent in its namespace and waits (bounded) until its API answers on the socket. */
  private async spawnAgent(i: number, timeoutMs: number): Promise<void> {
    const env = this.env(i);
    const child = this.lab!.spawn(this.nodes[i]!.host, [process.execPath, AGENT], { env });
    this.procs[i] = child;
    this.tails[i] = [];
    let rest = '';
    const onData = (d: Buffer): void => {
      const at = nowMs(); // stamped on arrival: one stamp for all lines of a chunk
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) this.onLine(i, at, line);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    const exited = new Promise<never>((_, reject) => child.once('exit', (c, s) => reject(new Error(`pleaco: agent ${i} exited (${c ?? s}): ${this.tail(i)}`))));
    exited.catch(() => undefined); // also rejects on a later kill: nobody waits for it then
    this.clients[i] = await Promise.race([connectToAgent(loadConfig(env), timeoutMs), exited]);
    this.markUp(i, nowMs()); // the 'agent ready' line is the sharper stamp (connectToAgent polls every 250 ms)
  }

  private onLine(node: number, at: number, line: string): void {
    const tail = this.tails[node]!;
    tail.push(line.trim().slice(0, 300));
    if (tail.length > 5) tail.shift();
    let rec: { msg?: string; member?: string; incarnation?: number };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      return;
    }
    if (rec.msg === 'cluster member started') this.log.add({ at, node, kind: 'alive', subject: this.nodes[node]!.name });
    if (rec.msg === 'agent ready') this.markUp(node, at);
    const kind = rec.msg ? MSGS[rec.msg] : undefined;
    if (kind && typeof rec.member === 'string') this.log.add({ at, node, kind, subject: rec.member });
    if (kind === 'suspect' && rec.member) this.episodes.push({ at, member: rec.member, id: `${rec.member}@${rec.incarnation}` });
  }

  /** Opens node i's watch stream under the prefix; resolves once its snapshot is through (bounded). */
  private async watch(i: number): Promise<void> {
    const view = new Map<string, SeenEntry>();
    this.views[i] = view;
    const ac = new AbortController();
    this.watches[i] = ac;
    let synced: () => void = () => undefined;
    const ready = new Promise<void>((r) => (synced = r));
    const done = this.client(i).stream(pathOf(ROUTES.watch, {}, { prefix: this.prefix }), (ev) => {
      const at = nowMs();
      const e = ev as { type: string; entry?: Entry };
      if (e.type === 'synced') synced();
      if (e.type !== 'entry' || !e.entry) return;
      view.set(e.entry.key, { ...e.entry, at });
      // Every arrival is recorded (and wakes waiters); the first one per key is the delivery time of that event.
      this.log.add({ at, node: i, kind: 'event', subject: e.entry.key.slice(this.prefix.length) });
    }, { signal: ac.signal });
    done.catch(() => undefined); // ends when the agent is killed or the stream is aborted
    const ok = await Promise.race([ready.then(() => true), done.then(() => false, () => false), sleep(15_000).then(() => false)]);
    if (!ok) throw new Error(`pleaco: the watch stream of node ${i} did not sync: ${this.tail(i)}`);
  }

  private tail(i: number): string {
    return (this.tails[i] ?? []).join(' | ') || 'no output';
  }

  async sendEvent(from: number, name: string): Promise<number> {
    const t = nowMs();
    await this.client(from).request(ROUTES.state.method, pathOf(ROUTES.state), { body: { ops: [{ key: this.prefix + name, value: { from, sentAt: t } }] } });
    return this.originAccepted(from, name, t);
  }

  /** Pids of the agents still running. */
  pids(): number[] {
    return this.running().map((p) => p.pid!);
  }

  private running(): ChildProcess[] {
    return this.procs.filter((p): p is ChildProcess => !!p && p.exitCode === null && p.signalCode === null);
  }

  /** The 0700 directory holding every node's state dir (removed by stop). */
  workDir = (): string => this.dir;

  async falsePositives(since: number, dead: number[]): Promise<FalsePositives> {
    const deadNames = new Set(dead.map((i) => this.nodes[i]!.name));
    const fp = this.falseMarks(since, dead);
    const episodes = new Set(this.episodes.filter((e) => e.at >= since && !deadNames.has(e.member)).map((e) => e.id)).size;
    this.o.progress?.(`pleaco: ${fp.suspect} suspect marks = ${episodes} suspicion episodes (distinct member+incarnation; memberlist logs one line per failed probe)`);
    return fp;
  }

  async stop(): Promise<void> {
    for (const w of this.watches) w?.abort();
    const running = this.running();
    const exited = Promise.all(running.map((p) => new Promise<void>((r) => p.once('exit', () => r()))));
    for (const p of running) p.kill('SIGTERM'); // graceful: each agent gossips its leave, then exits
    await Promise.race([exited, sleep(5_000)]);
    for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await Promise.race([exited, sleep(2_000)]);
    this.removeDir();
    process.off('exit', this.removeDir);
  }
}
