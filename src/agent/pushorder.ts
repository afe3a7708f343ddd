/**
 * The release-time rule of pushes (AppService.createRelease runs it under the app's lock): a webhook or poll build
 * never moves an app backwards. Pure over the state it reads.
 */
import { PleacoError } from '../errors.js';
import { currentRelease, keys, type Build, type Release, type ReleaseInput, type StateReader } from '../model/index.js';

/**
 * A push (webhook or poll build) never moves an app backwards, even when two builders ran builds of the branch at
 * once and finish in the wrong order: its release is refused (409 superseded) when its commit was released before,
 * or when the current release comes from a build queued after it (which fetched the branch later). The builder
 * checks git ancestry itself (pipeline.ts); this is the check that holds under the app's lock.
 */
export function checkPushOrder(state: StateReader, name: string, input: ReleaseInput, all: Release[]): void {
  const build = state.get<Build>(keys.build(name, input.build));
  if (!build || (build.trigger !== 'webhook' && build.trigger !== 'poll')) return;
  const same = all.find((r) => r.kind === 'deploy' && r.commit === input.commit);
  if (same) throw new PleacoError('superseded', `commit ${input.commit.slice(0, 7)} was already released as v${same.number}`);
  const cur = currentRelease(state, name);
  const curBuild = cur?.build ? state.get<Build>(keys.build(name, cur.build)) : undefined;
  if (curBuild && (curBuild.createdAt > build.createdAt || (curBuild.createdAt === build.createdAt && curBuild.id > build.id))) {
    throw new PleacoError('superseded', `v${cur!.number} comes from build ${curBuild.id}, queued after this push; a push never moves an app backwards`);
  }
}
