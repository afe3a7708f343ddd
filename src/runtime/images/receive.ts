/**
 * One image received from one peer: its config (checked against the image ID, refused unless it is the app's pleaco
 * image), then only the layers whose chain ID no local image has — a one-line change to an app sends its top layer,
 * not the base — each checked against its diffID, then `docker load` of a tarball that names every layer and
 * carries only those (loadtar.ts), then a check that the engine holds exactly the wanted image with its labels
 * (anything else it loaded is removed). What it received goes into the cache, so this node can serve it onward.
 */
import { join } from 'node:path';
import { PleacoError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { DIGEST_RE, LABELS, type ImageTransfer } from '../../model/index.js';
import { diskFull, diskSpace } from '../disk.js';
import type { ContainerEngine } from '../engine.js';
import type { ImageCache } from './cache.js';
import { chainIds, hexOf, refuseLabels } from './digest.js';
import { fetchConfig, fetchLayer, type FetchContext, type ImagePeers } from './fetch.js';
import { loadTarball } from './loadtar.js';

/** Images whose layers are read to know which chains are here, at most. */
const MAX_LOCAL_IMAGES = 10_000;

type Engine = Pick<ContainerEngine, 'allImageIds' | 'inspectImage' | 'loadImage' | 'removeImage'>;

/** The chain IDs of every local image's layers (an image's layers never change: each image is inspected once). */
export class LocalChains {
  private readonly memo = new Map<string, string[]>();

  constructor(private readonly engine: Pick<ContainerEngine, 'allImageIds' | 'inspectImage'>) {}

  async present(): Promise<Set<string>> {
    const ids = (await this.engine.allImageIds()).slice(0, MAX_LOCAL_IMAGES);
    const now = new Set(ids);
    for (const id of this.memo.keys()) if (!now.has(id)) this.memo.delete(id);
    for (const id of ids) {
      if (this.memo.has(id)) continue;
      const layers = (await this.engine.inspectImage(id))?.layers ?? [];
      this.memo.set(id, layers.every((d) => DIGEST_RE.test(d)) ? chainIds(layers) : []);
    }
    const out = new Set<string>();
    for (const chains of this.memo.values()) for (const c of chains) out.add(c);
    return out;
  }
}

export interface ReceiveOptions {
  cluster: Pick<ImagePeers, 'ask'>;
  engine: Engine;
  cache: ImageCache;
  chains: LocalChains;
  maxLayerBytes: number;
  minFreeBytes: number;
  log: Logger;
}

export interface ReceiveRequest {
  peer: string;
  imageId: string;
  app: string;
  tag: string | null;
  signal: AbortSignal;
  deadline: number;
  /** Told the bytes received so far (progress). */
  onBytes?: (bytes: number) => void;
}

/** Which layers to fetch: those above the highest chain this node has (distinct, base first). */
function missingLayers(diffIds: readonly string[], local: ReadonlySet<string>): { missing: string[]; reused: number } {
  const chains = chainIds(diffIds);
  let have = -1;
  for (let i = chains.length - 1; i >= 0; i--) {
    if (local.has(chains[i]!)) {
      have = i;
      break;
    }
  }
  return { missing: [...new Set(diffIds.slice(have + 1))], reused: have + 1 };
}

/** Refuses a transfer that would take the state dir's file system below its minimum free space. */
async function checkDisk(root: string, need: number, minFree: number): Promise<void> {
  const d = await diskSpace(root).catch(() => null);
  if (d && d.freeBytes - need < minFree) throw diskFull([d], minFree, `cannot receive an image of ${need} bytes`);
}

export async function receiveImage(o: ReceiveOptions, r: ReceiveRequest): Promise<ImageTransfer> {
  const started = Date.now();
  const tally = { bytes: 0, wire: 0 };
  const c: FetchContext = {
    cluster: o.cluster, peer: r.peer, imageId: r.imageId, signal: r.signal, deadline: r.deadline, maxLayerBytes: o.maxLayerBytes,
    onBytes: (bytes, wire) => {
      tally.bytes += bytes;
      tally.wire += wire;
      r.onBytes?.(tally.bytes);
    },
  };
  const { bytes: configBytes, config, sizes } = await fetchConfig(c, r.app);
  const { missing, reused } = missingLayers(config.diffIds, await o.chains.present());
  const sizeOf = new Map(config.diffIds.map((d, i) => [d, sizes[i] ?? null]));
  const cached = new Map<string, { path: string; size: number }>();
  for (const d of missing) {
    const size = await o.cache.layerSize(d);
    if (size !== null) cached.set(d, { path: o.cache.layerPath(d), size }); // verified when it entered; docker load checks it again
  }
  const toFetch = missing.filter((d) => !cached.has(d));
  await checkDisk(o.cache.root, toFetch.reduce((s, d) => s + (sizeOf.get(d) ?? 0), 0), o.minFreeBytes);
  const work = await o.cache.workDir();
  try {
    const files = new Map(cached);
    for (const d of toFetch) {
      const path = join(work, `${hexOf(d)}.tar`);
      files.set(d, { path, size: await fetchLayer(c, d, path) });
    }
    await loadChecked(o, r, configBytes, config.diffIds, files);
    await o.cache.markReceived(r.imageId);
    await o.cache.putConfig(r.imageId, configBytes, work).catch(() => undefined);
    for (const d of toFetch) await o.cache.putLayer(d, files.get(d)!.path).catch(() => undefined);
  } finally {
    await o.cache.release(work);
  }
  const imageBytes = config.diffIds.reduce((s, d) => s + (sizeOf.get(d) ?? 0), 0);
  return {
    imageId: r.imageId, app: r.app, from: r.peer, layers: config.diffIds.length, layersFetched: toFetch.length, layersReused: reused,
    bytes: tally.bytes, wireBytes: tally.wire, imageBytes, ms: Date.now() - started, at: new Date().toISOString(),
  };
}

/** `docker load`, then the engine must hold exactly the wanted image, with the app's labels; else what came is removed. */
async function loadChecked(o: ReceiveOptions, r: ReceiveRequest, config: Buffer, diffIds: readonly string[], files: ReadonlyMap<string, { path: string; size: number }>): Promise<void> {
  let loaded: string;
  try {
    loaded = await o.engine.loadImage(loadTarball({ imageId: r.imageId, config, diffIds, files, tag: r.tag }));
  } catch (err) {
    if (err instanceof PleacoError && err.code === 'docker_unavailable') throw err;
    throw new PleacoError('internal', `docker load of image ${r.imageId} failed: ${(err as Error).message}`, { cause: err, expose: true });
  }
  const info = await o.engine.inspectImage(r.imageId);
  const refused = !info ? 'the engine does not hold it after the load' : info.id !== r.imageId ? `the engine holds ${info.id} under that name` : refuseLabels(info.labels, r.app);
  if (!refused) return;
  for (const ref of new Set([loaded, r.imageId])) {
    const i = await o.engine.inspectImage(ref).catch(() => null);
    if (i?.labels[LABELS.managed] === 'true') await o.engine.removeImage(ref).catch(() => undefined);
  }
  throw new PleacoError('digest_mismatch', `image ${r.imageId} from ${r.peer} was not loaded as it should be (${refused}): removed`);
}
