/**
 * Test harness for replication suites: real Stores on temp dirs (the WAL is real) whose wall clocks
 * read one simulated time plus a per-node skew, each with a Replica whose deltas are captured. Peers
 * talk through directExchange (the in-memory fake of the stream transport). Not a test file itself.
 */
import { join } from 'node:path';
import { Replica, Store, directExchange, type DeltaPayload, type Entry, type ReplicaOptions } from '../../src/state/index.js';
import { tempDir } from '../helpers/tmp.js';

/** A small seeded PRNG (LCG) so failures reproduce from the seed in the message. */
export function rng(seed: number): () => number {
  let s = (seed * 2654435761) >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

export function shuffle<T>(rand: () => number, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

export interface Node {
  id: string;
  dir: string;
  store: Store;
  replica: Replica;
  /** Added to the cluster time to give this node's wall clock. */
  skew: number;
  /** Delta payloads this node broadcast (state key, payload), oldest first. */
  sent: { key: string; payload: DeltaPayload }[];
}

export const DAY = 86_400_000;

export class TestCluster {
  /** Simulated wall time shared by all nodes (each adds its skew). */
  time = 1_700_000_000_000;
  readonly nodes = new Map<string, Node>();
  private readonly tmp = tempDir('pleaco-sync-');

  constructor(private readonly opts: { ttl?: number; compactAfterEntries?: number; replica?: ReplicaOptions; maxValueBytes?: number; maxDriftMs?: number } = {}) {}

  add(id: string, skew = 0): Node {
    const n = { id, dir: join(this.tmp.dir, id), skew, sent: [] } as unknown as Node;
    this.nodes.set(id, n);
    this.open(n);
    return n;
  }

  private open(n: Node): void {
    n.store = Store.open({
      dir: n.dir, nodeId: n.id, tombstoneTtlMs: this.opts.ttl ?? 7 * DAY, compactAfterEntries: this.opts.compactAfterEntries ?? 5000,
      wallNow: () => this.time + n.skew, ...(this.opts.maxValueBytes ? { maxValueBytes: this.opts.maxValueBytes } : {}), ...(this.opts.maxDriftMs ? { maxDriftMs: this.opts.maxDriftMs } : {}),
    });
    n.replica = new Replica(n.store, this.opts.replica);
    n.replica.attachBroadcast((key, payload) => n.sent.push({ key, payload: JSON.parse(JSON.stringify(payload)) as DeltaPayload })); // as on the wire
  }

  /** Closes and reopens a node from its files (a restart). */
  restart(id: string): Node {
    const n = this.get(id);
    n.replica.close();
    n.store.close();
    this.open(n);
    return n;
  }

  get(id: string): Node {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** `a` runs a complete push-pull with `b`. */
  pushPull(a: string, b: string) {
    return this.get(a).replica.pushPull(directExchange(this.get(b).replica));
  }

  /** Every entry (tombstones included) as canonical JSON, for comparing replicas. */
  dump(id: string): string {
    return canonical(this.get(id).store.allEntries());
  }

  close(): void {
    for (const n of this.nodes.values()) {
      n.replica.close();
      n.store.close();
    }
    this.tmp.cleanup();
  }
}

export function canonical(entries: Entry[]): string {
  return JSON.stringify([...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((e) => [e.key, e.ts.wall, e.ts.counter, e.ts.node, e.value]));
}
