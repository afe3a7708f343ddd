/**
 * The inventory of an image layer by layer: each layer (by diffID) is read once, from its own tar, into a record that
 * is cached on disk (layercache.ts), and the records merge into what the image's filesystem shows (layer.ts, merge.ts).
 * A release whose image shares all but its top layer with one scanned before reads only that layer.
 *
 * Where a layer the cache lacks is read from, first that answers:
 *  1. the node's image-part cache (runtime/images: layer tars by diffID, kept to serve peers), when it holds the layer;
 *  2. the engine's layer store (ContainerEngine.readLayer: on Docker, reassembled from overlay2 without a save);
 *  3. one `docker save` of the image split into that image-part cache (its own mechanism, ImageCache.ingestSave), then
 *     read from there as in 1 (a managed image, with free space on the cache's disk);
 *  4. else the merged filesystem (image.ts, an export of a created container) for the whole image, cached nothing.
 * Every layer read in 1-3 must hash to its diffID (else `digest_mismatch`, nothing cached, the next source is tried).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { PleacoError } from '../../errors.js';
import { DIGEST_RE, LABELS, type Inventory } from '../../model/index.js';
import { diskFull, lowDisks, type ContainerEngine, type ImageCache, type ImageInfo, type LayerSink } from '../../runtime/index.js';
import { aborted, inventoryImage, type InventoryOptions, type InventoryStats } from './image.js';
import { LayerReader, type LayerRecord } from './layer.js';
import type { LayerInventoryCache } from './layercache.js';
import { mergeLayers } from './merge.js';
import { inventoryFromFiles } from './parsers.js';

/** Largest layer read (as runtime/images accepts from peers). */
const MAX_LAYER_BYTES = 16 * 1024 ** 3;
/** Most layers an image may list (as runtime/images). */
const MAX_LAYERS = 200;

export interface LayerScanDeps {
  cache: LayerInventoryCache;
  /** The node's image-part cache (sources 1 and 3); null: neither. */
  images: ImageCache | null;
  /** Free space kept on the image-part cache's disk by an export into it. */
  minFreeBytes: number;
}

export type LayerEngine = Pick<ContainerEngine, 'where' | 'inspectImage' | 'readLayer' | 'exportImage' | 'readImageFiles'>;

export interface LayeredStats extends InventoryStats {
  layers: number;
  /** Layers whose record came from the cache. */
  cached: number;
  /** Layers read, by source. */
  read: { images: number; store: number; save: number };
  /** True when the merged filesystem was read instead (source 4). */
  merged: boolean;
}

type Feed = (sink: LayerSink) => Promise<boolean>;

/** A layer's record from a source, checked against its diffID; null when the source does not have it. */
async function readVerified(diffId: string, feed: Feed, stats: { bytes: number; files: number }): Promise<LayerRecord | null> {
  const hash = createHash('sha256');
  const reader = new LayerReader();
  let bytes = 0;
  const fed = await feed((chunk) => {
    bytes += chunk.length;
    if (bytes > MAX_LAYER_BYTES) throw new PleacoError('payload_too_large', `layer ${diffId} is larger than ${MAX_LAYER_BYTES} bytes`);
    hash.update(chunk);
    reader.push(chunk);
  });
  if (!fed) return null;
  const record = reader.finish();
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== diffId) throw new PleacoError('digest_mismatch', `a layer read as ${diffId} hashed to ${got}`);
  stats.bytes += bytes;
  stats.files += record.entries;
  return record;
}

/** Source 1: a layer tar in the image-part cache; false when it is not there. */
function fromImageCache(images: ImageCache, diffId: string, signal?: AbortSignal): Feed {
  return async (sink) => {
    const file = createReadStream(images.layerPath(diffId), signal ? { signal } : {});
    try {
      for await (const chunk of file) sink(chunk as Buffer);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    } finally {
      file.destroy();
    }
  };
}

/**
 * Errors that no other source changes: passed on instead of trying the next one (not isEngineDown: it takes a file's
 * ENOENT in a cause for an unreachable engine, and a layer file that vanished is a reason to try the next source).
 */
function final(err: unknown, signal?: AbortSignal): boolean {
  return Boolean(signal?.aborted) || (err instanceof PleacoError && ['docker_unavailable', 'payload_too_large', 'interrupted'].includes(err.code));
}

interface Run {
  engine: LayerEngine;
  deps: LayerScanDeps;
  info: ImageInfo;
  diffIds: string[];
  records: Map<string, LayerRecord>;
  fresh: Set<string>;
  stats: LayeredStats;
  o: InventoryOptions;
  say(line: string): void;
}

/** Tries one source for one layer; a failure that another source may not share is said and swallowed. */
async function attempt(r: Run, diffId: string, source: keyof LayeredStats['read'], feed: Feed): Promise<boolean> {
  try {
    const record = await readVerified(diffId, feed, r.stats);
    if (!record) return false;
    r.records.set(diffId, record);
    r.fresh.add(diffId);
    r.stats.read[source]++;
    return true;
  } catch (err) {
    if (final(err, r.o.signal)) throw err;
    r.say(`inventory: layer ${diffId.slice(7, 19)} could not be read from ${source === 'store' ? "the engine's layer store" : "the node's image cache"}: ${(err as Error).message}`);
    return false;
  }
}

