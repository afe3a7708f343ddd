/**
 * Makes a Store replicable: gossip deltas out of local commits, deltas in, and the anti-entropy
 * exchange of sync.ts on both sides. No I/O of its own: the cluster layer hands deltas to
 * `broadcast(key, payload)`, feeds received payloads to `receiveDelta`, answers stream requests with
 * `handle`, and runs `pushPull(call)` with a random peer periodically, on join and while
 * `needsFullSync()` (see docs in sync.ts for the exchange and the away rule).
 */
import { performance } from 'node:perf_hooks';
import { PleacoError } from '../errors.js';
import { decodeDelta, DEFAULT_MAX_DELTA_BYTES, deltaNotice, DeltaQueue, encodeDelta, type DeltaPayload } from './delta.js';
import { compareHlc } from './hlc.js';
import type { Entry } from './lww.js';
import type { ChangeOrigin, Store } from './store.js';
import { obsWriter } from './validate.js';
import {
  answerDigest, answerKeys, differingLeaves, isLateDelete, keysPage, nextSync, pageEntries, statusOf,
  type PeerInfo, type SyncRequest, type SyncResponse, type SyncStatus,
} from './sync.js';
import { parseRequest, parseResponse } from './syncwire.js';

export interface ReplicaOptions {
  /** A replica whose last completed exchange is older than this is away. Default: half the tombstone bound. */
  awayAfterMs?: number;
  /** Byte budget of one message's entries or key lists. Default 1 MiB. */
  pageBytes?: number;
  /** Largest delta payload carrying a whole entry (larger ones become notices). Default 1,024. */
  maxDeltaBytes?: number;
  /** Deltas kept while no broadcaster is attached. Default 10,000. */
  maxQueuedDeltas?: number;
  /** Bound on key-list rounds in one exchange. Default 10,000. */
  maxRounds?: number;
}

/** Sends one request to the peer and resolves with its (parsed JSON) response. */
export type SyncCall = (req: SyncRequest) => Promise<unknown>;

export interface SyncReport {
  peer: string;
  inSync: boolean;
  /** Leaf buckets that differed, key-list rounds, entries received (applied) and sent. */
  buckets: number;
  rounds: number;
  entriesIn: number;
  entriesOut: number;
  rejectedIn: number;
  statusBefore: SyncStatus;
  statusAfter: SyncStatus;
  ms: number;
}

/** Don't rewrite sync.json for a sync time that moved less than this (a current node syncs every few s). */
const PERSIST_STEP_MS = 10_000;

export class Replica {
  private readonly queue: DeltaQueue;
  private sink: ((key: string, payload: DeltaPayload) => void) | null = null;
  private readonly o: Required<ReplicaOptions>;
  readonly stats = {
    exchanges: { ok: 0, inSync: 0, failed: 0 },
    deltas: { produced: 0, received: 0, applied: 0, rejected: 0, notices: 0, sinkErrors: 0, reissued: 0 },
    last: null as null | { at: number; ok: boolean; report?: SyncReport; error?: string },
  };
  private readonly onChange = (e: Entry, origin: ChangeOrigin): void => {
    if (origin !== 'local') return;
    this.stats.deltas.produced++;
    const payload = encodeDelta(e, this.o.maxDeltaBytes);
    if (this.sink) this.toSink(e.key, payload);
    else this.queue.push(e.key, payload);
  };

  constructor(readonly store: Store, opts: ReplicaOptions = {}) {
    this.o = {
      awayAfterMs: opts.awayAfterMs ?? Math.floor(store.tombstoneTtlMs / 2),
      pageBytes: opts.pageBytes ?? 1024 * 1024,
      maxDeltaBytes: opts.maxDeltaBytes ?? DEFAULT_MAX_DELTA_BYTES,
      maxQueuedDeltas: opts.maxQueuedDeltas ?? 10_000,
      maxRounds: opts.maxRounds ?? 10_000,
    };
    this.queue = new DeltaQueue(this.o.maxQueuedDeltas);
    store.on('change', this.onChange);
  }

  /** This replica as a peer sees it now. */
  info(): PeerInfo {
    const m = this.store.syncMeta();
    const at = this.store.wallNow();
    const since = m.since ?? (this.holdsOthersData() ? 0 : at);
    return { node: this.store.nodeId, status: statusOf(m.syncedAt, at, this.o.awayAfterMs), syncedAt: m.syncedAt, reapedBefore: m.reapedBefore, since, at };
  }

  /** True when the store holds anything but this node's own observed state (a standalone node's data). */
  private holdsOthersData(): boolean {
    const own = `obs/${this.store.nodeId}/`;
    for (const e of this.store.allEntriesIter()) if (!e.key.startsWith(own)) return true;
    return false;
  }

  /** True until a push-pull completes with a current peer (fresh, or away longer than awayAfterMs). */
  needsFullSync(): boolean {
    return this.info().status !== 'current';
  }

