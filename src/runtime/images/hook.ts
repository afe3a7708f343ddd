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

/**
 * Fetches the images of a node's desired slots ahead of their turn, in the background: a rollout goes one slot at a
 * time across nodes, and a node whose slot comes last should not start its transfer only then. The create path still
 * ensures its image (one removed since is fetched again there).
 */
export class ImagePrefetch {
  /** Images found or put on this node (a hint: the create path checks again). */
  private readonly here = new Set<string>();
  private readonly inFlight = new Set<string>();

  constructor(private readonly ensure: EnsureImage, private readonly log: Logger) {}

  prefetch(slots: readonly { image: string; app: string }[]): void {
    for (const { image, app } of slots) {
      if (this.here.has(image) || this.inFlight.has(image)) continue;
      this.inFlight.add(image);
      void this.ensure(image, app)
        .then(() => this.here.add(image), (err: unknown) => this.log.debug('image prefetch failed (the slot asks again when it starts)', { app, image, error: err instanceof Error ? err.message : String(err) }))
        .finally(() => this.inFlight.delete(image));
    }
    if (this.here.size > 1000) this.here.clear();
  }
}
