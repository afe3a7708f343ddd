/**
 * Network namespaces as hosts for gossip benchmarks and tests. Host i (1..N) of a lab owned by process P is the
 * namespace `pleaco-bench-P-<i>` with interface `pl0` = 10.231.0.<i>/16 (and loopback up), one end of a veth pair
 * whose other end (`plv<i>`) is a port of the bridge `pl-br0`. The bridge lives in the lab's own namespace
 * `pleaco-bench-P-br`, so the root namespace gets no links, addresses or firewall rules (Docker's FORWARD policy
 * cannot interfere), and labs of concurrent processes (a bench and a test run) neither collide nor clean up each
 * other: each bridge is its own L2 segment, and only namespaces whose owner process is dead count as leftovers.
 *
 * Packet loss and partitions are iptables rules in each host's own filter table (chains PL-LOSS and PL-PART,
 * jumped to from INPUT). Isolation (a host losing its network while its processes run on) is chain PL-ISO,
 * jumped to first from INPUT for packets in on pl0 and from OUTPUT for packets out on pl0: silent DROP both
 * ways, so peers get no TCP RST and no ICMP (the isolated host's own sends fail locally with EPERM).
 * This kernel has no netem qdisc, so there is no delay: model delay in the simulator.
 * Everything is removed by `cleanup()`, on process exit, and on SIGINT/SIGTERM; `cleanupLeftovers()` removes
 * what crashed earlier runs left behind.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mapLimit, mustRun, run, type RunResult } from './proc.js';

export const NS_PREFIX = 'pleaco-bench-';
export const BRIDGE = 'pl-br0';
export const IFACE = 'pl0';
/** The iptables binary used inside the namespaces (`iptables` is the nf_tables backend on Debian 12). */
export const IPTABLES = process.env.PLEACO_IPTABLES ?? 'iptables';
const MAX_HOSTS = 250;
/** IPv4 only: no router solicitations, MLD reports or IPv6 neighbours as background traffic. */
const NO_IPV6 = ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'];
const OURS = new RegExp(`^${NS_PREFIX}(\\d+)-(\\d+|br)$`);

/** Why this machine cannot run a lab (root, `ip netns`, iptables), or null when it can. */
export function labUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, iptables)';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore', timeout: 10_000 });
    execFileSync(IPTABLES, ['--version'], { stdio: 'ignore', timeout: 10_000 });
  } catch (err) {
    return `ip netns or ${IPTABLES} unavailable: ${(err as Error).message}`;
  }
  return null;
}

/** One namespace acting as a host. `index` is 1-based and is also the last octet of `addr`. */
export interface Host {
  index: number;
  ns: string;
  addr: string;
}

/** The fixed, locally administered MAC address of a host's pl0: 02:00:0a:e7:00:<index>. */
function mac(h: Host): string {
  return `02:00:0a:e7:00:${h.index.toString(16).padStart(2, '0')}`;
}

/** Names of the bench namespaces that exist right now, of the lab owned by `owner` (a pid) or of all labs. */
export function benchNamespaces(owner?: number): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 });
  return out
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => {
      const m = OURS.exec(n);
      return m !== null && (owner === undefined || Number(m[1]) === owner);
    });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * SIGKILLs the processes inside the given namespaces (found by `ip netns pids`, so only processes inside them),
 * then deletes the namespaces (bridge and veths go with them). Synchronous, for exit and signal handlers.
 */
function removeNamespaces(names: string[]): void {
  for (const ns of names) {
    let pids: number[] = [];
    try {
      pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 10_000 }).split('\n').filter(Boolean).map(Number);
    } catch {
      /* namespace vanished meanwhile */
    }
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  for (const ns of names) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      /* already gone */
    }
  }
}

/** Removes the labs of owner processes that no longer run (crashed runs). Returns how many namespaces went. */
export function cleanupLeftovers(): number {
  const dead = benchNamespaces().filter((n) => !pidAlive(Number(OURS.exec(n)![1])));
  removeNamespaces(dead);
  return dead.length;
}