/** Sources 1 and 2 for every layer the cache lacks; resolves with those still missing. */
async function readMissing(r: Run): Promise<string[]> {
  const left: string[] = [];
  for (let i = 0; i < r.diffIds.length; i++) {
    const d = r.diffIds[i]!;
    if (r.records.has(d) || left.includes(d)) continue;
    if (r.deps.images && (await attempt(r, d, 'images', fromImageCache(r.deps.images, d, r.o.signal)))) continue;
    if (await attempt(r, d, 'store', (sink) => r.engine.readLayer(r.diffIds.slice(0, i + 1), sink, r.o.signal))) continue;
    left.push(d);
  }
  return left;
}

/** Source 3: one `docker save` into the image-part cache, then the missing layers from there. */
async function readBySave(r: Run, missing: string[]): Promise<string[]> {
  const images = r.deps.images;
  if (missing.length === 0 || !images || r.info.labels[LABELS.managed] !== 'true') return missing;
  const low = await lowDisks([images.root], r.deps.minFreeBytes);
  if (low.length) {
    r.say(diskFull(low, r.deps.minFreeBytes, 'inventory: the image is not exported into the image cache').message);
    return missing;
  }
  r.say(`inventory: exporting the image (docker save) for ${missing.length} layer(s) the layer store did not give`);
  try {
    await r.engine.exportImage(r.info.id, (tar) => images.ingestSave(tar, r.info.id, missing, MAX_LAYER_BYTES));
  } catch (err) {
    if (final(err, r.o.signal)) throw err;
    r.say(`inventory: the export failed: ${(err as Error).message}`);
    return missing;
  }
  const left: string[] = [];
  for (const d of missing) if (!(await attempt(r, d, 'save', fromImageCache(images, d, r.o.signal)))) left.push(d);
  return left;
}

/** Source 4: the merged filesystem, as image.ts reads it; nothing is cached. */
async function readMerged(r: Run, image: string, t0: number): Promise<{ inventory: Inventory; stats: LayeredStats }> {
  r.say('inventory: reading the merged filesystem instead');
  const { inventory, stats } = await inventoryImage(r.engine, image, r.o);
  return { inventory, stats: { ...r.stats, ...stats, ms: Date.now() - t0, merged: true } };
}

function summary(inv: Inventory): string {
  const counts = new Map<string, number>();
  for (const p of inv.packages) counts.set(p.type, (counts.get(p.type) ?? 0) + 1);
  return [...counts].map(([t, n]) => `${t} ${n}`).join(', ') || 'none';
}

/**
 * The inventory of `image`, layer by layer (see the top of this file). An abort rejects `interrupted`; a layer over a
 * bound (entries, bytes) `scan_failed`.
 */
export async function inventoryByLayers(engine: LayerEngine, image: string, deps: LayerScanDeps, o: InventoryOptions): Promise<{ inventory: Inventory; stats: LayeredStats }> {
  try {
    return await byLayers(engine, image, deps, o);
  } catch (err) {
    if (o.signal?.aborted) throw aborted(image);
    if (err instanceof PleacoError && err.code === 'payload_too_large') throw new PleacoError('scan_failed', `${image} cannot be scanned: ${err.message}`, { cause: err });
    throw err;
  }
}

async function byLayers(engine: LayerEngine, image: string, deps: LayerScanDeps, o: InventoryOptions): Promise<{ inventory: Inventory; stats: LayeredStats }> {
  const t0 = Date.now();
  const say = o.onProgress ?? (() => undefined);
  o.signal?.throwIfAborted();
  const info = await engine.inspectImage(image);
  if (!info) throw new PleacoError('not_found', `image ${image} is not on this node's Docker Engine (build it first; pleaco does not pull images to scan them)`);
  const diffIds = info.layers ?? [];
  const stats: LayeredStats = { files: 0, bytes: 0, ms: 0, layers: diffIds.length, cached: 0, read: { images: 0, store: 0, save: 0 }, merged: false };
  const r: Run = { engine, deps, info, diffIds, records: new Map(), fresh: new Set(), stats, o, say };
  if (diffIds.length === 0 || diffIds.length > MAX_LAYERS || !diffIds.every((d) => DIGEST_RE.test(d))) return readMerged(r, image, t0);
  for (const d of new Set(diffIds)) {
    const cached = await deps.cache.get(d).catch(() => null);
    if (cached) r.records.set(d, cached);
  }
  stats.cached = diffIds.filter((d) => r.records.has(d) && !r.fresh.has(d)).length;
  const missing = await readBySave(r, await readMissing(r));
  if (missing.length) return readMerged(r, image, t0);
  for (const d of r.fresh) await deps.cache.put(d, r.records.get(d)!).catch((err: unknown) => say(`inventory: layer ${d.slice(7, 19)} not cached: ${(err as Error).message}`));
  if (r.fresh.size) await deps.cache.collect().catch(() => undefined);
  const layers = diffIds.map((d) => r.records.get(d)!);
  for (const l of layers) for (const n of l.notes) say(n);
  const merged = mergeLayers(layers);
  const inventory = inventoryFromFiles(merged.files, merged.goBinaries, merged.links);
  stats.ms = Date.now() - t0;
  const read = Object.entries(stats.read).filter(([, n]) => n > 0).map(([k, n]) => `${n} from ${k === 'store' ? 'the layer store' : k === 'save' ? 'an export' : 'the image cache'}`);
  say(`inventory: ${inventory.packages.length} packages (${summary(inventory)}) from ${diffIds.length} layer(s): ${[`${stats.cached} cached`, ...read].join(', ')}; ${(stats.bytes / 1e6).toFixed(1)} MB read in ${stats.ms} ms`);
  return { inventory, stats };
}
