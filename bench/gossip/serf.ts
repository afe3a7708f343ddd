/**
 * Serf (Debian package `serf`, upstream 0.9.4 on memberlist ≥ 0.2.2) as a GossipCluster: one `serf agent` per
 * namespace host, profile `lan` (memberlist DefaultLANConfig: probe 1 s, probe timeout 500 ms, 3 indirect probes,
 * gossip to 3 nodes every 200 ms, suspicion multiplier 4, Lifeguard awareness up to 8×), encrypted with the
 * cluster key (AES-GCM) given in a 0600 config file, never in argv.
 *
 * Times come from the agents' INFO log lines, stamped by the harness when the line arrives on the agent's stdout:
 * `serf: EventMemberFailed` (written when memberlist declares the node dead, before the agent's 1-3 s event
 * coalescing), `memberlist: Suspect X has failed` (written by the prober that starts a suspicion) and
 * `agent: Received event: user-event: X` (events are sent with -coalesce=false, so no coalescing delay).
 * A user-event handler script also appends `<name> <epoch ns>` per node, as a check that handlers really ran.
 * An agent counts as up when it prints `==> Serf agent running!` (its RPC listener is bound; joining follows).
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type FalsePositives, type GossipCluster, type JoinTimes, type NodeSpec, type ObservationKind, type StartOptions } from './cluster.js';
import type { NetnsLab } from './netns.js';
import { ProcessCluster } from './procset.js';
import { nowMs, sleep } from './proc.js';

const PORT = 7946;
const RPC = '127.0.0.1:7373'; // inside each namespace: its own loopback
const LINES: Array<[RegExp, ObservationKind]> = [
  [/serf: EventMemberJoin: (\S+)/, 'alive'],
  [/serf: EventMemberFailed: (\S+)/, 'failed'],
  [/serf: EventMemberLeave: (\S+)/, 'left'],
  [/memberlist: Suspect (\S+) has failed/, 'suspect'],
  [/agent: Received event: user-event: (\S+)/, 'event'],
];
/** Printed once the agent's RPC listener is bound, just before it starts joining: the agent is up. */
const UP_LINE = '==> Serf agent running!';
const HANDLER = `#!/bin/sh
# serf user-event handler written by pleaco's gossip bench: append "<event name> <epoch ns>" to the file in $1
printf '%s %s\\n' "$SERF_USER_EVENT" "$(date +%s%N)" >> "$1"
cat > /dev/null
`;

/** One member as `serf members -format=json` prints it. */
export interface SerfMember {
  name: string;
  addr: string;
  status: string;
}

/** See the file comment. Node i runs on nodes[i].host with node name nodes[i].name. */
export class SerfCluster extends ProcessCluster implements GossipCluster {
  readonly label = 'serf';
  private readonly tails: string[][] = [];
  private lab: NetnsLab | undefined;
  private dir = '';
  /** Removes the config files (they hold the key) even when the process exits without stop(), e.g. on SIGINT. */
  private readonly removeDir = (): void => {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  };

  async start(nodes: NodeSpec[], opts: StartOptions): Promise<JoinTimes> {
    if (opts.key.length !== 32) throw new Error('serf: the cluster key must be 32 bytes');
    this.nodes = nodes;
    this.lab = opts.lab;
    this.dir = mkdtempSync(join(opts.workDir, 'serf-'));
    chmodSync(this.dir, 0o700);
    process.on('exit', this.removeDir);
    const handler = join(this.dir, 'handler.sh');
    writeFileSync(handler, HANDLER, { mode: 0o700 });
    const seed = `${nodes[0]!.host.addr}:${PORT}`;
    nodes.forEach((n, i) => {
      const config = {
        node_name: n.name,
        bind: `${n.host.addr}:${PORT}`,
        rpc_addr: RPC,
        encrypt_key: opts.key.toString('base64'),
        profile: 'lan',
        log_level: 'info',
        event_handlers: [`user=${handler} ${this.eventsFile(i)}`],
        ...(i > 0 ? { retry_join: [seed], retry_interval: '1s', retry_max_attempts: 60 } : {}),
      };
      writeFileSync(this.configFile(i), JSON.stringify(config), { mode: 0o600 });
    });
    this.procs = nodes.map(() => null);
    this.spawnAgent(0);
    const seedUp = await this.log.waitUntil(() => this.log.view(0).has(nodes[0]!.name), Math.min(opts.timeoutMs, 15_000));
    if (!seedUp) throw new Error(`serf: seed agent did not start: ${this.tail(0)}`);
    for (let i = 1; i < nodes.length; i++) this.spawnAgent(i);
    if (!(await this.waitConverged([], opts.timeoutMs))) {
      const short = nodes.map((_, i) => i).filter((i) => this.log.view(i).size < nodes.length);
      throw new Error(`serf: ${short.length} agents did not see all ${nodes.length} members within ${opts.timeoutMs} ms (e.g. node ${short[0]}: ${this.tail(short[0]!)})`);
    }
    return this.joinTimes(nowMs());
  }