  /**
   * Sends every committed local write to `broadcast(stateKey, payload)` from now on (queued ones
   * first); payloads are JSON objects. The gossip layer must replace a queued payload of the same key.
   * If broadcast throws for a whole entry (too large for its packet), a notice is sent instead.
   * Returns a detach function.
   */
  attachBroadcast(broadcast: (key: string, payload: DeltaPayload) => void): () => void {
    this.sink = broadcast;
    for (const d of this.queue.drain()) this.toSink(d.key, d.payload);
    return () => {
      if (this.sink === broadcast) this.sink = null;
    };
  }

  /** Hands a delta to the broadcaster; if it refuses a whole entry (too large for its packet), a notice. */
  private toSink(key: string, payload: DeltaPayload): void {
    try {
      this.sink!(key, payload);
    } catch {
      this.stats.deltas.sinkErrors++;
      if (!('e' in payload)) return;
      try {
        this.sink!(key, deltaNotice(payload.e));
      } catch {
        this.stats.deltas.sinkErrors++;
      }
    }
  }

  /**
   * Applies a delta payload from gossip (the object, or its JSON). A notice of a write we lack (too large to gossip) comes back
   * as `fetch`: get it with `fetch([key], callTo(from))`, or leave it to the next push-pull.
   */
  async receiveDelta(payload: unknown): Promise<{ applied: number; rejected: number; fetch: { key: string; from: string } | null }> {
    this.stats.deltas.received++;
    const d = decodeDelta(payload);
    if (!d) {
      this.stats.deltas.rejected++;
      return { applied: 0, rejected: 1, fetch: null };
    }
    if ('notice' in d) {
      this.stats.deltas.notices++;
      const cur = this.store.getEntry(d.notice.key);
      // A notice stamped beyond the drift bound is not fetched: its entry would be refused.
      const lacks = (!cur || compareHlc(d.notice.ts, cur.ts) > 0) && this.store.acceptsStamp(d.notice.ts);
      return { applied: 0, rejected: 0, fetch: lacks ? { key: d.notice.key, from: d.notice.ts.node } : null };
    }
    const r = await this.store.applyRemote([d.entry]);
    this.stats.deltas.applied += r.applied.length;
    this.stats.deltas.rejected += r.rejected;
    return { applied: r.applied.length, rejected: r.rejected, fetch: null };
  }

  /** Answers one anti-entropy request from a peer (the stream transport's handler). Never throws. */
  async handle(raw: unknown): Promise<SyncResponse> {
    const req = parseRequest(raw);
    if (typeof req === 'string') return { t: 'error', code: 'bad_request', message: req };
    try {
      switch (req.t) {
        case 'digest': {
          const peer = this.info();
          const diff = answerDigest(this.store.digest, req.top);
          if (diff.length === 0) this.complete(peer, req.from); // identical maps: the exchange is complete
          return { t: 'digest', peer, diff };
        }
        case 'keys': {
          const self = this.info();
          const { res, applyHere } = answerKeys(this.store, req, self, this.o.pageBytes);
          if (applyHere.length) await this.store.applyRemote(applyHere);
          return { ...res, entries: await this.reissueLateDeletes(res.entries, self, req.from) };
        }
        case 'push': {
          const r = await this.store.applyRemote(req.entries);
          return { t: 'push', applied: r.applied.length, stale: r.stale, rejected: r.rejected };
        }
        case 'get':
          return { t: 'get', entries: pageEntries(req.keys.map((k) => this.store.getEntry(k)).filter((e): e is Entry => !!e), this.o.pageBytes)[0] ?? [] };
        case 'done':
          if (req.peer.node !== this.store.nodeId) return { t: 'error', code: 'bad_request', message: 'done names another responder' };
          this.complete(req.peer, req.from);
          return { t: 'done', status: this.info().status };
      }
    } catch (err) {
      return { t: 'error', code: 'internal', message: err instanceof Error ? err.message : String(err) };
    }
  }

