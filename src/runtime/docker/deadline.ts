/**
 * Every call to the Engine ends, answered or not. A wedged dockerd (frozen, deadlocked, swapping) accepts
 * connections on its socket and never answers; without deadlines every caller would wait with it: the runner's loop,
 * the deploy route, health. Three kinds of deadline, each ending the call (its socket closed through the request's
 * abort signal, which dockerode passes to http.request) as `docker_unavailable`:
 *  - a call answered as a whole (inspect, list, create, start, remove, tag, kill, version): `callMs` (`pingMs` for
 *    the version call behind ping()); stop() adds its grace time;
 *  - a stream (logs follow, events, attach, an export): until the Engine starts answering (`firstByteMs`), never its
 *    length: a followed log may be silent for hours;
 *  - a call whose length is the work's (a build, an image load, a job's wait, an image export being read): the
 *    Engine is pinged every `livenessEveryMs` while it runs, and the call ends after `livenessFailures` unanswered
 *    pings in a row (a dockerd frozen for a few seconds is waited for; one that stays frozen is not).
 */
import type Docker from 'dockerode';
import { PleacoError } from '../../errors.js';
import { isEngineDown, type EngineStatus } from '../engine.js';

export interface EngineDeadlines {
  /** The version call behind ping(). */
  pingMs: number;
  /** A call answered as a whole. */
  callMs: number;
  /** A stream, until its first answer. */
  firstByteMs: number;
  /** Ping period while a long call runs. */
  livenessEveryMs: number;
  /** Unanswered pings in a row that end a long call. */
  livenessFailures: number;
}

export const DEFAULT_DEADLINES: EngineDeadlines = { pingMs: 3000, callMs: 30_000, firstByteMs: 30_000, livenessEveryMs: 10_000, livenessFailures: 2 };

export function deadlinesOf(over: Partial<EngineDeadlines> | undefined): EngineDeadlines {
  return { ...DEFAULT_DEADLINES, ...over };
}

/**
 * The defaults stretched `scale` times (config `docker.deadlineScale`): for a host whose engine is slow by nature, such
 * as VMs emulated without KVM. The count of failed liveness pings stays; only waiting gets longer.
 */
export function scaledDeadlines(scale: number): EngineDeadlines {
  const d = DEFAULT_DEADLINES;
  const x = (ms: number): number => Math.round(ms * scale);
  return { pingMs: x(d.pingMs), callMs: x(d.callMs), firstByteMs: x(d.firstByteMs), livenessEveryMs: x(d.livenessEveryMs), livenessFailures: d.livenessFailures };
}

/** The error of a call the Engine did not answer in time. */
export function notAnswering(where: string, ms: number): PleacoError {
  return new PleacoError('docker_unavailable', `Docker Engine at ${where} did not answer within ${ms / 1000} s`);
}

/** Options of a dockerode call with the request's abort signal (dockerode hands `abortSignal` to http.request). */
export function withSignal<T extends object>(opts: T, signal: AbortSignal): T {
  return { ...opts, abortSignal: signal };
}

/**
 * Runs one Engine call with `ms` to answer (for a stream: to start answering). The call gets the signal to pass on:
 * at the deadline it aborts, and the call rejects as `docker_unavailable`; the caller's own `outer` abort passes
 * through as it is. Once the call has answered, the deadline no longer applies (a stream stays bound to `outer`).
 */
export async function bounded<T>(where: string, ms: number, call: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<T> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(notAnswering(where, ms)), ms);
  const signal = outer ? AbortSignal.any([outer, deadline.signal]) : deadline.signal;
  try {
    return await call(signal);
  } catch (err) {
    if (deadline.signal.aborted && !outer?.aborted) throw deadline.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** A GET dockerode has no abortable method for (version, image inspect), through its modem. */
export function getJson<T>(docker: Docker, path: string, statusCodes: Record<number, true | string>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const modem = docker.modem as { dial(o: object, cb: (err: unknown, data: unknown) => void): void };
    modem.dial({ path, method: 'GET', options: {}, abortSignal: signal, statusCodes }, (err, data) => (err ? reject(err) : resolve(data as T)));
  });
}

/** A streamed GET dockerode has no abortable method for (an image's `docker save` tarball), through its modem. */
export function getStream(docker: Docker, path: string, statusCodes: Record<number, true | string>, signal: AbortSignal): Promise<NodeJS.ReadableStream> {
  return new Promise((resolve, reject) => {
    const modem = docker.modem as { dial(o: object, cb: (err: unknown, data: unknown) => void): void };
    modem.dial({ path, method: 'GET', isStream: true, options: {}, abortSignal: signal, statusCodes }, (err, data) => (err ? reject(err) : resolve(data as NodeJS.ReadableStream)));
  });
}

/** The Engine's version, within `ms`; never throws. */
export async function pingDocker(docker: Docker, where: string, ms: number): Promise<EngineStatus> {
  try {
    const v = await bounded(where, ms, (signal) => getJson<{ Version: string }>(docker, '/version', { 200: true, 500: 'server error' }, signal));
    return { ok: true, version: v.Version };
  } catch (err) {
    if (err instanceof PleacoError && err.code === 'docker_unavailable') return { ok: false, error: `Docker Engine did not answer within ${ms / 1000} s` };
    return { ok: false, error: isEngineDown(err) ? 'Docker Engine is not reachable' : (err as Error).message };
  }
}

/**
 * Watches the Engine while a long call runs: the returned signal (which also follows `outer`) aborts with
 * `docker_unavailable` once `livenessFailures` pings in a row went unanswered. stop() ends the watch.
 */
export function liveness(docker: Docker, where: string, d: EngineDeadlines, outer?: AbortSignal): { signal: AbortSignal; stop(): void } {
  const dead = new AbortController();
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const check = async (): Promise<void> => {
    const st = await pingDocker(docker, where, d.pingMs);
    if (stopped) return;
    failures = st.ok ? 0 : failures + 1;
    if (failures >= d.livenessFailures) {
      dead.abort(new PleacoError('docker_unavailable', `Docker Engine at ${where} stopped answering (${failures} checks in a row: ${st.ok ? '' : st.error})`));
      return;
    }
    timer = setTimeout(() => void check(), d.livenessEveryMs).unref();
  };
  timer = setTimeout(() => void check(), d.livenessEveryMs).unref();
  return {
    signal: outer ? AbortSignal.any([outer, dead.signal]) : dead.signal,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
