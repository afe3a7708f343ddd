/**
 * No release is lost to a partition. While cut off, both sides may number a release of the same app `vN` (each side
 * has its own owner); when they heal, LWW keeps the one written last under `releases/<app>/vN` and the other value
 * disappears from every map. Each node that held the losing one (the store tells it: 'overwritten') hands it to the
 * app's owner, which gives it the next free number, marked `renumberedFrom` (AppService.readoptRelease: idempotent,
 * so the several nodes of the losing side keep it once). Which release stays current follows `current/<app>`'s own
 * LWW: the release written last. Retried with backoff while the owner does not answer (a heal is when views differ).
 * The app spec itself can lose the same way (one name made in two clusters that merged): the owner then drops the
 * other app's releases and says so in `clashes/<app>` (AppService.resolveClash, agent/clash.ts).
 */
import type { Logger } from '../log.js';
import { parseKey, type AppSpec, type Release } from '../model/index.js';
import type { Entry, Store } from '../state/index.js';
import type { AppService } from './apps.js';
import { sameRelease } from './clash.js';

const RETRIES = 8;

export function watchReleases(store: Store, apps: Pick<AppService, 'readoptRelease' | 'resolveClash'>, log: Logger): () => void {
  const onOverwritten = (prev: Entry, next: Entry): void => {
    const parsed = parseKey(prev.key);
    if (parsed.ok && parsed.shape.layout === 'apps/<app>') return void onApp(apps, parsed.parts.app!, prev.value as AppSpec, next.value as AppSpec | null, log);
    if (!parsed.ok || parsed.shape.layout !== 'releases/<app>/<release>') return;
    const lost = prev.value as Release;
    if (!lost || typeof lost !== 'object' || sameRelease(lost, next.value as Release | null)) return;
    const app = parsed.parts.app!;
    log.warn('a release lost its number to one made elsewhere (a partition): keeping it under a new number', { app, release: lost.number, build: lost.build, writtenBy: prev.ts.node, winner: next.ts.node });
    void readopt(apps, app, lost, log);
  };
  store.on('overwritten', onOverwritten);
  return () => void store.off('overwritten', onOverwritten);
}

/** The app spec itself lost to one made elsewhere (two clusters merged): the owner makes the name follow the kept one. */
function onApp(apps: Pick<AppService, 'resolveClash'>, app: string, lost: AppSpec | null, kept: AppSpec | null, log: Logger): void {
  if (!lost || !kept || typeof lost !== 'object' || lost.createdAt === kept.createdAt) return;
  log.warn('an app of this name was made on both sides of a merge: the one written last is kept, the other is dropped', { app, kept: { repo: kept.repo, createdAt: kept.createdAt }, dropped: { repo: lost.repo, createdAt: lost.createdAt } });
  void retried(() => apps.resolveClash(app, lost), (err) => log.error('could not resolve an app name made on both sides of a merge', { app, error: err instanceof Error ? err.message : String(err) }));
}

async function readopt(apps: Pick<AppService, 'readoptRelease'>, app: string, lost: Release, log: Logger): Promise<void> {
  await retried(async () => {
    const kept = await apps.readoptRelease(app, lost);
    if (kept) log.info('release kept under a new number', { app, was: lost.number, now: kept.number });
  }, (err) => {
    // Not its config: it holds the app's secrets. Its image and commit are enough to deploy it again.
    log.error('could not keep a release that lost its number (deploy its image again to restore it)', { app, release: lost.number, build: lost.build, commit: lost.commit, image: lost.image, createdAt: lost.createdAt, error: err instanceof Error ? err.message : String(err) });
  });
}

/** Runs fn, again with backoff (0.5 s doubling) while it throws (the owner does not answer during a heal); gives up after RETRIES. */
async function retried(fn: () => Promise<void>, onGiveUp: (err: unknown) => void): Promise<void> {
  for (let i = 0; i < RETRIES; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i === RETRIES - 1) return onGiveUp(err);
      await new Promise((r) => setTimeout(r, 500 * 2 ** i));
    }
  }
}
