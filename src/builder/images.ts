/**
 * Image garbage collection of this node's builder, by label only (io.pleaco.managed, io.pleaco.app, io.pleaco.build,
 * io.pleaco.node=<this node>): nothing without them is touched. Kept: the images of every app's current release and
 * of its last `keep` releases (rollback targets), and of its queued and running builds; in a disk emergency only the
 * current releases' and the running builds'. Everything else the builder made goes — old releases, failed and
 * superseded builds, apps that were deleted — and so do dangling layers carrying pleaco's labels (every build step's
 * image carries them: tarlabel.ts labelStages) once they are a day old, the cache of a failed build's next attempt.
 * Images a container still uses stay (the engine refuses them anyway). What is kept (imagesToKeep) is the same set a
 * node keeps of the images it received from peers (runtime/images/).
 */
import type { Logger } from '../log.js';
import { LABELS, type StateReader } from '../model/index.js';
import { imagesToKeep, type ContainerEngine, type ImageInfo } from '../runtime/index.js';

export type GcMode = 'normal' | 'emergency';

const DANGLING_AGE_MS = 24 * 3600_000;

/** Of the builder's images on this node, those no kept release or build names. */
export function imagesToRemove(images: ImageInfo[], keep: Set<string>): ImageInfo[] {
  return images.filter((img) => !keep.has(img.id) && !img.tags.some((t) => keep.has(t)));
}

export interface GcResult {
  removed: number;
  /** Images that stayed because a container still uses them. */
  inUse: number;
  dangling: number;
}

/** One collection: the images to remove, then the dangling layers with pleaco's labels of this node. */
export async function collectImages(engine: ContainerEngine, state: StateReader, o: { nodeId: string; keep: number; mode: GcMode; log: Logger }): Promise<GcResult> {
  const images = await engine.listImages({ [LABELS.app]: true, [LABELS.build]: true, [LABELS.node]: o.nodeId });
  const doomed = imagesToRemove(images, imagesToKeep(state, o.keep, o.mode));
  const used = doomed.length ? await engine.imagesInUse() : new Set<string>();
  const result: GcResult = { removed: 0, inUse: 0, dangling: 0 };
  for (const img of doomed) {
    if (used.has(img.id)) {
      result.inUse++;
      continue;
    }
    try {
      for (const t of img.tags) await engine.removeImage(t);
      if (img.tags.length === 0) await engine.removeImage(img.id);
      result.removed++;
    } catch (err) {
      o.log.warn('could not remove an old image', { image: img.id.slice(0, 19), app: img.labels[LABELS.app], error: err });
    }
  }
  // A failed build's layers are the cache of the next attempt (the fix): kept a day, unless the disk is short.
  result.dangling = (await engine.pruneDangling({ [LABELS.node]: o.nodeId }, o.mode === 'emergency' ? 0 : DANGLING_AGE_MS)).removed;
  if (result.removed || result.dangling) o.log.info('removed old images', { ...result, mode: o.mode });
  return result;
}
