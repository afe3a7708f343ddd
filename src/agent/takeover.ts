/**
 * Builds on a node that left: a build `running` on a node the membership holds dead or departed (or no longer knows)
 * has no builder any more. The app's owner settles it like a crashed builder's own recovery would (model:
 * recoveredBuild: re-queued once, then any node's builder claims it from the owner; or failed 'interrupted'). Only
 * the owner does, under the app's lock, so two nodes never settle the same build differently.
 */
import type { Logger } from '../log.js';
import { keys, liveMemberIds, recoveredBuild, type Build, type ClusterMember } from '../model/index.js';
import type { Store } from '../state/index.js';
import type { AppService } from './apps.js';

export interface TakeoverOptions {
  store: Store;
  apps: AppService;
  self: string;
  members: () => ClusterMember[];
  /** The owner of an app's decisions as this node sees it. */
  owner: (app: string) => string;
  log: Logger;
  now?: () => Date;
}

/** Builds `running` on a node that is not a live member. */
export function buildsOnLostNodes(store: Pick<Store, 'list'>, members: readonly ClusterMember[], self: string): Build[] {
  const live = liveMemberIds(members, self);
  return store.list<Build>('builds/').map((e) => e.value).filter((b) => b.status === 'running' && typeof b.node === 'string' && !live.has(b.node));
}

/** One pass: settles the lost builds of the apps this node owns; how many. */
export async function takeOverBuilds(o: TakeoverOptions): Promise<number> {
  let n = 0;
  for (const b of buildsOnLostNodes(o.store, o.members(), o.self)) {
    if (o.owner(b.app) !== o.self) continue;
    const done = await o.apps.withApp(b.app, async () => {
      const cur = o.store.get<Build>(keys.build(b.app, b.id));
      if (cur?.status !== 'running' || cur.node !== b.node) return false; // settled meanwhile
      const newer = o.store.list<Build>(keys.buildPrefix(b.app)).some((x) => x.value.createdAt > cur.createdAt);
      const next = recoveredBuild(cur, newer, `its builder's node ${cur.node} left the cluster`, (o.now ?? (() => new Date()))());
      await o.store.put(keys.build(b.app, b.id), next);
      o.log.info(next.status === 'queued' ? 're-queued a build whose node left the cluster' : 'failed a build whose node left the cluster', { app: b.app, build: b.id, node: cur.node });
      return true;
    }).catch((err: unknown) => {
      o.log.warn('could not take over a build', { app: b.app, build: b.id, error: err instanceof Error ? err.message : String(err) });
      return false;
    });
    if (done) n++;
  }
  return n;
}
