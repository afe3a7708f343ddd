/**
 * A subsystem's read-only copy of the parts of the state it cares about, kept current by the
 * agent's watch stream (GET /v1/internal/watch). On disconnect it reconnects with backoff and
 * reloads a full snapshot, so a restarted agent or subsystem always converges.
 * Events: 'synced' (after each full snapshot), 'change' (entry), 'disconnected' (error).
 */
import { EventEmitter } from 'node:events';
import type { AgentClient } from '../api/client.js';
import { wins, type Entry } from './lww.js';
import type { WriteOp } from './store.js';

type WatchEvent = { type: 'entry'; entry: Entry } | { type: 'synced' } | { type: 'ping' };

export class StateMirror extends EventEmitter {
  private map = new Map<string, Entry>();
  private abort: AbortController | null = null;
  private stopped = false;
  private firstSync: Promise<void>;
  private resolveFirst!: () => void;
  synced = false;

  constructor(
    private readonly client: AgentClient,
    private readonly prefixes: string[],
  ) {
    super();
    this.setMaxListeners(0);
    this.firstSync = new Promise((r) => (this.resolveFirst = r));
  }

  /** Starts watching; resolves after the first full snapshot arrived. */
  start(): Promise<void> {
    void this.loop();
    return this.firstSync;
  }

  private async loop(): Promise<void> {
    let delay = 200;
    while (!this.stopped) {
      this.abort = new AbortController();
      let fresh: Map<string, Entry> | null = new Map();
      try {
        const q = encodeURIComponent(this.prefixes.join(','));
        await this.client.stream(`/v1/internal/watch?prefix=${q}`, (raw) => {
          const ev = raw as WatchEvent;
          if (ev.type === 'entry') {
            if (fresh) fresh.set(ev.entry.key, ev.entry);
            else this.applyChange(ev.entry);
          } else if (ev.type === 'synced' && fresh) {
            const old = this.map;
            this.map = fresh;
            fresh = null;
            delay = 200;
            this.synced = true;
            this.resolveFirst();
            // Announce differences against what we had, so listeners reconcile after a reconnect.
            for (const [k, e] of this.map) if (old.get(k)?.ts.wall !== e.ts.wall || old.get(k)?.ts.counter !== e.ts.counter) this.emit('change', e);
            for (const [k, e] of old) if (!this.map.has(k)) this.emit('change', { ...e, value: null });
            this.emit('synced');
          }
        }, { signal: this.abort.signal });
        if (!this.stopped) this.emit('disconnected', new Error('watch stream ended'));
      } catch (err) {
        if (this.stopped) return;
        this.emit('disconnected', err);
      }
      this.synced = false;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }

  private applyChange(e: Entry): void {
    const cur = this.map.get(e.key);
    if (cur && !wins(e, cur)) return;
    this.map.set(e.key, e); // tombstones are kept so an older write arriving late cannot resurrect a key
    this.emit('change', e);
  }

  get<T>(key: string): T | undefined {
    const v = this.map.get(key)?.value;
    return v === null ? undefined : (v as T | undefined);
  }

  list<T>(prefix: string): { key: string; value: T }[] {
    const out: { key: string; value: T }[] = [];
    for (const [k, e] of this.map) if (e.value !== null && k.startsWith(prefix)) out.push({ key: k, value: e.value as T });
    return out.sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  /** Writes through the agent; resolves once durable there. */
  async write(ops: WriteOp[]): Promise<Entry[]> {
    const res = await this.client.request<{ entries: Entry[] }>('POST', '/v1/internal/state', { body: { ops } });
    for (const e of res.entries) if (this.prefixes.some((p) => e.key.startsWith(p))) this.applyChange(e);
    return res.entries;
  }

  put(key: string, value: unknown): Promise<Entry[]> {
    return this.write([{ key, value }]);
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }
}
