/**
 * DockerBuilder: the Engine's own build API (POST /build, the classic builder; no BuildKit session needed).
 * Never pulls: there is no registry here, so `pull` is not sent at all (Engine 20.10 only pulls FROM
 * images that are missing locally, or all of them when `pull` is truthy). Memory and CPU shares apply
 * to every RUN step's container; intermediate containers are always removed (rm + forcerm).
 */
import { PleacoError, isPleacoError } from '../errors.js';
import { engineError, isEngineDown, pingEngine, type Engine } from '../runtime/engine.js';
import type { BuildRequest, Builder } from './builder.js';
import { DockerfileLabeler, LABELLED_DOCKERFILE } from './tarlabel.js';
import { LineSplitter } from './streams.js';

interface ProgressEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: { ID?: string };
}

export class DockerBuilder implements Builder {
  readonly name = 'docker' as const;

  constructor(
    private readonly engine: Engine,
    private readonly socketPath: string,
  ) {}

  async available(): Promise<{ ok: boolean; reason?: string }> {
    const ping = await pingEngine(this.engine);
    return ping.ok ? { ok: true } : { ok: false, reason: `Docker Engine is not reachable at ${this.socketPath}: ${ping.error}` };
  }

  async build(req: BuildRequest): Promise<{ imageId: string }> {
    req.signal?.throwIfAborted();
    // One signal for the request: the caller's abort, or the context stream failing (a git archive error
    // would otherwise leave the Engine waiting for the rest of the tar).
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(req.signal?.reason);
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const onContextError = (err: Error): void => ac.abort(new PleacoError('build_failed', `could not read the build context: ${err.message}`, { cause: err }));
    req.context.on('error', onContextError);
    try {
      let res: NodeJS.ReadableStream;
      try {
        // All labels in one LABEL step of a copy of the Dockerfile (see tarlabel.ts), not one step each.
        const context = req.context.pipe(new DockerfileLabeler(req.labels));
        req.context.on('error', (err: Error) => context.destroy(err));
        res = await this.engine.buildImage(context, {
          t: req.tag,
          dockerfile: LABELLED_DOCKERFILE,
          memory: req.memoryBytes,
          memswap: req.memoryBytes, // equal to memory: no swap on top of the limit
          cpushares: req.cpuShares,
          rm: true,
          forcerm: true,
          abortSignal: ac.signal,
        } as Parameters<Engine['buildImage']>[1]);
      } catch (err) {
        throw this.wrap(err, ac.signal);
      }
      const auxId = await this.follow(res, req, ac.signal);
      // The tag is the source of truth; the aux ID (when sent) must agree with it.
      let id: string;
      try {
        id = (await this.engine.getImage(req.tag).inspect()).Id;
      } catch (err) {
        throw this.wrap(err, ac.signal);
      }
      if (auxId && auxId !== id) req.onLog(`warning: engine reported image ${auxId} but ${req.tag} is ${id}`);
      return { imageId: id };
    } finally {
      req.signal?.removeEventListener('abort', onAbort);
      req.context.removeListener('error', onContextError);
      req.context.on('error', () => undefined); // a late error of an abandoned context must not crash the process
    }
  }

  /** Reads the JSON progress stream; resolves with aux.ID, rejects with build_failed on an error event. */
  private follow(res: NodeJS.ReadableStream, req: BuildRequest, signal: AbortSignal): Promise<string | null> {
    return new Promise((resolve, reject) => {
      let auxId: string | null = null;
      let failure: string | null = null;
      let settled = false;
      let step = '';
      const text = new LineSplitter((line) => {
        if (/^Step \d+\/\d+ : /.test(line)) step = line.replace(/^Step \d+\/\d+ : /, '');
        req.onLog(line);
      });
      let pending = '';
      const handle = (raw: string): void => {
        if (!raw.trim()) return;
        let ev: ProgressEvent;
        try {
          ev = JSON.parse(raw) as ProgressEvent;
        } catch {
          text.push(raw + '\n');
          return;
        }
        if (ev.stream) text.push(ev.stream);
        else if (ev.status) text.push(ev.status + '\n');
        if (ev.aux?.ID) auxId = ev.aux.ID;
        if (ev.error || ev.errorDetail) {
          failure = (ev.errorDetail?.message ?? ev.error ?? 'build failed').trim();
          // A FROM image missing locally makes the classic builder try a registry, whose error does not name it.
          const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)/i.exec(step);
          if (from && !failure.includes(from[1]!)) failure = `base image ${from[1]} is not on this node and could not be pulled: ${failure}`;
          text.end();
          req.onLog(failure);
        }
      };
      const done = (err: unknown): void => {
        if (settled) return;
        settled = true;
        if (err) return reject(err);
        if (failure) return reject(new PleacoError('build_failed', failure));
        resolve(auxId);
      };
      res.on('data', (chunk: Buffer) => {
        pending += chunk.toString('utf8');
        let i: number;
        while ((i = pending.indexOf('\n')) >= 0) {
          handle(pending.slice(0, i));
          pending = pending.slice(i + 1);
        }
      });
      res.on('end', () => {
        handle(pending);
        text.end();
        done(signal.aborted ? this.wrap(new Error('aborted'), signal) : null);
      });
      res.on('error', (err) => done(this.wrap(err, signal)));
      res.on('close', () => {
        if (!settled && signal.aborted) done(this.wrap(new Error('aborted'), signal));
      });
    });
  }

  private wrap(err: unknown, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted) return signal.reason ?? err;
    if (isPleacoError(err)) return err;
    if (isEngineDown(err)) return engineError(err, this.socketPath);
    const e = err as { statusCode?: number; json?: { message?: string }; message?: string };
    if (typeof e?.statusCode === 'number') {
      const msg = e.json?.message ?? e.message ?? `HTTP ${e.statusCode}`;
      return new PleacoError('build_failed', msg.replace(/^\(HTTP code \d+\) [a-z ]+ - /, '').trim(), { cause: err });
    }
    return err;
  }
}
