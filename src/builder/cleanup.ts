/**
 * The builder's housekeeping on the ContainerEngine, by label only: nothing without io.pleaco.managed=true is
 * touched.
 * - leftover build/test/scan containers of this node (a crash mid-build leaves them),
 * - images the builder made (io.pleaco.build) for apps that were deleted, when no container (running or
 *   stopped) uses them.
 */
import type { Logger } from '../log.js';
import { LABELS } from '../model/index.js';
import type { ContainerEngine } from '../runtime/index.js';

/** Removes this node's role=test, role=build and role=scan containers (only ever created by the builder). */
export async function removeLeftoverContainers(engine: ContainerEngine, nodeId: string, log: Logger): Promise<number> {
  let n = 0;
  for (const role of ['test', 'build', 'scan']) {
    for (const c of await engine.listContainers({ [LABELS.node]: nodeId, [LABELS.role]: role })) {
      await engine.removeContainer(c.id).then(
        () => void n++,
        (err: unknown) => log.warn('could not remove a leftover build container', { container: c.id.slice(0, 12), error: err }),
      );
    }
  }
  if (n) log.info('removed leftover build/test containers', { count: n });
  return n;
}

/**
 * Apps that have images built by this node's builder (labels io.pleaco.app, io.pleaco.build and
 * io.pleaco.node=<node>): images another node (or test) made on a shared Engine are not ours to judge.
 */
export async function appsWithImages(engine: ContainerEngine, nodeId: string): Promise<Set<string>> {
  const images = await engine.listImages({ [LABELS.app]: true, [LABELS.build]: true, [LABELS.node]: nodeId });
  return new Set(images.map((i) => i.labels[LABELS.app]).filter((a): a is string => typeof a === 'string' && a !== ''));
}

/**
 * Removes the managed images of `app` that no container uses. Tags are removed one by one (never forced),
 * so the Engine itself refuses an image a container still needs. Returns how many images went away.
 */
export async function removeAppImages(engine: ContainerEngine, app: string, nodeId: string, log: Logger): Promise<number> {
  const images = await engine.listImages({ [LABELS.app]: app, [LABELS.build]: true, [LABELS.node]: nodeId });
  if (images.length === 0) return 0;
  const used = await engine.imagesInUse();
  let n = 0;
  for (const img of images) {
    if (img.labels[LABELS.app] !== app || used.has(img.id)) continue;
    try {
      for (const t of img.tags) await engine.removeImage(t);
      if (img.tags.length === 0) await engine.removeImage(img.id);
      n++;
    } catch (err) {
      log.warn('could not remove an image of a deleted app', { app, image: img.id.slice(0, 19), error: err });
    }
  }
  if (n) log.info('removed images of a deleted app', { app, count: n });
  return n;
}
