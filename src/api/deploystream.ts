/**
 * The live view of one deploy: the build record as it moves through its stages, its log lines,
 * then the rollout of the release it produced, ending with one `done` event (see docs/api.md).
 */
import { keys, type Build, type PendingSlot, type Release, type ReleaseFailure, type SlotStatus } from '../model/index.js';
import type { Entry } from '../state/index.js';
import type { ApiDeps } from './deps.js';
import { ndjson, type Ctx } from './http.js';
import { appUrl, proxyStatus, routedUrl, slotsOf } from './views.js';

type Done = { type: 'done'; ok: true; release: number; url: string | null; note?: string } | { type: 'done'; ok: false; error: { code: string; message: string }; release?: number; lastLog?: string };

/** The slot's container of `release`: the record itself, or the new container it is rolling out to. */
function ofRelease(s: SlotStatus, release: number): (PendingSlot & { slot: string }) | null {
  if (s.release === release) return s;
  if (s.next?.release === release) return { ...s.next, slot: s.slot };
  return null;
}

export function releaseSlots(slots: SlotStatus[], release: number): (PendingSlot & { slot: string })[] {
  return slots.map((s) => ofRelease(s, release)).filter((s): s is PendingSlot & { slot: string } => s !== null);
}

/** The deploy's verdict for a release a runner gave up (AppService.failRelease). */
export function failureVerdict(release: number, f: ReleaseFailure): Done {
  const back = f.rolledBackTo === null ? 'there was no earlier release to go back to' : `rolled back to v${f.rolledBackTo}`;
  return { type: 'done', ok: false, release, error: { code: 'rollout_failed', message: `release v${release} failed: ${f.reason}; ${back}` }, ...(f.lastLog ? { lastLog: f.lastLog } : {}) };
}

/**
 * Decides whether a release's rollout has finished; null while it is still going.
 * - Given up by a runner (`failure`): failed, saying why and what serves now.
 * - No longer current (a newer deploy or a rollback): done.
 * - A crash of a container that is its slot's record (no older container serves there: a first deploy, or a
 *   crash after its slot's rollout completed): failed at once, nothing will roll it back. A crash of a new
 *   container while the old one still serves (`next`) is not a verdict yet: the runner retries it and gives
 *   the release up after MAX_ROLLOUT_CRASHES crashes or at the health check's deadline.
 * - Done when `replicas` records are the release, running, with no `next` and no `fallback`.
 */
export function rolloutVerdict(release: number, current: number | null, replicas: number, slots: SlotStatus[], failure?: ReleaseFailure): Done | null {
  if (failure) return failureVerdict(release, failure);
  if (current !== release) return { type: 'done', ok: true, release, url: appUrl(slots, current), note: `v${release} is no longer the current release` };
  const bad = slots.find((s) => s.release === release && (s.state === 'backoff' || s.state === 'crashed' || s.state === 'failed'));
  if (bad) {
    const code = bad.lastExitCode === undefined ? '' : ` with code ${bad.lastExitCode}`;
    return { type: 'done', ok: false, release, error: { code: 'rollout_failed', message: `release v${release} does not stay up: ${bad.slot} exited${code}` }, ...(bad.lastLog ? { lastLog: bad.lastLog } : {}) };
  }
  // The runner publishes the record when `fallback` goes away (the old container removed once the new one
  // has served rolloutStableMs), so the stream re-checks then.
  if (slots.filter((s) => s.release === release && s.state === 'running' && !s.fallback && !s.next).length >= replicas) return { type: 'done', ok: true, release, url: appUrl(slots, release) };
  return null;
}

function buildDone(b: Build): Done | null {
  if (b.status === 'failed' || b.status === 'superseded') {
    return { type: 'done', ok: false, error: b.error ?? { code: b.status, message: `build ${b.status}` } };
  }
  return null;
}

export async function streamDeploy(ctx: Ctx, d: ApiDeps, app: string, id: string, follow: boolean): Promise<void> {
  let build = d.apps.build(app, id);
  const out = ndjson(ctx);
  out.send({ type: 'build', build });
  const { lines, close } = await d.buildLogs.open(app, id, (line) => out.send({ type: 'log', line }));
  for (const line of lines) out.send({ type: 'log', line });
  // The record may have moved on while the log was opened (the builder's last lines come just before its
  // final write): read it again before deciding anything, and say so if it changed.
  const fresh = d.store.get<Build>(keys.build(app, id));
  if (fresh && (fresh.status !== build.status || fresh.stage !== build.stage)) out.send({ type: 'build', build: fresh });
  if (fresh) build = fresh;

  const verdict = (): Done | null => {
    const early = buildDone(build);
    if (early || build.status !== 'succeeded' || build.release === undefined) return early;
    const failure = d.store.get<Release>(keys.release(app, build.release))?.failure;
    const v = rolloutVerdict(build.release, d.apps.current(app)?.number ?? null, d.apps.replicas(app), slotsOf(d, app), failure);
    const proxy = v?.ok ? proxyStatus(d.store, d.nodeId) : null;
    return v?.ok && proxy ? { ...v, url: routedUrl(proxy, app) } : v;
  };

  if (!follow) {
    close();
    const v = build.status === 'succeeded' || build.status === 'failed' || build.status === 'superseded' ? verdict() : null;
    if (v) out.send(v);
    out.end();
    return;
  }

  await new Promise<void>((resolve) => {
    let lastRollout = '';
    let timer: NodeJS.Timeout | undefined;
    const finish = (v: Done): void => {
      out.send(v);
      cleanup();
    };
    const cleanup = (): void => {
      d.store.off('change', onChange);
      close();
      if (timer) clearTimeout(timer);
      out.end();
      resolve();
    };
    const check = (): void => {
      if (build.status === 'succeeded' && build.release !== undefined) {
        const slots = releaseSlots(slotsOf(d, app), build.release);
        const snap = JSON.stringify(slots.map((s) => [s.slot, s.state, s.restarts]));
        if (snap !== lastRollout) {
          lastRollout = snap;
          out.send({ type: 'rollout', release: build.release, slots });
        }
        if (!timer) {
          // Past the health check's deadline the runner gives the release up; this is the stream's own bound.
          const limit = Math.max(d.rolloutTimeoutMs ?? 120_000, d.domains.healthcheck(app).deadlineMs + 30_000);
          timer = setTimeout(() => finish({ type: 'done', ok: false, release: build.release, error: { code: 'rollout_failed', message: `release v${build.release} did not get all replicas running within ${Math.round(limit / 1000)} s` } }), limit);
        }
      }
      const v = verdict();
      if (v) finish(v);
    };
    const onChange = (e: Entry): void => {
      if (e.key === keys.app(app) && e.value === null) return finish({ type: 'done', ok: false, error: { code: 'not_found', message: `app ${app} was destroyed` } });
      if (e.key === keys.build(app, id)) {
        if (e.value === null) return finish({ type: 'done', ok: false, error: { code: 'not_found', message: `build ${id} was removed` } });
        const next = e.value as Build;
        if (next.status !== build.status || next.stage !== build.stage) out.send({ type: 'build', build: next });
        build = next;
        return check();
      }
      if ((e.key.startsWith('obs/') && e.key.includes(`/slots/${app}#`)) || e.key === keys.current(app) || e.key === keys.scale(app) || e.key.startsWith(keys.releasePrefix(app))) check();
    };
    d.store.on('change', onChange);
    void out.closed.then(cleanup);
    check();
  });
}
