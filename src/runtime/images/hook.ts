/**
 * The runner's side: before it starts a container it makes sure the slot's image is on this node. An image named by
 * its ID that the engine does not hold is asked of the agent (`POST /v1/internal/images/ensure`), which fetches it
 * from a member that has it; a tag (releases made before image IDs were recorded) is left to the engine.
 */
import type { Logger } from '../../log.js';
import { isDigest, type ImageEnsureResult } from '../../model/index.js';
import type { ContainerEngine } from '../engine.js';

/** What the runner calls before it creates a slot's container (RunnerDeps.ensureImage). */
export type EnsureImage = (image: string, app: string) => Promise<void>;

export function imageHook(engine: Pick<ContainerEngine, 'inspectImage'>, ask: (imageId: string, app: string) => Promise<ImageEnsureResult>, log: Logger): EnsureImage {
  return async (image, app) => {
    if (!isDigest(image) || (await engine.inspectImage(image))) return;
    const { transfer } = await ask(image, app);
    if (transfer) log.info('image fetched for a slot', { app, image, from: transfer.from, bytes: transfer.bytes, layersFetched: transfer.layersFetched, ms: transfer.ms });
  };
}