/** N hosts on one bridge; see the file comment. Create with `NetnsLab.create`, always end with `cleanup()`. */
export class NetnsLab {
  private readonly children = new Set<ChildProcess>();
  private closed = false;
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.cleanup();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  private readonly onExit = (): void => this.cleanup();

  private constructor(
    readonly hosts: Host[],
    private readonly bridgeNs: string,
  ) {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    process.on('exit', this.onExit);
  }

  /** Removes leftovers of an earlier run, then builds `n` hosts (1 ≤ n ≤ 250) and their firewall chains. */
  static async create(n: number): Promise<NetnsLab> {
    if (!Number.isInteger(n) || n < 1 || n > MAX_HOSTS) throw new Error(`host count must be 1..${MAX_HOSTS}, got ${n}`);
    cleanupLeftovers();
    const prefix = `${NS_PREFIX}${process.pid}-`;
    if (benchNamespaces(process.pid).length) throw new Error(`this process already has a lab (${prefix}*); clean it up first`);
    const hosts = Array.from({ length: n }, (_, k) => ({ index: k + 1, ns: `${prefix}${k + 1}`, addr: `10.231.0.${k + 1}` }));
    const lab = new NetnsLab(hosts, `${prefix}br`);
    try {
      await mustRun(['ip', 'netns', 'add', lab.bridgeNs]);
      await mustRun(['ip', 'netns', 'exec', lab.bridgeNs, 'sysctl', '-q', '-w', ...NO_IPV6]);
      await mustRun(['ip', '-n', lab.bridgeNs, '-batch', '-'], { input: `link add ${BRIDGE} type bridge\nlink set ${BRIDGE} up\nlink set lo up\n` });
      await mapLimit(hosts, 4, (h) => lab.addHost(h));
      await mapLimit(hosts, 4, (h) => lab.addNeighbours(h));
    } catch (err) {
      lab.cleanup();
      throw err;
    }
    return lab;
  }

  private async addHost(h: Host): Promise<void> {
    await mustRun(['ip', 'netns', 'add', h.ns]);
    await mustRun(['ip', 'netns', 'exec', h.ns, 'sysctl', '-q', '-w', ...NO_IPV6]);
    await mustRun(['ip', 'link', 'add', `plv${h.index}`, 'netns', this.bridgeNs, 'type', 'veth', 'peer', 'name', IFACE, 'netns', h.ns]);
    await mustRun(['ip', '-n', this.bridgeNs, 'link', 'set', `plv${h.index}`, 'master', BRIDGE, 'up']);
    const setup = `link set ${IFACE} address ${mac(h)}\naddr add ${h.addr}/16 dev ${IFACE}\nlink set ${IFACE} up\nlink set lo up\n`;
    await mustRun(['ip', '-n', h.ns, '-batch', '-'], { input: setup });
    const rules =
      '*filter\n:PL-ISO - [0:0]\n:PL-PART - [0:0]\n:PL-LOSS - [0:0]\n' +
      `-A INPUT -i ${IFACE} -j PL-ISO\n-A OUTPUT -o ${IFACE} -j PL-ISO\n-A INPUT -j PL-PART\n-A INPUT -j PL-LOSS\nCOMMIT\n`;
    await mustRun(['ip', 'netns', 'exec', h.ns, `${IPTABLES}-restore`, '-w'], { input: rules });
  }

  /**
   * Static (permanent) neighbour entries for every other host. The kernel's ARP table is shared by all network
   * namespaces and refuses new dynamic entries past gc_thresh3 (1024): 50 hosts × 49 peers overflow it, and
   * sends then fail with ENOBUFS. Permanent entries are exempt from that limit, and no ARP runs at all.
   */
  private async addNeighbours(h: Host): Promise<void> {
    const lines = this.hosts.filter((o) => o !== h).map((o) => `neigh replace ${o.addr} lladdr ${mac(o)} dev ${IFACE} nud permanent\n`);
    if (lines.length) await mustRun(['ip', '-n', h.ns, '-batch', '-'], { input: lines.join('') });
  }

