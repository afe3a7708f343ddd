/**
 * ImageService: images between nodes, in the agent. It serves this node's pleaco images to peers (source.ts) and
 * brings an image here when this node's runner needs one it does not hold (`ensure`): the records say which app's
 * build or release names the image and which members should have it (sources.ts); it is fetched from the first of
 * those that answers (then from other live members, a few at most), layers verified by digest and only the missing
 * ones sent (receive.ts). Concurrent asks for one image share one transfer; at most MAX_TRANSFERS run at once; each
 * has one deadline over all the peers it tries. A Reconciler keeps the cache within its bound and removes received
 * images no release keeps any more (the images this node built are the builder's to collect).
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../config/index.js';
import { PleacoError } from '../../errors.js';
import { Reconciler } from '../../link/index.js';
import type { Logger } from '../../log.js';
import { isAppName, isDigest, LABELS, type ImageCounters, type ImageEnsureResult, type ImageTransfer, type StateReader } from '../../model/index.js';
import type { ContainerEngine } from '../engine.js';
import { ImageCache } from './cache.js';
import { IMAGE_KIND, type ImagePeers } from './fetch.js';
import { LocalChains, receiveImage, type ReceiveOptions } from './receive.js';
import { ImageSource } from './source.js';
import { imageRecords, imagesToKeep } from './sources.js';

/** How long `ensure` waits for a transfer before it answers `unavailable` (the transfer goes on; ask again). */
export const ENSURE_WAIT_MS = 25_000;
/** Transfers running at once on a node (each reads from one peer, chunk after chunk). */
const MAX_TRANSFERS = 2;
/** Members one transfer tries at most. */
const MAX_PEERS = 5;
/** Transfers kept for `recent()`. */
const RECENT = 20;
/** A received image is kept this long even when no record keeps it yet (a build before its release). */
const RECEIVED_GRACE_MS = 3600_000;
const GC_TICK_MS = 10 * 60_000;

export function imagesRoot(config: Config): string {
  return join(config.stateDir, 'images');
}

export interface ImageServiceOptions {
  root: string;
  nodeId: string;
  engine: Pick<ContainerEngine, 'inspectImage' | 'exportImage' | 'allImageIds' | 'loadImage' | 'removeImage' | 'imagesInUse'>;
  /** The agent's store (or any reader of the replicated records). */
  state: StateReader;
  /** null: a node on its own (nothing to fetch from, nobody to serve). */
  cluster: ImagePeers | null;
  config: Config;
  log: Logger;
  /** Largest layer accepted or exported (default 16 GiB). */
  maxLayerBytes?: number;
}

interface Inflight {
  promise: Promise<ImageTransfer>;
  bytes: number;
}

export class ImageService {
  readonly cache: ImageCache;
  readonly source: ImageSource;
  private readonly inflight = new Map<string, Inflight>();
  private readonly recentTransfers: ImageTransfer[] = [];
  private readonly c: Omit<ImageCounters, 'served'> = { transfers: 0, failures: 0, digestMismatches: 0, bytes: 0, wireBytes: 0, layersFetched: 0, layersReused: 0 };
  private readonly chains: LocalChains;
  private readonly abort = new AbortController();
  private readonly gc: Reconciler;
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly maxLayerBytes: number;

  constructor(private readonly o: ImageServiceOptions) {
    this.maxLayerBytes = o.maxLayerBytes ?? 16 * 1024 ** 3;
    this.cache = new ImageCache(o.root, o.config.images.cacheMaxBytes);
    this.chains = new LocalChains(o.engine);
    this.gc = new Reconciler({ pass: () => this.collect(), debounceMs: 2000, tickMs: GC_TICK_MS, onError: (err) => o.log.warn('image collection failed', { error: err }) });
    this.source = new ImageSource({ cache: this.cache, engine: o.engine, minFreeBytes: o.config.disk.minFreeBytes, maxLayerBytes: this.maxLayerBytes, onExported: () => this.gc.kick(), log: o.log });
    o.cluster?.serve(IMAGE_KIND, (req) => this.source.answer(req));
    void this.gc.start(false);
    this.gc.kick(60_000);
  }

