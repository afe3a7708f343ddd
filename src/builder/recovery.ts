/**
 * Recovery of builds left 'running' on this node with nobody working on them. At start they come from a previous
 * life of the builder (a crash: a clean stop records 'interrupted' itself); while it runs, from a claim the agent
 * recorded but whose answer never reached us, or any other lost record. Choice: re-queue such a build once
 * (status 'queued', retried: true), because most crashes (OOM kill, host reboot) are transient and the user should
 * not have to deploy again; a build that was already retried, or that a newer build of the app has overtaken,
 * fails with 'interrupted' so a build that kills the builder cannot loop forever.
 */
import type { StateView } from '../link/index.js';
import type { Logger } from '../log.js';
import { keys, recoveredBuild, type Build } from '../model/index.js';

/** A build record as the worker writes it (`retried` marks a build re-queued after a crash). */
export type WorkerBuild = Build;

export interface RecoveryDeps {
  view: StateView;
  putBuild(build: WorkerBuild): Promise<void>;
  log: Logger;
  /** True for a build 'running' on this node that this process does not run and is not claiming. */
  isOrphan(key: string, b: WorkerBuild): boolean;
  /** True once the worker stops: recovery ends early. */
  stopping(): boolean;
}


/** Settles every orphan build of this node; `cause` names what left them behind in the log. */
export async function recoverBuilds(d: RecoveryDeps, message: string, cause: string): Promise<void> {
  for (const { key, value } of d.view.list<WorkerBuild>('builds/')) {
    if (d.stopping()) return;
    const b = d.view.get<WorkerBuild>(key) ?? value; // current: an earlier put may have taken a while
    if (!d.isOrphan(key, b)) continue;
    const newer = d.view.list<Build>(keys.buildPrefix(b.app)).some((o) => o.value.createdAt > b.createdAt);
    const next = recoveredBuild(b, newer, message, new Date());
    try {
      await d.putBuild(next);
      d.log.info(next.status === 'queued' ? `re-queued a build interrupted by ${cause}` : `failed a build interrupted by ${cause}`, { app: b.app, build: b.id });
    } catch (err) {
      d.log.warn('could not recover a build record', { key, error: err });
    }
  }
}
