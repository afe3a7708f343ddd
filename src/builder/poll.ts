/**
 * What the builder hands the Poller (src/source): every app with its branch and the commit pleaco last built
 * or released for it (the worker queues a deploy of a new commit through the agent).
 */
import { appSpecs, buildsOf, currentRelease, type StateReader } from '../model/index.js';
import type { PolledApp } from '../source/index.js';

/**
 * lastCommit: the commit of the app's newest build of its branch (any status, so a failed commit is not
 * rebuilt on every tick; builds pinned to a commit, as poll and webhook builds are, count), else the current
 * release's. Apps with a queued or running build of the branch are left out: that build takes the head anyway.
 */
export function pollTargets(state: StateReader): PolledApp[] {
  const out: PolledApp[] = [];
  for (const spec of appSpecs(state)) {
    const builds = buildsOf(state, spec.name);
    if (builds.some((b) => (b.status === 'queued' || b.status === 'running') && (b.ref === spec.branch || !b.commit))) continue;
    const forBranch = builds
      .filter((b) => b.commit && (b.ref === spec.branch || b.ref === `refs/heads/${spec.branch}` || b.ref === b.commit))
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
    let lastCommit = forBranch[0]?.commit ?? null;
    if (!lastCommit) lastCommit = currentRelease(state, spec.name)?.commit ?? null;
    out.push({ app: spec.name, repo: spec.repo, branch: spec.branch, ...(spec.pollIntervalMs !== undefined ? { intervalMs: spec.pollIntervalMs } : {}), lastCommit });
  }
  return out;
}
