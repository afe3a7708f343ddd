/**
 * What both benchmarked clusters (serf, pleaco) share: one agent process per node, SIGKILL of a node, and the
 * questions answered from their observation log (when each node saw a victim failed, false marks, convergence).
 */
import type { ChildProcess } from 'node:child_process';
import { ObservationLog, type JoinTimes, type NodeSpec, type ObservationKind } from './cluster.js';
import { nowMs } from './proc.js';

export abstract class ProcessCluster {
  abstract readonly label: string;
  readonly log = new ObservationLog();
  protected nodes: NodeSpec[] = [];
  protected procs: Array<ChildProcess | null> = [];
  protected readonly dead = new Set<number>();
  protected readonly killedAt = new Map<number, number>();
  /** Per node, the earliest sign that its agent was ready to answer its API/RPC. */
  private readonly upAt: Array<number | undefined> = [];

  /** Indices of the nodes not killed. */
  protected live(): number[] {
    return this.nodes.map((_, i) => i).filter((i) => !this.dead.has(i));
  }

  /** Records a sign that node `i`'s agent is up; the earliest one counts. */
  protected markUp(i: number, at: number): void {
    this.upAt[i] = Math.min(this.upAt[i] ?? Infinity, at);
  }

  /** The join times of a start that converged at `convergedAt`. */
  protected joinTimes(convergedAt: number): JoinTimes {
    const ups = this.nodes.map((_, i) => this.upAt[i]);
    return { lastUpAt: ups.every((x) => x !== undefined) ? Math.max(...(ups)) : null, convergedAt };
  }

  /** True while node `i`'s agent process runs (it was not killed and did not exit). */
  isRunning(i: number): boolean {
    const p = this.procs[i];
    return !!p && !this.dead.has(i) && p.exitCode === null && p.signalCode === null;
  }

  /** SIGKILLs node `i` (no leave message); resolves with the kill time. */
  async kill(i: number): Promise<number> {
    const p = this.procs[i];
    if (!p || this.dead.has(i)) throw new Error(`${this.label}: node ${i} is not running`);
    const t = nowMs();
    p.kill('SIGKILL');
    this.dead.add(i);
    this.killedAt.set(i, t);
    return t;
  }

  /**
   * Per node, when it first marked `victim` failed at or after `since` (default: its kill time); null for the
   * victim, dead nodes, and nodes that did not in time.
   */
  async failedSeenAt(victim: number, timeoutMs: number, since = this.killedAt.get(victim) ?? 0): Promise<Array<number | null>> {
    const name = this.nodes[victim]!.name;
    const watchers = this.live().filter((i) => i !== victim);
    await this.log.waitUntil(() => this.log.firstSeen('failed', name, watchers, since).every((x) => x !== null), timeoutMs);
    const seen = this.log.firstSeen('failed', name, this.nodes.map((_, i) => i), since);
    return seen.map((x, i) => (i === victim || this.dead.has(i) ? null : x));
  }

  /** Waits (≤ 2 s) for the origin's own log of event `name` sent at `t`; its time, or `t` if it never shows. */
  protected async originAccepted(from: number, name: string, t: number): Promise<number> {
    await this.log.waitUntil(() => this.log.firstSeen('event', name, [from], t)[0] !== null, 2_000);
    return this.log.firstSeen('event', name, [from], t)[0] ?? t;
  }

  /** Per node, when it first delivered event `name` (null for dead nodes and ones that did not within `timeoutMs`). */
  async eventSeenAt(name: string, timeoutMs: number): Promise<Array<number | null>> {
    const live = this.live();
    await this.log.waitUntil(() => this.log.firstSeen('event', name, live).every((x) => x !== null), timeoutMs);
    const seen = this.log.firstSeen('event', name, this.nodes.map((_, i) => i));
    return seen.map((x, i) => (this.dead.has(i) ? null : x));
  }

  /** Failed and suspect observations after `since` about nodes not in `dead`. */
  protected falseMarks(since: number, dead: number[]): { failed: number; suspect: number } {
    const deadNames = new Set(dead.map((i) => this.nodes[i]!.name));
    const about = (kind: ObservationKind): number => this.log.all.filter((o) => o.kind === kind && o.at >= since && !deadNames.has(o.subject)).length;
    return { failed: about('failed'), suspect: about('suspect') };
  }

  /** True once every live node (not in `dead`) sees every other live node alive; false after `timeoutMs`. */
  async waitConverged(dead: number[], timeoutMs: number): Promise<boolean> {
    const live = this.nodes.map((_, i) => i).filter((i) => !dead.includes(i) && !this.dead.has(i));
    const names = live.map((i) => this.nodes[i]!.name);
    return this.log.waitUntil(() => live.every((i) => names.every((n) => this.log.view(i).has(n))), timeoutMs);
  }
}
