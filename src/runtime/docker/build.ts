/**
 * Image builds on the Engine's own build API (POST /build, the classic builder; no BuildKit session needed).
 * Never pulls: there is no registry here, so `pull` is not sent at all (Engine 20.10 only pulls FROM images that
 * are missing locally, or all of them when `pull` is truthy). Memory and CPU shares apply to every RUN step's
 * container; intermediate containers are always removed (rm + forcerm). The JSON progress stream becomes lines.
 * A build takes as long as its steps do: it has no total deadline here (the pipeline has one), but it ends as
 * `docker_unavailable` once the Engine stops answering pings while it runs (deadline.ts).
 */
import type Docker from 'dockerode';
import { PleacoError, isPleacoError } from '../../errors.js';
import { engineUnavailable, isEngineDown, type ImageBuildRequest } from '../engine.js';
import { bounded, getJson, liveness, type EngineDeadlines } from './deadline.js';
import { LineSplitter } from './lines.js';

interface ProgressEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: { ID?: string };
}

/** The Engine's build error as `build_failed`, an abort as its reason, an unreachable Engine as `docker_unavailable`. */
function wrap(err: unknown, where: string, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return signal.reason ?? err;
  if (isPleacoError(err)) return err;
  if (isEngineDown(err)) return engineUnavailable(where, err);
  const e = err as { statusCode?: number; json?: { message?: string }; message?: string };
  if (typeof e?.statusCode === 'number') {
    const msg = e.json?.message ?? e.message ?? `HTTP ${e.statusCode}`;
    return new PleacoError('build_failed', msg.replace(/^\(HTTP code \d+\) [a-z ]+ - /, '').trim(), { cause: err });
  }
  return err;
}

export async function buildImage(docker: Docker, where: string, request: ImageBuildRequest, d: EngineDeadlines): Promise<{ imageId: string }> {
  request.signal?.throwIfAborted();
  // From here on the request's signal also ends the build when the Engine stops answering.
  const live = liveness(docker, where, d, request.signal);
  const req = { ...request, signal: live.signal };
  try {
    let res: NodeJS.ReadableStream;
    try {
      res = await docker.buildImage(req.context, {
        t: req.tag,
        dockerfile: req.dockerfile ?? 'Dockerfile',
        memory: req.memoryBytes,
        memswap: req.memoryBytes, // equal to memory: no swap on top of the limit
        cpushares: req.cpuShares,
        rm: true,
        forcerm: true,
        abortSignal: req.signal,
      } as Parameters<Docker['buildImage']>[1]);
    } catch (err) {
      throw wrap(err, where, req.signal);
    }
    const auxId = await follow(res, req, where);
    // The tag is the source of truth; the aux ID (when sent) must agree with it.
    let id: string;
    try {
      id = (await bounded(where, d.callMs, (signal) => getJson<{ Id: string }>(docker, `/images/${req.tag}/json`, { 200: true, 404: 'no such image', 500: 'server error' }, signal), req.signal)).Id;
    } catch (err) {
      throw wrap(err, where, req.signal);
    }
    if (auxId && auxId !== id) req.onLog(`warning: engine reported image ${auxId} but ${req.tag} is ${id}`);
    return { imageId: id };
  } finally {
    live.stop();
  }
}

/** Turns one progress event into log lines; returns the failure message when it is an error event. */
function progress(ev: ProgressEvent, text: LineSplitter, step: string): string | null {
  if (ev.stream) text.push(ev.stream);
  else if (ev.status) text.push(ev.status + '\n');
  if (!ev.error && !ev.errorDetail) return null;
  let failure = (ev.errorDetail?.message ?? ev.error ?? 'build failed').trim();
  // A FROM image missing locally makes the classic builder try a registry, whose error does not name it.
  const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)/i.exec(step);
  if (from && !failure.includes(from[1]!)) failure = `base image ${from[1]} is not on this node and could not be pulled: ${failure}`;
  return failure;
}

/** Reads the JSON progress stream; resolves with aux.ID, rejects with build_failed on an error event. */
function follow(res: NodeJS.ReadableStream, req: ImageBuildRequest, where: string): Promise<string | null> {
  return new Promise((resolve, reject) => {
    let auxId: string | null = null;
    let failure: string | null = null;
    let settled = false;
    let step = '';
    const text = new LineSplitter((line) => {
      if (/^Step \d+\/\d+ : /.test(line)) step = line.replace(/^Step \d+\/\d+ : /, '');
      req.onLog(line);
    });
    const handle = (raw: string): void => {
      if (!raw.trim()) return;
      let ev: ProgressEvent;
      try {
        ev = JSON.parse(raw) as ProgressEvent;
      } catch {
        text.push(raw + '\n');
        return;
      }
      if (ev.aux?.ID) auxId = ev.aux.ID;
      const failed = progress(ev, text, step);
      if (failed) {
        failure = failed;
        text.end();
        req.onLog(failed);
      }
    };
    const done = (err: unknown): void => {
      if (settled) return;
      settled = true;
      if (err) return reject(err);
      if (failure) return reject(new PleacoError('build_failed', failure));
      resolve(auxId);
    };
    const aborted = (): unknown => wrap(new Error('aborted'), where, req.signal);
    let pending = '';
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
      done(req.signal?.aborted ? aborted() : null);
    });
    res.on('error', (err) => done(wrap(err, where, req.signal)));
    res.on('close', () => {
      if (!settled && req.signal?.aborted) done(aborted());
    });
  });
}