  /**
   * Resolves once `imageId` (an image of `app`) is on this node: at once when it is, else after a transfer from a
   * member that has it. Rejects `not_found` when no build or release of the app names the image or no live member
   * holds it, `digest_mismatch` when what came did not hash right, and `unavailable` when the transfer is still
   * running after `waitMs` (it goes on: ask again) or has no member to ask.
   */
  async ensure(imageId: string, app: string, waitMs = ENSURE_WAIT_MS): Promise<ImageEnsureResult> {
    if (!isDigest(imageId)) throw new PleacoError('bad_request', 'imageId must be sha256:<64 hex digits>');
    if (!isAppName(app)) throw new PleacoError('bad_request', 'app must be an app name');
    if (await this.o.engine.inspectImage(imageId)) return { imageId, transfer: null };
    const records = imageRecords(this.o.state, app, imageId);
    if (!records) throw new PleacoError('not_found', `no build or release of app ${app} names image ${imageId}`);
    const inflight = this.inflight.get(imageId) ?? this.start(imageId, app, records.nodes, records.tag);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((r) => (timer = setTimeout(() => r(null), waitMs)));
    try {
      const transfer = await Promise.race([inflight.promise, late]);
      if (transfer) return { imageId, transfer };
    } finally {
      clearTimeout(timer);
    }
    throw new PleacoError('unavailable', `image ${imageId} is still being fetched (${inflight.bytes} bytes so far); ask again`, { details: { imageId, bytes: inflight.bytes, retryAfterS: 2 } });
  }

  /** Exports an image into the cache before any peer asks (a holder may warm it after a build). */
  prepare(imageId: string): Promise<void> {
    return this.source.prepare(imageId);
  }

  counters(): ImageCounters {
    return { ...this.c, served: { ...this.source.served } };
  }

  /** The last transfers, newest first. */
  recent(): ImageTransfer[] {
    return [...this.recentTransfers];
  }

  /** Runs a collection now (or right after the one in flight). */
  collectNow(): Promise<void> {
    return this.gc.run();
  }

  async close(): Promise<void> {
    this.abort.abort(new PleacoError('interrupted', 'the agent is stopping'));
    await this.gc.stop();
    await Promise.allSettled([...this.inflight.values()].map((t) => t.promise));
    await this.source.idle();
  }

  private start(imageId: string, app: string, named: string[], tag: string | null): Inflight {
    const t: Inflight = { promise: Promise.resolve(null as never), bytes: 0 };
    t.promise = this.slot(() => this.fetchFromAny(imageId, app, named, tag, t)).finally(() => this.inflight.delete(imageId));
    t.promise.catch(() => undefined); // every asker awaits it; a transfer nobody waits for any more must not be unhandled
    this.inflight.set(imageId, t);
    return t;
  }

