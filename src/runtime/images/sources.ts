/**
 * Where an image can be fetched from, and which images a node keeps, read from the replicated records (pure over a
 * StateReader). An image is asked for only when a build or a release of the app names it: its build's node made it,
 * and the nodes whose slots run a release of it have it; any other live member may have it too.
 */
import { appSpecs, buildsOf, currentRelease, keys, type Build, type Release, type SlotStatus, type StateReader } from '../../model/index.js';
import { isImageTag } from './loadtar.js';

export interface ImageRecords {
  /** Members named by the records, most likely first: the build's node, then nodes running it. */
  nodes: string[];
  /** The tag the builder gave it (`pleaco/<app>:<build>`), when a record has one. */
  tag: string | null;
}

const SLOT_KEY_RE = /^obs\/([^/]+)\/slots\/([^#/]+)#\d+$/;

/** What the app's records say about `imageId`; null when no build or release of the app names it. */
export function imageRecords(state: StateReader, app: string, imageId: string): ImageRecords | null {
  const builds = buildsOf(state, app).filter((b) => b?.imageId === imageId);
  const releases = state.list<Release>(keys.releasePrefix(app)).map((e) => e.value).filter((r) => r?.imageId === imageId);
  if (builds.length === 0 && releases.length === 0) return null;
  const nodes: string[] = [];
  const add = (n: unknown): void => {
    if (typeof n === 'string' && n && !nodes.includes(n)) nodes.push(n);
  };
  for (const r of releases) if (r.build) add(state.get<Build>(keys.build(app, r.build))?.node);
  for (const b of builds) add(b.node);
  const numbers = new Set(releases.map((r) => r.number));
  for (const { key, value } of state.list<SlotStatus>('obs/')) {
    const m = SLOT_KEY_RE.exec(key);
    if (!m || m[2] !== app || !value) continue;
    if ((value.state === 'running' && numbers.has(value.release)) || (value.fallback && numbers.has(value.fallback.release))) add(m[1]);
  }
  const tag = [...releases.map((r) => r.image), ...builds.map((b) => b.image)].find(isImageTag) ?? null;
  return { nodes, tag };
}

/**
 * The image ids (and tags) a node keeps of what it received: every app's current release, its last `keep` releases
 * (the rollback targets) and its queued and running builds. The builder's collection keeps the same set.
 */
export function imagesToKeep(state: StateReader, keep: number, mode: 'normal' | 'emergency'): Set<string> {
  const out = new Set<string>();
  const add = (r: Pick<Release, 'image' | 'imageId'> | undefined): void => {
    if (r?.image) out.add(r.image);
    if (r?.imageId) out.add(r.imageId);
  };
  for (const app of appSpecs(state)) {
    add(currentRelease(state, app.name));
    if (mode === 'normal') {
      const releases = state.list<Release>(keys.releasePrefix(app.name)).map((e) => e.value).sort((a, b) => b.number - a.number);
      for (const r of releases.slice(0, keep)) add(r);
    }
    for (const b of buildsOf(state, app.name)) {
      if (b.status !== 'running' && (b.status !== 'queued' || mode === 'emergency')) continue;
      out.add(`pleaco/${app.name}:${b.id}`);
      if (b.imageId) out.add(b.imageId);
    }
  }
  return out;
}
