/**
 * Live deploy progress: renders the agent's DeployEvent stream (docs/api.md) Heroku style — the builder's log
 * with its `-----> Stage` lines as headers and its output indented under them, rollout slot states, one final line.
 */
import type { Build, SlotStatus } from '../model/index.js';
import { CliError } from './args.js';
import { appPath, EXIT, type Ctx } from './context.js';
import { paint, type Output } from './format.js';

export type DoneEvent =
  | { type: 'done'; ok: true; release: number; url: string | null; note?: string }
  | { type: 'done'; ok: false; error: { code: string; message: string }; release?: number; lastLog?: string };

/** A rollout entry: the slot's record, or the new container it is rolling out to (which has no `node`). */
export type RolloutSlot = Pick<SlotStatus, 'slot' | 'state' | 'restarts' | 'release'> & { node?: string; lastExitCode?: number };

export type DeployEvent =
  | { type: 'build'; build: Build }
  | { type: 'log'; line: string }
  | { type: 'rollout'; release: number; slots: RolloutSlot[] }
  | DoneEvent;

const INDENT = '       ';
/** How long to wait for the server to end the stream after the `done` event. */
const DONE_GRACE_MS = 1500;

/** The builder writes its own narrative into the build log: `-----> Step` headers, output indented under them. */
const HEADER = '-----> ';
/** The builder's log line saying that no test gates the release (src/builder/pipeline.ts). */
const NOT_GATED = /not gated/i;

/**
 * Turns events into lines; remembers what it showed so repeated build/rollout records only print changes.
 * The build log is the narrative (the same one `builds:info` replays): its `-----> ` lines become step headers.
 * The build record only adds what the log cannot say yet (queued) or might not say (tests skipped).
 */
export class DeployRenderer {
  build: Build | undefined;
  done: DoneEvent | undefined;
  private stage: string | undefined;
  private sawLog = false;
  private sawNotGated = false;
  private skipNoteShown = false;
  private rolloutRelease: number | undefined;
  private readonly slots = new Map<string, string>();

  constructor(private readonly out: Output) {}

  private step(text: string): void {
    this.out.out(`${paint(this.out.color, 'cyan', '----->')} ${paint(this.out.color, 'bold', text)}`);
  }

  handle(raw: unknown): void {
    const ev = raw as DeployEvent;
    switch (ev?.type) {
      case 'build':
        return this.onBuild(ev.build);
      case 'log':
        return this.onLog(String(ev.line));
      case 'rollout':
        this.skipNote();
        return this.onRollout(ev.release, ev.slots);
      case 'done':
        if (ev.ok) this.skipNote();
        this.done = ev;
        return;
      default:
        return; // newer agents may send more event types: ignore them
    }
  }

  private onLog(text: string): void {
    this.sawLog = true;
    for (const raw of text.replace(/\r/g, '').split('\n')) {
      const line = raw.trimEnd();
      if (line.startsWith(HEADER)) {
        const h = line.slice(HEADER.length).trim();
        if (NOT_GATED.test(h)) this.sawNotGated = true;
        this.step(h);
      } else this.out.out(line.startsWith(INDENT) || line === '' ? line : INDENT + line); // the builder indents its output already
    }
  }

  private onBuild(b: Build): void {
    this.build = b;
    if (b.stage !== this.stage) {
      this.stage = b.stage;
      // Until the builder logs its first line, say why nothing happens yet.
      if (b.stage === 'queued' && !this.sawLog) this.step('Queued: waiting for a builder');
    }
  }

  /**
   * A release not gated by tests gets a note, unless the builder's log said so already. Only decided once the
   * build's log is complete (at the rollout or the end): the log ships in batches and lags the record.
   */
  private skipNote(): void {
    const skipped = this.build?.test?.skipped;
    if (!skipped || this.sawNotGated || this.skipNoteShown) return;
    this.skipNoteShown = true;
    const text = `tests skipped: ${skipped}${NOT_GATED.test(skipped) ? '' : ' (this release is not gated by tests)'}`;
    this.out.out(INDENT + paint(this.out.color, 'yellow', text));
  }