  /** The host with 1-based `index`. */
  host(index: number): Host {
    const h = this.hosts[index - 1];
    if (!h) throw new Error(`no host ${index}`);
    return h;
  }

  /** Runs argv inside the host's namespace (`ip netns exec`), bounded by `timeoutMs`. */
  exec(h: Host, argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    return run(['ip', 'netns', 'exec', h.ns, ...argv], opts);
  }

  /**
   * Starts a long-running argv inside the host's namespace. `ip netns exec` execs the command in place, so the
   * child's pid is the command's pid (a SIGKILL reaches it directly). The child is killed on `cleanup()`.
   */
  spawn(h: Host, argv: string[], opts: SpawnOptions = {}): ChildProcess {
    if (this.closed) throw new Error('lab is cleaned up');
    const child = spawn('ip', ['netns', 'exec', h.ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** Runs iptables (filter table) inside the host's namespace; throws if it fails. */
  async iptables(h: Host, args: string[]): Promise<void> {
    await mustRun(['ip', 'netns', 'exec', h.ns, IPTABLES, '-w', ...args]);
  }

  /** Drops each packet arriving on pl0 with probability `p` (iptables statistic match) on the given hosts. */
  async setLoss(hosts: Host[], p: number): Promise<void> {
    if (!(p > 0 && p < 1)) throw new Error(`loss probability must be in (0,1), got ${p}`);
    await mapLimit(hosts, 4, (h) =>
      this.iptables(h, ['-A', 'PL-LOSS', '-i', IFACE, '-m', 'statistic', '--mode', 'random', '--probability', String(p), '-j', 'DROP']),
    );
  }

  /** Removes all loss rules. */
  async clearLoss(hosts: Host[] = this.hosts): Promise<void> {
    await mapLimit(hosts, 4, (h) => this.iptables(h, ['-F', 'PL-LOSS']));
  }

  /**
   * Cuts the host off: every packet in or out on its pl0 is dropped (chain PL-ISO), while its processes keep
   * running, as when a host loses its network. Undo with `clearIsolation`.
   */
  async isolate(h: Host): Promise<void> {
    await this.iptables(h, ['-A', 'PL-ISO', '-j', 'DROP']);
  }

  /** Removes all isolation rules. */
  async clearIsolation(hosts: Host[] = this.hosts): Promise<void> {
    await mapLimit(hosts, 4, (h) => this.iptables(h, ['-F', 'PL-ISO']));
  }

  /** Packets dropped so far by the host's loss, partition and isolation chains (from iptables counters). */
  async dropped(h: Host): Promise<{ loss: number; partition: number; isolation: number }> {
    const count = async (chain: string): Promise<number> => {
      const out = await mustRun(['ip', 'netns', 'exec', h.ns, IPTABLES, '-w', '-L', chain, '-v', '-x', '-n']);
      return out.split('\n').slice(2).reduce((s, line) => s + (Number(line.trim().split(/\s+/)[0]) || 0), 0);
    };
    return { loss: await count('PL-LOSS'), partition: await count('PL-PART'), isolation: await count('PL-ISO') };
  }

  /** The namespaces of this lab: every host's and the bridge's. */
  namespaces(): string[] {
    return [...this.hosts.map((h) => h.ns), this.bridgeNs];
  }

  /**
   * Kills the children this lab started and every process still inside its namespaces, then deletes the
   * namespaces (bridge and veths go with them). Synchronous and idempotent; also runs on exit and SIGINT/SIGTERM.
   */
  cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    process.off('exit', this.onExit);
    for (const c of this.children) c.kill('SIGKILL');
    removeNamespaces(this.namespaces());
  }
}
