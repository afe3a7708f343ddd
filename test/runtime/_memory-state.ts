/**
 * A FAKE of the runner's StateView and link (StateMirror and AgentLink against the agent): an in-memory map with
 * 'change' events and a history of writes, for driving the Runner without an agent. Writes through `write`
 * land in the map (as the agent's acknowledged entries land in the real view).
 */
import { EventEmitter } from 'node:events';
import type { StateView } from '../../src/link/index.js';

export interface StateEntry {
  key: string;
  value: unknown;
}

export class MemoryStateView extends EventEmitter implements StateView {
  readonly synced = true;
  readonly map = new Map<string, unknown>();
  /** Every write, in order (values as written). */
  readonly writes: StateEntry[] = [];
  /** When set, write() rejects (the agent is unreachable). */
  failWrites = false;

  get<T>(key: string): T | undefined {
    return this.map.get(key) as T | undefined;
  }

  list<T>(prefix: string): { key: string; value: T }[] {
    return [...this.map.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, value]) => ({ key, value: value as T }));
  }

  async write(ops: StateEntry[]): Promise<StateEntry[]> {
    if (this.failWrites) throw new Error('agent unreachable (fake)');
    for (const op of ops) this.apply(op.key, op.value);
    return ops;
  }

  /** Test-side change of the desired state (as if another node wrote it). */
  set(key: string, value: unknown): void {
    this.apply(key, value);
  }

  private apply(key: string, value: unknown): void {
    const v = value === null || value === undefined ? null : (JSON.parse(JSON.stringify(value)) as unknown);
    if (v === null) this.map.delete(key);
    else this.map.set(key, v);
    this.writes.push({ key, value: v });
    this.emit('change', { key, value: v });
  }

  /** The values written to one key, in order. */
  history<T>(key: string): (T | null)[] {
    return this.writes.filter((w) => w.key === key).map((w) => w.value as T | null);
  }

  /** A copy of the desired state only (no observed records): what a fresh node would see. */
  desiredOnly(): MemoryStateView {
    const copy = new MemoryStateView();
    for (const [k, v] of this.map) if (!k.startsWith('obs/')) copy.map.set(k, v);
    return copy;
  }
}
