/**
 * The holder's side of an image transfer: answers `image` requests from peers over the cluster's sealed stream.
 *   {op:'config', image}                        → {found:false} | {state:'preparing'} | {config: base64, sizes}
 *   {op:'layer', image, diffId, offset, length} → {found:false} | {state:'preparing'} | {size, enc, data: base64}
 * Only images carrying io.pleaco.managed=true are served, and only layers their config lists. What is served comes
 * from the cache (cache.ts); an image not (or no longer fully) cached is exported once with `docker save` and split
 * into it, one export at a time on the node, while the asker polls (`preparing`): a stream request never waits
 * longer than PREPARE_WAIT_MS. A chunk is at most CHUNK bytes, deflated when that saves a tenth.
 */
import { promisify } from 'node:util';
import { deflateRaw as deflateRawCb } from 'node:zlib';
import { PleacoError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { isDigest, LABELS } from '../../model/index.js';
import { lowDisks, diskFull } from '../disk.js';
import type { ContainerEngine } from '../engine.js';
import type { ImageCache } from './cache.js';
import { parseImageConfig } from './digest.js';

const deflateRaw = promisify(deflateRawCb);

/** Largest chunk of a layer per request (as the advisory database's replication: 4 MiB, ~5.6 MB as base64). */
export const CHUNK = 4 * 1024 * 1024;
/** How long one request waits for an export before it answers `preparing`. */
export const PREPARE_WAIT_MS = 4000;
/** How long an image's cache files are kept from eviction after it was last served. */
const SERVED_PIN_MS = 10 * 60_000;
/** Images waiting for an export at most; more are answered `found:false` for now. */
const MAX_QUEUED_EXPORTS = 16;

export interface ImageSourceOptions {
  cache: ImageCache;
  engine: Pick<ContainerEngine, 'inspectImage' | 'exportImage'>;
  /** Free space kept on the cache's file system (an export is refused below it). */
  minFreeBytes: number;
  maxLayerBytes: number;
  /** Told after each export (the cache may be over its bound now). */
  onExported?: () => void;
  log: Logger;
}

export interface ServedCounters {
  requests: number;
  bytes: number;
  wireBytes: number;
  prepares: number;
}

export class ImageSource {
  readonly served: ServedCounters = { requests: 0, bytes: 0, wireBytes: 0, prepares: 0 };
  private readonly preparing = new Map<string, Promise<void>>();
  /** When each image was last served: its cache files stay a while (a peer may be in the middle of them). */
  private readonly lastServed = new Map<string, number>();
  /** Exports run one after another: each is a full read of an image from the engine. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly o: ImageSourceOptions) {}

  /** The images being exported or served in the last SERVED_PIN_MS: their cache files are not evicted. */
  pinned(now = Date.now()): Set<string> {
    for (const [id, at] of this.lastServed) if (now - at > SERVED_PIN_MS) this.lastServed.delete(id);
    return new Set([...this.preparing.keys(), ...this.lastServed.keys()]);
  }

  /** Resolves when no export runs (the agent is stopping). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.preparing.values()]);
  }

  /** Answers one request from a peer. */
  async answer(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.served.requests++;
    const image = req.image;
    if (!isDigest(image)) throw new PleacoError('bad_request', 'image request: image must be a sha256 digest');
    if (req.op === 'config') return this.answerConfig(image);
    if (req.op === 'layer') {
      const { diffId, offset } = req;
      if (!isDigest(diffId) || typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new PleacoError('bad_request', 'image request: bad layer request');
      const length = Math.min(CHUNK, typeof req.length === 'number' && Number.isSafeInteger(req.length) && req.length > 0 ? req.length : CHUNK);
      return this.answerLayer(image, diffId, offset, length);
    }
    throw new PleacoError('bad_request', 'image request: unknown op');
  }

  /** Exports an image into the cache (once at a time per image); resolves when it is there. */
  prepare(imageId: string): Promise<void> {
    const running = this.preparing.get(imageId);
    if (running) return running;
    if (this.preparing.size >= MAX_QUEUED_EXPORTS) return Promise.reject(new PleacoError('unavailable', 'too many image exports queued on this node'));
    const p = this.chain.then(() => this.export(imageId));
    this.chain = p.catch(() => undefined);
    this.preparing.set(imageId, p);
    void p.then(
      () => this.preparing.delete(imageId),
      (err: unknown) => {
        this.preparing.delete(imageId);
        this.o.log.warn('image export for a peer failed', { image: imageId, error: err });
      },
    );
    return p;
  }

  private async export(imageId: string): Promise<void> {
    const info = await this.o.engine.inspectImage(imageId);
    if (!info || info.labels[LABELS.managed] !== 'true') throw new PleacoError('not_found', `image ${imageId} is not a pleaco image on this node`);
    const low = await lowDisks([this.o.cache.root], this.o.minFreeBytes);
    if (low.length) throw diskFull(low, this.o.minFreeBytes, 'cannot export an image for a peer');
    const t = Date.now();
    const got = await this.o.engine.exportImage(imageId, (tar) => this.o.cache.ingestSave(tar, imageId, info.layers ?? [], this.o.maxLayerBytes));
    this.served.prepares++;
    this.lastServed.set(imageId, Date.now()); // exported because a peer asks (or is about to): kept like a served one
    if (!got.config) throw new PleacoError('internal', `the export of ${imageId} held no config with that digest`);
    for (const d of new Set(info.layers ?? [])) {
      if ((await this.o.cache.layerSize(d)) === null) throw new PleacoError('internal', `the export of ${imageId} held no layer that hashes to ${d}`);
    }
    this.o.log.info('image exported for peers', { image: imageId, layers: got.layers, ms: Date.now() - t });
    this.o.onExported?.();
  }

  /** Starts (or joins) the export and waits for it a little: null when it is done, an answer when it is not. */
  private async waitPrepared(imageId: string): Promise<Record<string, unknown> | null> {
    const info = this.preparing.has(imageId) ? true : await this.o.engine.inspectImage(imageId);
    if (!info || (info !== true && info.labels[LABELS.managed] !== 'true')) return { found: false };
    const p = this.prepare(imageId);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), PREPARE_WAIT_MS)));
    try {
      return (await Promise.race([p.then(() => 'done' as const), late])) === 'late' ? { found: true, state: 'preparing' } : null;
    } catch {
      return { found: false };
    } finally {
      clearTimeout(timer);
    }
  }

  /** The config and what is cached of its layers; an export first when any is missing. */
  private async answerConfig(imageId: string): Promise<Record<string, unknown>> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const bytes = await this.o.cache.config(imageId);
      if (bytes) {
        const cfg = parseImageConfig(bytes);
        if (cfg.labels[LABELS.managed] !== 'true') return { found: false };
        const sizes = await Promise.all(cfg.diffIds.map((d) => this.o.cache.layerSize(d)));
        if (sizes.every((s) => s !== null) || attempt > 0) {
          this.served.bytes += bytes.length;
          this.lastServed.set(imageId, Date.now());
          const data = bytes.toString('base64');
          this.served.wireBytes += data.length;
          return { found: true, config: data, sizes };
        }
      }
      const waiting = await this.waitPrepared(imageId);
      if (waiting) return waiting;
    }
    return { found: false };
  }

  private async answerLayer(imageId: string, diffId: string, offset: number, length: number): Promise<Record<string, unknown>> {
    const bytes = await this.o.cache.config(imageId);
    const cfg = bytes ? parseImageConfig(bytes) : null;
    if (!cfg) return (await this.waitPrepared(imageId)) ?? { found: true, state: 'preparing' };
    if (cfg.labels[LABELS.managed] !== 'true' || !cfg.diffIds.includes(diffId)) return { found: false };
    const chunk = await this.o.cache.readChunk(diffId, offset, length);
    if (!chunk) return (await this.waitPrepared(imageId)) ?? { found: true, state: 'preparing' };
    let enc = 'raw';
    let body = chunk.data;
    if (chunk.data.length >= 1024) {
      const z = await deflateRaw(chunk.data, { level: 1 });
      if (z.length < chunk.data.length * 0.9) {
        enc = 'deflate';
        body = z;
      }
    }
    const data = body.toString('base64');
    this.lastServed.set(imageId, Date.now());
    this.served.bytes += chunk.data.length;
    this.served.wireBytes += data.length;
    return { found: true, size: chunk.size, enc, data };
  }
}
