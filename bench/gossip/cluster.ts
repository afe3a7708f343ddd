/**
 * The shape every gossip implementation takes in `make bench-gossip`: Serf (the anchor, ./serf.ts) and pleaco's
 * own agent (plugged in by bench/gossip.ts). The harness owns the network (namespaces, loss, partitions); a
 * cluster only starts processes on the hosts it is given and reports what each node observed, stamped with the
 * harness clock (`nowMs()` in ./proc.ts: wall-clock ms, so child processes can stamp too).
 *
 * Node indices are positions in the `nodes` array given to `start` (0-based).
 */
import { EventEmitter } from 'node:events';
import type { Host, NetnsLab } from './netns.js';

/** One node to run: the host (namespace + address) and a unique node name. */
export interface NodeSpec {
  host: Host;
  name: string;
}

/** What a cluster gets besides its nodes. `key` is the 32-byte cluster key; never put it in argv or logs. */
export interface StartOptions {
  lab: NetnsLab;
  key: Buffer;
  workDir: string;
  timeoutMs: number;
}

/**
 * When `start` got there. `lastUpAt`: the last agent became ready to answer its local API (pleaco) or RPC (Serf),
 * from its own log line; null if a line was missing. `convergedAt`: every node saw all nodes alive.
 */
export interface JoinTimes {
  lastUpAt: number | null;
  convergedAt: number;
}

/** Counts of membership changes about nodes that were alive the whole time. */
export interface FalsePositives {
  failed: number;
  suspect: number;
}

/**
 * One implementation under test. All times are harness-clock ms (`nowMs()`), taken as close to the node's own
 * decision as possible (Serf: when its log line arrives; pleaco: the same, or a stamp the agent writes itself).
 * A false positive is one node marking one live node failed (a `member-failed` on that node); each one counts.
 */
export interface GossipCluster {
  /** Short label printed in the report, e.g. `serf`. */
  readonly label: string;
  /** Starts one agent per node, joins them, resolves once every node sees all nodes alive (bounded). */
  start(nodes: NodeSpec[], opts: StartOptions): Promise<JoinTimes>;
  /** Broadcasts a user event named `name` from node `from`; resolves with the time the origin accepted it. */
  sendEvent(from: number, name: string): Promise<number>;
  /** Per node, when it first delivered event `name` (null if not within `timeoutMs`). */
  eventSeenAt(name: string, timeoutMs: number): Promise<Array<number | null>>;
  /** SIGKILLs node `i` (no leave message); resolves with the kill time. */
  kill(i: number): Promise<number>;
  /** True while node `i`'s agent process runs (it was not killed and did not exit). */
  isRunning(i: number): boolean;
  /**
   * Per node, when it first marked `victim` failed at or after `since` (default: the victim's kill time); null for
   * the victim, killed nodes, and nodes that did not within `timeoutMs`.
   */
  failedSeenAt(victim: number, timeoutMs: number, since?: number): Promise<Array<number | null>>;
  /** Failed/suspect observations after `since` about nodes not in `dead`. */
  falsePositives(since: number, dead: number[]): Promise<FalsePositives>;
  /** Resolves true once every live node (not in `dead`) sees every other live node alive, false after `timeoutMs`. */
  waitConverged(dead: number[], timeoutMs: number): Promise<boolean>;
  /** Stops every agent (bounded) and removes its files. */
  stop(): Promise<void>;
}

/** What a node saw: an event delivered, or a member changing state. `subject` is an event or node name. */
export type ObservationKind = 'event' | 'alive' | 'failed' | 'left' | 'suspect';
export interface Observation {
  at: number;
  node: number;
  kind: ObservationKind;
  subject: string;
}

/**
 * In-memory record of observations with waiting helpers, for implementations that learn about events from
 * their agents' output. Keeps each node's current member view (alive set) as it goes.
 */
export class ObservationLog {
  readonly all: Observation[] = [];
  private readonly views = new Map<number, Set<string>>();
  private readonly changed = new EventEmitter();

  constructor() {
    this.changed.setMaxListeners(0);
  }

  /** Records one observation and updates the node's view. */
  add(o: Observation): void {
    this.all.push(o);
    const view = this.views.get(o.node) ?? new Set<string>();
    this.views.set(o.node, view);
    if (o.kind === 'alive') view.add(o.subject);
    if (o.kind === 'failed' || o.kind === 'left') view.delete(o.subject);
    this.changed.emit('add');
  }

  /** The names node `node` currently believes alive. */
  view(node: number): ReadonlySet<string> {
    return this.views.get(node) ?? new Set();
  }

  /** First time each of `nodes` observed (kind, subject) at or after `since`; null where it did not. */
  firstSeen(kind: ObservationKind, subject: string, nodes: number[], since = 0): Array<number | null> {
    const first = new Map<number, number>();
    for (const o of this.all) {
      if (o.kind === kind && o.subject === subject && o.at >= since && !first.has(o.node)) first.set(o.node, o.at);
    }
    return nodes.map((n) => first.get(n) ?? null);
  }

  /** Resolves true as soon as `done()` holds (checked on every new observation), false after `timeoutMs`. */
  waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return;
        finish(true);
      };
      const timer = setTimeout(() => finish(done()), timeoutMs);
      const finish = (v: boolean): void => {
        clearTimeout(timer);
        this.changed.off('add', check);
        resolve(v);
      };
      this.changed.on('add', check);
    });
  }
}