  private configFile(i: number): string {
    return join(this.dir, `node-${i}.json`);
  }

  private eventsFile(i: number): string {
    return join(this.dir, `node-${i}.events`);
  }

  private spawnAgent(i: number): void {
    const child = this.lab!.spawn(this.nodes[i]!.host, ['serf', 'agent', `-config-file=${this.configFile(i)}`]);
    this.procs[i] = child;
    this.tails[i] = [];
    const lineReader = (): ((d: Buffer) => void) => {
      let rest = '';
      return (d) => {
        const at = nowMs(); // stamped on arrival: one stamp for all lines of a chunk
        const lines = (rest + d.toString()).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) this.onLine(i, at, line);
      };
    };
    child.stdout!.on('data', lineReader());
    child.stderr!.on('data', lineReader());
  }

  private onLine(node: number, at: number, line: string): void {
    const tail = this.tails[node]!;
    tail.push(line.trim());
    if (tail.length > 5) tail.shift();
    if (line.includes(UP_LINE)) this.markUp(node, at);
    for (const [re, kind] of LINES) {
      const m = re.exec(line);
      if (m) this.log.add({ at, node, kind, subject: m[1]! });
    }
  }

  private tail(i: number): string {
    return (this.tails[i] ?? []).join(' | ') || 'no output';
  }

  async sendEvent(from: number, name: string): Promise<number> {
    const t = nowMs();
    const r = await this.lab!.exec(this.nodes[from]!.host, ['serf', 'event', `-rpc-addr=${RPC}`, '-coalesce=false', name], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`serf event failed: ${r.stderr.trim() || r.stdout.trim()}`);
    return this.originAccepted(from, name, t);
  }

  /**
   * Per node, the time its event handler script recorded event `name` (its own `date +%s%N`, so polling the files
   * adds no bias); waits up to `timeoutMs` for every live node's handler, null where it did not run.
   */
  async handlerSeenAt(name: string, timeoutMs: number): Promise<Array<number | null>> {
    const read = (): Array<number | null> =>
      this.nodes.map((_, i) => {
        let text = '';
        try {
          text = readFileSync(this.eventsFile(i), 'utf8');
        } catch {
          return null;
        }
        const line = text.split('\n').find((l) => l.split(' ')[0] === name);
        return line ? Number(line.split(' ')[1]) / 1e6 : null;
      });
    const deadline = Date.now() + timeoutMs;
    let seen = read();
    while (this.live().some((i) => seen[i] === null) && Date.now() < deadline) {
      await sleep(50);
      seen = read();
    }
    return seen;
  }

  /** `serf members` as node `i` reports it over its RPC port. */
  async members(i: number): Promise<SerfMember[]> {
    const r = await this.lab!.exec(this.nodes[i]!.host, ['serf', 'members', `-rpc-addr=${RPC}`, '-format=json'], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`serf members failed: ${r.stderr.trim()}`);
    return (JSON.parse(r.stdout) as { members: SerfMember[] }).members;
  }

  /** Pids of the agents still running. */
  pids(): number[] {
    return this.procs.filter((p): p is ChildProcess => !!p && p.exitCode === null && p.signalCode === null).map((p) => p.pid!);
  }

  /** The 0700 directory holding the agents' 0600 config files, handler script and handler output. */
  configDir(): string {
    return this.dir;
  }

  async falsePositives(since: number, dead: number[]): Promise<FalsePositives> {
    return this.falseMarks(since, dead);
  }

  async stop(): Promise<void> {
    const running = this.procs.filter((p): p is ChildProcess => !!p && p.exitCode === null && p.signalCode === null);
    const exited = Promise.all(running.map((p) => new Promise<void>((r) => p.once('exit', () => r()))));
    for (const p of running) p.kill('SIGTERM');
    await Promise.race([exited, sleep(5_000)]);
    for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    this.removeDir();
    process.off('exit', this.removeDir);
  }
}
