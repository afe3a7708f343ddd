/**
 * Real pleaco-agent processes as hosts in network namespaces (bench/gossip/netns.ts: one namespace per host on a
 * bridge of its own, so multicast between them is real and stays there), for discovery: who finds whom, by mDNS or
 * by seeds, and how long it takes from process start to full membership. Every agent has its own state dir; they
 * share one key file (0600), as nodes given the same cluster.yaml would. Used by bench/join.ts (`make bench-join`)
 * and test/discovery/seeds.test.ts.
 */
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { generateKey } from '../../src/cluster/index.js';
import { loadConfig } from '../../src/config/index.js';
import type { AgentClient } from '../../src/link/index.js';
import { connectToAgent } from '../../src/main/node.js';
import { NetnsLab, type Host } from '../gossip/netns.js';
import { tempDir } from '../../test/helpers/tmp.js';

const AGENT = fileURLToPath(new URL('../../src/main/agent.js', import.meta.url));
export const PORT = 7946;

export interface FleetNode {
  index: number;
  host: Host;
  /** When its process was spawned (ms, performance clock of this process). */
  startedAt: number;
  /** When its cluster member started listening (null: not yet). */
  upAt: number | null;
  /** When it first saw every other node of the fleet join (null: not yet). */
  fullAt: number | null;
  members: Set<string>;
  id: string | null;
  proc: ChildProcess | null;
  lines: string[];
}

export interface FleetOptions {
  /** Extra env per node (1-based index), e.g. PLEACO_SEEDS, PLEACO_MDNS. */
  env?: (index: number) => Record<string, string>;
  /** Indexes of nodes with a key of their own (they must stay out). */
  otherKey?: number[];
}

const now = (): number => performance.now();

export class Fleet {
  readonly nodes: FleetNode[];
  private readonly tmp = tempDir('pleaco-fleet-');
  private readonly etcDirs: string[] = [];
  private waiters: (() => void)[] = [];

  private constructor(readonly lab: NetnsLab, private readonly o: FleetOptions) {
    this.nodes = lab.hosts.map((host) => ({ index: host.index, host, startedAt: 0, upAt: null, fullAt: null, members: new Set(), id: null, proc: null, lines: [] }));
    const key = join(this.tmp.dir, 'cluster.key');
    writeFileSync(key, generateKey() + '\n', { mode: 0o600 });
    for (const i of o.otherKey ?? []) writeFileSync(join(this.tmp.dir, `cluster-${i}.key`), generateKey() + '\n', { mode: 0o600 });
  }

  static async create(n: number, o: FleetOptions = {}): Promise<Fleet> {
    return new Fleet(await NetnsLab.create(n), o);
  }

  /** The hosts file the namespace's processes see (`ip netns exec` binds /etc/netns/<ns>/hosts over /etc/hosts). */
  hostsFile(h: Host, lines: string[]): void {
    const dir = join('/etc/netns', h.ns);
    mkdirSync(dir, { recursive: true });
    this.etcDirs.push(dir);
    writeFileSync(join(dir, 'hosts'), ['127.0.0.1 localhost', ...lines].join('\n') + '\n');
  }

  /** Drops mDNS (udp 5353) in and out of the host: multicast blocked. */
  async blockMdns(h: Host): Promise<void> {
    for (const chain of ['INPUT', 'OUTPUT']) await this.lab.iptables(h, ['-I', chain, '1', '-p', 'udp', '--dport', '5353', '-j', 'DROP']);
  }

  /** A client of node i's agent (its unix socket; the state dir is shared with this process). */
  client(i: number, timeoutMs = 30_000): Promise<AgentClient> {
    return connectToAgent(loadConfig(this.env(i)), timeoutMs);
  }

  private env(i: number): Record<string, string> {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => !k.startsWith('PLEACO_') && v !== undefined)) as Record<string, string>;
    const state = join(this.tmp.dir, `node-${i}`);
    mkdirSync(state, { recursive: true, mode: 0o700 });
    chmodSync(state, 0o700);
    const keyFile = (this.o.otherKey ?? []).includes(i) ? join(this.tmp.dir, `cluster-${i}.key`) : join(this.tmp.dir, 'cluster.key');
    return {
      ...base, PLEACO_CONFIG: '', PLEACO_CLUSTER_FILE: '', PLEACO_STATE_DIR: state, PLEACO_API_PORT: '7070',
      PLEACO_CLUSTER_PORT: String(PORT), PLEACO_CLUSTER_BIND: this.nodes[i - 1]!.host.addr, PLEACO_CLUSTER_KEY_FILE: keyFile,
      PLEACO_LOG_LEVEL: 'info', ...(this.o.env?.(i) ?? {}),
    };
  }

  /** Spawns the agents of `indexes` (default all) at once. */
  start(indexes = this.nodes.map((n) => n.index)): void {
    for (const i of indexes) {
      const node = this.nodes[i - 1]!;
      node.startedAt = now();
      node.fullAt = null;
      node.upAt = null;
      node.members.clear();
      const child = this.lab.spawn(node.host, [process.execPath, AGENT], { env: this.env(i) });
      node.proc = child;
      let rest = '';
      const onData = (d: Buffer): void => {
        const at = now();
        const lines = (rest + d.toString()).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) this.onLine(node, at, line);
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
    }
  }

  private onLine(node: FleetNode, at: number, line: string): void {
    node.lines.push(line.slice(0, 400));
    if (node.lines.length > 400) node.lines.shift();
    let rec: { msg?: string; member?: string; node?: string };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      return;
    }
    if (rec.msg === 'cluster member started') {
      node.upAt = at;
      if (rec.node) node.id = rec.node;
    }
    if (!rec.member) return;
    if (rec.msg === 'cluster member joined' || rec.msg === 'cluster member alive') node.members.add(rec.member);
    if (rec.msg === 'cluster member failed' || rec.msg === 'cluster member left') node.members.delete(rec.member);
    this.check(node, at);
  }

  private check(node: FleetNode, at: number): void {
    const want = this.expected(node);
    if (node.fullAt === null && node.members.size >= want) node.fullAt = at;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** How many others node should see: the fleet minus the nodes with another key (they see none). */
  expected(node: FleetNode): number {
    const other = new Set(this.o.otherKey ?? []);
    return other.has(node.index) ? 0 : this.nodes.filter((n) => !other.has(n.index) && n.proc).length - 1;
  }

  /** Resolves when every started node of `indexes` saw the others; rejects after timeoutMs naming the laggards. */
  async waitFull(timeoutMs: number, indexes = this.nodes.filter((n) => n.proc).map((n) => n.index)): Promise<void> {
    const deadline = now() + timeoutMs;
    for (;;) {
      const lagging = indexes.map((i) => this.nodes[i - 1]!).filter((n) => n.fullAt === null);
      if (lagging.length === 0) return;
      if (now() >= deadline) {
        const l = lagging[0]!;
        throw new Error(`nodes ${lagging.map((n) => n.index).join(', ')} did not see the whole fleet within ${timeoutMs / 1000} s (node ${l.index} sees ${[...l.members].join(', ') || 'nobody'}); its last lines: ${l.lines.slice(-8).join(' | ')}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }

  /** Kills the agents (SIGKILL) and removes the namespaces, hosts files and state dirs. */
  async stop(): Promise<void> {
    for (const n of this.nodes) n.proc?.kill('SIGKILL');
    this.lab.cleanup();
    for (const d of this.etcDirs) rmSync(d, { recursive: true, force: true });
    this.tmp.cleanup();
  }
}