  /**
   * Runs one complete push-pull with a peer through `call` (initiator side): digests, then only the
   * differing buckets' keys and entries, both ways, in byte-bounded pages. Resolves with a report once
   * both sides hold the union (under the away rule); rejects with `unavailable` if the peer fails.
   */
  async pushPull(call: SyncCall): Promise<SyncReport> {
    const t0 = performance.now();
    const me = this.info();
    const rep: SyncReport = { peer: '', inSync: false, buckets: 0, rounds: 0, entriesIn: 0, entriesOut: 0, rejectedIn: 0, statusBefore: me.status, statusAfter: me.status, ms: 0 };
    try {
      const d = expect(parseResponse(await call({ t: 'digest', v: 1, from: me, top: this.store.digest.top() }), 'digest'));
      rep.peer = d.peer.node;
      if (d.diff.length === 0) {
        rep.inSync = true;
      } else {
        const left = new Set(differingLeaves(this.store.digest, d.diff));
        rep.buckets = left.size;
        while (left.size > 0) {
          if (++rep.rounds > this.o.maxRounds) throw new PleacoError('peer_error', `no end after ${this.o.maxRounds} rounds`);
          const k = expect(parseResponse(await call({ t: 'keys', v: 1, from: me, buckets: keysPage(this.store, [...left], this.o.pageBytes) }), 'keys'));
          const r = await this.store.applyRemote(k.entries);
          rep.entriesIn += r.applied.length;
          rep.rejectedIn += r.rejected;
          const wanted = await this.reissueLateDeletes(k.want.map((key) => this.store.getEntry(key)).filter((e): e is Entry => !!e), me, d.peer);
          for (const page of pageEntries(wanted, this.o.pageBytes)) {
            expect(parseResponse(await call({ t: 'push', v: 1, entries: page }), 'push'));
            rep.entriesOut += page.length;
          }
          for (const b of k.done) left.delete(b);
          if (k.done.length === 0 && k.entries.length === 0 && k.want.length === 0) throw new PleacoError('peer_error', 'peer made no progress');
        }
        expect(parseResponse(await call({ t: 'done', v: 1, from: me, peer: d.peer }), 'done'));
      }
      this.complete(me, d.peer);
      rep.statusAfter = this.info().status;
      rep.ms = performance.now() - t0;
      this.stats.exchanges.ok++;
      if (rep.inSync) this.stats.exchanges.inSync++;
      this.stats.last = { at: me.at, ok: true, report: rep };
      return rep;
    } catch (err) {
      this.stats.exchanges.failed++;
      const message = err instanceof Error ? err.message : String(err);
      this.stats.last = { at: me.at, ok: false, error: message };
      throw new PleacoError('unavailable', `push-pull with ${rep.peer || 'peer'} failed: ${message}`, { cause: err });
    }
  }

  /** Fetches the given keys from a peer (after a delta notice) and merges them. Resolves with how many won. */
  async fetch(keys: string[], call: SyncCall): Promise<number> {
    const g = expect(parseResponse(await call({ t: 'get', v: 1, keys }), 'get'));
    return (await this.store.applyRemote(g.entries)).applied.length;
  }

  /**
   * Declares this replica current without an exchange. Only for the cluster layer, and only when no
   * current replica can exist elsewhere: this node is the only member (all others left or were removed,
   * none merely failed), or every known member is alive and reports itself away (the whole cluster was
   * down longer than awayAfterMs). Otherwise an away node would stay away (and keep its tombstones).
   */
  markCurrent(): void {
    this.complete(this.info(), { ...this.info(), status: 'current' });
  }

  /** What GET /v1/cluster shows as sync health. */
  health(): { status: SyncStatus; syncedAt: number; reapedBefore: number; needsFullSync: boolean; entries: number; queuedDeltas: number; droppedDeltas: number; remote: Store['remoteStats']; skew: Store['skew']; stats: Replica['stats'] } {
    const i = this.info();
    return {
      status: i.status, syncedAt: i.syncedAt, reapedBefore: i.reapedBefore, needsFullSync: i.status !== 'current', entries: this.store.digest.size,
      queuedDeltas: this.queue.size, droppedDeltas: this.queue.dropped, remote: { ...this.store.remoteStats }, skew: this.store.skew, stats: this.stats,
    };
  }

  /** Stops producing deltas (the store stays open). */
  close(): void {
    this.store.off('change', this.onChange);
    this.sink = null;
  }

  /** Replaces late deletes (see isLateDelete) among entries to send with fresh local deletes. */
  private async reissueLateDeletes(entries: Entry[], self: PeerInfo, peer: PeerInfo): Promise<Entry[]> {
    const late = entries.filter((e) => isLateDelete(self, peer, e) && (obsWriter(e.key) ?? this.store.nodeId) === this.store.nodeId);
    if (late.length === 0) return entries;
    const fresh = new Map((await this.store.batch(late.map((e) => ({ key: e.key, value: null })))).map((e) => [e.key, e]));
    this.stats.deltas.reissued += fresh.size;
    return entries.map((e) => fresh.get(e.key) ?? e);
  }

  private complete(selfAtStart: PeerInfo, other: PeerInfo): void {
    const next = nextSync(selfAtStart, other);
    const cur = this.store.syncMeta();
    const moved = next.syncedAt !== cur.syncedAt && (cur.syncedAt === 0 || next.syncedAt < cur.syncedAt || next.syncedAt - cur.syncedAt >= PERSIST_STEP_MS);
    if (moved || next.since !== cur.since) this.store.recordSync(next.syncedAt, next.since);
    this.store.reapNow();
  }
}

function expect<T>(r: T | string): T {
  if (typeof r === 'string') throw new PleacoError('peer_error', r);
  return r;
}
