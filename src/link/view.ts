/**
 * The one view of state a subsystem has: a read-only copy of the parts it cares about (key prefixes), kept
 * current by the agent's watch stream. On disconnect it reconnects with backoff and reloads a full snapshot, so a
 * restarted agent or subsystem always converges. Writes go through AgentLink (agent.ts), which hands the entries
 * the agent acknowledged back here, so a subsystem reads its own writes at once.
 * Events: 'synced' (after each full snapshot), 'change' (entry), 'disconnected' (error).
 */
import { EventEmitter } from 'node:events';
import type { MembersView, StateReader } from '../model/index.js';
import { wins, type Entry } from '../state/index.js';
import type { AgentClient } from './client.js';
import { pathOf, ROUTES } from './contract.js';

/** A changed key as a view announces it (value null: deleted). */
export interface StateChange {
  key: string;
  value: unknown;
}

/** What a subsystem reads state through (StateMirror; tests use an in-memory fake of it). */
export interface StateView extends StateReader {
  /** False while the view is reconnecting and its copy may be behind. */
  readonly synced: boolean;
  on(event: 'change', listener: (change: StateChange) => void): unknown;
  on(event: 'synced', listener: () => void): unknown;
  off(event: 'change', listener: (change: StateChange) => void): unknown;
  off(event: 'synced', listener: () => void): unknown;
}

type WatchEvent = { type: 'entry'; entry: Entry } | { type: 'synced' } | { type: 'members'; view: MembersView } | { type: 'ping' };

/** The cluster's members as the node's agent sees them (StateMirror: sent on its watch stream at every change). */
export interface MembersSource {
  /** null until the agent has said (or while reconnecting to it). */
  members(): MembersView | null;
  on(event: 'members', listener: (view: MembersView) => void): unknown;
  off(event: 'members', listener: (view: MembersView) => void): unknown;
}

export class StateMirror extends EventEmitter implements StateView, MembersSource {
  private map = new Map<string, Entry>();
  private memberView: MembersView | null = null;
  private abort: AbortController | null = null;
  private stopped = false;
  private readonly firstSync: Promise<void>;
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
        const path = pathOf(ROUTES.watch, {}, { prefix: this.prefixes.join(',') });
        await this.client.stream(path, (raw) => {
          const ev = raw as WatchEvent;
          if (ev.type === 'entry') {
            if (fresh) fresh.set(ev.entry.key, ev.entry);
            else this.applyChange(ev.entry);
          } else if (ev.type === 'synced' && fresh) {
            this.replace(fresh);
            fresh = null;
            delay = 200;
          } else if (ev.type === 'members' && isMembersView(ev.view)) {
            this.memberView = ev.view;
            this.emit('members', ev.view);
          }
        }, { signal: this.abort.signal });
        if (!this.stopped) this.emit('disconnected', new Error('watch stream ended'));
      } catch (err) {
        if (this.stopped) return;
        this.emit('disconnected', err);
      }
      this.synced = false;
      this.memberView = null;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }

  /** A full snapshot arrived: announce its differences against what we had, so listeners reconcile after a reconnect. */
  private replace(fresh: Map<string, Entry>): void {
    const old = this.map;
    this.map = fresh;
    this.synced = true;
    this.resolveFirst();
    for (const [k, e] of this.map) if (old.get(k)?.ts.wall !== e.ts.wall || old.get(k)?.ts.counter !== e.ts.counter) this.emit('change', e);
    for (const [k, e] of old) if (!this.map.has(k)) this.emit('change', { ...e, value: null });
    this.emit('synced');
  }

  private applyChange(e: Entry): void {
    const cur = this.map.get(e.key);
    if (cur && !wins(e, cur)) return;
    this.map.set(e.key, e); // tombstones are kept so an older write arriving late cannot resurrect a key
    this.emit('change', e);
  }

  /** Entries the agent acknowledged for a write of this subsystem (AgentLink): applied at once. */
  absorb(entries: Entry[]): void {
    for (const e of entries) if (this.prefixes.some((p) => e.key.startsWith(p))) this.applyChange(e);
  }

  members(): MembersView | null {
    return this.memberView;
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

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }
}

const MEMBER_STATES = new Set(['alive', 'suspect', 'dead', 'left']);

function isMembersView(v: unknown): v is MembersView {
  const m = v as MembersView | null;
  return !!m && typeof m.self === 'string' && typeof m.ready === 'boolean' && Array.isArray(m.members) && m.members.every((x) => typeof x?.id === 'string' && MEMBER_STATES.has(x.state));
}

/** Resolves once the agent says its state is synced (MembersView.ready), telling `onWait` once if it has to wait. */
export function whenReady(members: MembersSource, onWait: () => void): Promise<void> {
  if (members.members()?.ready) return Promise.resolve();
  onWait();
  return new Promise((resolve) => {
    const check = (v: MembersView): void => {
      if (!v.ready) return;
      members.off('members', check);
      resolve();
    };
    members.on('members', check);
  });
}