  /** Runs `fn` when fewer than MAX_TRANSFERS run. */
  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    while (this.running >= MAX_TRANSFERS) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }

  /** The members to ask, most likely first: those the records name, then other live members; never this node. */
  private peers(named: string[]): string[] {
    const alive = new Set((this.o.cluster?.members() ?? []).filter((m) => m.state === 'alive' && m.id !== this.o.nodeId).map((m) => m.id));
    const first = named.filter((n) => alive.has(n));
    const rest = [...alive].filter((n) => !first.includes(n)).sort(() => Math.random() - 0.5);
    return [...first, ...rest].slice(0, MAX_PEERS);
  }

  private async fetchFromAny(imageId: string, app: string, named: string[], tag: string | null, t: Inflight): Promise<ImageTransfer> {
    const cluster = this.o.cluster;
    if (!cluster) throw new PleacoError('not_found', `image ${imageId} is not on this node, and the node runs alone (no cluster to fetch it from)`);
    const peers = this.peers(named);
    if (peers.length === 0) throw new PleacoError('unavailable', `image ${imageId} is not on this node and no live member can send it${named.length ? ` (${named.join(', ')} not alive)` : ''}`);
    const deadline = Date.now() + this.o.config.images.transferTimeoutMs;
    const ro: ReceiveOptions = { cluster, engine: this.o.engine, cache: this.cache, chains: this.chains, maxLayerBytes: this.maxLayerBytes, minFreeBytes: this.o.config.disk.minFreeBytes, log: this.o.log };
    const errors: PleacoError[] = [];
    for (const peer of peers) {
      this.abort.signal.throwIfAborted();
      if (Date.now() > deadline) break;
      try {
        const done = await receiveImage(ro, { peer, imageId, app, tag, signal: this.abort.signal, deadline, onBytes: (b) => (t.bytes = b) });
        this.done(done);
        return done;
      } catch (err) {
        if (this.abort.signal.aborted) throw err;
        const e = err instanceof PleacoError ? err : new PleacoError('unavailable', (err as Error).message, { cause: err });
        errors.push(e);
        if (e.code === 'digest_mismatch') this.c.digestMismatches++;
        this.o.log.warn('image transfer from a peer failed', { image: imageId, from: peer, code: e.code, error: e.message });
        if (e.code === 'insufficient_storage' || e.code === 'docker_unavailable' || e.code === 'forbidden') break; // no other peer changes that
        await sleep(100, undefined, { signal: this.abort.signal });
      }
    }
    this.c.failures++;
    throw pickError(imageId, peers, errors);
  }

  private done(t: ImageTransfer): void {
    this.c.transfers++;
    this.c.bytes += t.bytes;
    this.c.wireBytes += t.wireBytes;
    this.c.layersFetched += t.layersFetched;
    this.c.layersReused += t.layersReused;
    this.recentTransfers.unshift(t);
    this.recentTransfers.length = Math.min(this.recentTransfers.length, RECENT);
    this.o.log.info('image received', { image: t.imageId, app: t.app, from: t.from, layers: t.layers, fetched: t.layersFetched, reused: t.layersReused, bytes: t.bytes, wireBytes: t.wireBytes, imageBytes: t.imageBytes, ms: t.ms });
    this.gc.kick();
  }

  /**
   * The cache within its bound, then the images this node received (and only those: each has a mark in the cache,
   * written when it was loaded) that no release or build keeps, that arrived over an hour ago and no container uses.
   */
  private async collect(): Promise<void> {
    const cache = await this.cache.collect(async (id) => (await this.o.engine.inspectImage(id)) !== null, new Set([...this.source.pinned(), ...this.inflight.keys()]));
    const keep = imagesToKeep(this.o.state, this.o.config.build.keepImages, 'normal');
    const now = Date.now();
    let removed = 0;
    let used: Set<string> | null = null;
    for (const { imageId, at } of await this.cache.received()) {
      if (keep.has(imageId) || this.inflight.has(imageId) || now - at < RECEIVED_GRACE_MS) continue;
      const img = await this.o.engine.inspectImage(imageId);
      if (!img || img.labels[LABELS.managed] !== 'true' || img.tags.some((t) => keep.has(t))) {
        if (!img) await this.cache.unmarkReceived(imageId);
        continue;
      }
      used ??= await this.o.engine.imagesInUse();
      if (used.has(img.id)) continue;
      try {
        for (const t of img.tags) await this.o.engine.removeImage(t);
        if (await this.o.engine.inspectImage(imageId)) await this.o.engine.removeImage(imageId);
        await this.cache.unmarkReceived(imageId);
        removed++;
      } catch (err) {
        this.o.log.warn('could not remove a received image', { image: imageId.slice(0, 19), error: err });
      }
    }
    if (removed || cache.files) this.o.log.info('image collection', { receivedImagesRemoved: removed, cacheFilesRemoved: cache.files, cacheBytesFreed: cache.bytes });
  }
}

/** The error of a transfer no peer completed: a digest mismatch first (someone sent wrong bytes), else the last. */
function pickError(imageId: string, peers: string[], errors: PleacoError[]): PleacoError {
  const mismatch = errors.find((e) => e.code === 'digest_mismatch');
  if (mismatch) return mismatch;
  if (errors.length > 0 && errors.every((e) => e.code === 'not_found')) return new PleacoError('not_found', `no live member holds image ${imageId} (asked ${peers.join(', ')})`);
  const last = errors.filter((e) => e.code !== 'not_found').pop() ?? errors.pop();
  return last ?? new PleacoError('unavailable', `image ${imageId} could not be fetched in time`);
}