  private onRollout(release: number, slots: RolloutSlot[]): void {
    if (release !== this.rolloutRelease) {
      this.rolloutRelease = release;
      this.step(`Rolling out v${release}`);
    }
    for (const s of slots) {
      const sig = `${s.state}/${s.restarts}`;
      if (this.slots.get(s.slot) === sig) continue;
      this.slots.set(s.slot, sig);
      const bad = s.state === 'crashed' || s.state === 'failed' || s.state === 'backoff';
      const exit = bad && s.lastExitCode !== undefined ? ` (exit ${s.lastExitCode}, ${s.restarts} restarts)` : '';
      const state = paint(this.out.color, s.state === 'running' ? 'green' : bad ? 'red' : 'dim', s.state);
      this.out.out(`${INDENT}${s.slot} ${state}${exit}${s.node ? ` on ${s.node}` : ''}`);
    }
  }
}

/** Which build superseded `build`: the first one of the app created after it. */
async function supersededBy(ctx: Ctx, app: string, build: string): Promise<Build | undefined> {
  try {
    const { builds } = await ctx.client().request<{ builds: Build[] }>('GET', appPath(app, '/builds'));
    const mine = builds.find((b) => b.id === build);
    const after = builds.filter((b) => b.id !== build && (!mine || Date.parse(b.createdAt) >= Date.parse(mine.createdAt)));
    return after.sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt))[0];
  } catch {
    return undefined;
  }
}

/**
 * Follows a build's events until the `done` event: exit 0 released, 1 failed, 130 on Ctrl-C (the deploy
 * itself continues on the node).
 */
export async function followBuild(ctx: Ctx, app: string, buildId: string): Promise<number> {
  const client = ctx.client();
  const renderer = new DeployRenderer(ctx.out);
  const ac = new AbortController();
  let interrupted = false;
  const off = ctx.deps.onInterrupt?.(() => {
    interrupted = true;
    ac.abort();
  });
  const check = `pleaco builds:info ${app} ${buildId}`;
  // After `done` the agent ends the stream; should it not, stop waiting after a grace period. (Never abort a
  // response that already ended: Node keeps the signal on the pooled keep-alive socket and would destroy it.)
  let grace: NodeJS.Timeout | undefined;
  try {
    const path = appPath(app, `/builds/${encodeURIComponent(buildId)}/events?follow=1`);
    await client.stream(
      path,
      (ev) => {
        renderer.handle(ev);
        if (renderer.done && !grace) grace = setTimeout(() => ac.abort(), DONE_GRACE_MS);
      },
      { signal: ac.signal },
    );
  } catch (err) {
    if (interrupted) {
      ctx.out.err('');
      ctx.out.err(`Stopped following. The deploy continues on the node; check on it with: ${check}`);
      return EXIT.interrupted;
    }
    if (!renderer.done) throw err;
  } finally {
    clearTimeout(grace);
    off?.();
  }
  const done = renderer.done;
  if (!done) throw new CliError('the event stream ended before the deploy finished; it may still be running on the node', 1, [`Check on it with: ${check}`]);
  if (done.ok) {
    ctx.out.out(`${paint(ctx.out.color, 'green', `Released v${done.release}`)}${done.url ? ` — ${done.url}` : ''}`);
    if (done.note) ctx.out.out(`(${done.note})`);
    return EXIT.ok;
  }
  if (done.lastLog) {
    ctx.out.err('Last output of the failing replica:');
    for (const line of done.lastLog.trimEnd().split('\n')) ctx.out.err(`${INDENT}${line}`);
  }
  ctx.out.err(`${paint(ctx.out.errColor ?? ctx.out.color, 'red', 'Deploy failed:')} ${done.error.message} (${done.error.code})`);
  if (done.error.code === 'superseded') {
    const by = await supersededBy(ctx, app, buildId);
    if (by) ctx.out.err(`Superseded by build ${by.id} (${by.ref}, ${by.status}); follow it with: pleaco builds:info ${app} ${by.id} -f`);
    else ctx.out.err('A newer deploy of this app replaced it; see pleaco builds ' + app);
  }
  return EXIT.error;
}
