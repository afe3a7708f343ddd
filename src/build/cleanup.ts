/**
 * Docker housekeeping of the builder, by label only: nothing without io.pleaco.managed=true is touched.
 * - leftover build/test containers of this node (a crash mid-build leaves them),
 * - images the builder made (io.pleaco.build) for apps that were deleted, when no container (running or
 *   stopped) uses them.
 */
import { LABELS } from '../core/model.js';
import type { Engine } from '../runtime/engine.js';
import type { Logger } from '../log.js';

/** Removes this node's role=test, role=build and role=scan containers (only ever created by the builder). */
export async function removeLeftoverContainers(engine: Engine, nodeId: string, log: Logger): Promise<number> {
  let n = 0;
  for (const role of ['test', 'build', 'scan']) {
    const filters = JSON.stringify({ label: [`${LABELS.managed}=true`, `${LABELS.node}=${nodeId}`, `${LABELS.role}=${role}`] });
    for (const c of await engine.listContainers({ all: true, filters })) {
      if (c.Labels?.[LABELS.managed] !== 'true') continue; // belt and braces: the filter already says so
      await engine.getContainer(c.Id).remove({ force: true, v: true }).then(
        () => void n++,
        (err: unknown) => log.warn('could not remove a leftover build container', { container: c.Id.slice(0, 12), error: err }),
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
export async function appsWithImages(engine: Engine, nodeId: string): Promise<Set<string>> {
  const images = await engine.listImages({ filters: JSON.stringify({ label: [`${LABELS.managed}=true`, LABELS.app, LABELS.build, `${LABELS.node}=${nodeId}`] }) });
  return new Set(images.map((i) => i.Labels?.[LABELS.app]).filter((a): a is string => typeof a === 'string' && a !== ''));
}

/**
 * Removes the managed images of `app` that no container uses. Tags are removed one by one (never `force`),
 * so the Engine itself refuses an image a container still needs. Returns how many images went away.
 */
export async function removeAppImages(engine: Engine, app: string, nodeId: string, log: Logger): Promise<number> {
  const filters = JSON.stringify({ label: [`${LABELS.managed}=true`, `${LABELS.app}=${app}`, LABELS.build, `${LABELS.node}=${nodeId}`] });
  const images = await engine.listImages({ filters });
  if (images.length === 0) return 0;
  const used = new Set((await engine.listContainers({ all: true })).map((c) => c.ImageID));
  let n = 0;
  for (const img of images) {
    if (img.Labels?.[LABELS.managed] !== 'true' || img.Labels?.[LABELS.app] !== app) continue;
    if (used.has(img.Id)) continue;
    const tags = (img.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
    try {
      for (const t of tags) await engine.getImage(t).remove();
      if (tags.length === 0) await engine.getImage(img.Id).remove();
      n++;
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status !== 404) log.warn('could not remove an image of a deleted app', { app, image: img.Id.slice(0, 19), error: err });
    }
  }
  if (n) log.info('removed images of a deleted app', { app, count: n });
  return n;
}
