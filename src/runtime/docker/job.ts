/**
 * Job containers on Docker Engine: a one-off container run to its end (a test command, a kaniko executor) with its
 * output as lines, a timeout, an abort and the OOM verdict; and an image's files, read by exporting a container
 * created (never started) from it. Both containers are labelled (io.pleaco.managed, the caller's role) and always
 * removed, also when the run fails or is aborted. Every call has its deadline (deadline.ts): the run itself lasts as
 * long as the job (its timeout and abort bound it), and ends as `docker_unavailable` once the Engine stops answering.
 */
import type Docker from 'dockerode';
import { PleacoError } from '../../errors.js';
import { LABELS } from '../../model/index.js';
import { engineUnavailable, isEngineDown, type JobResult, type JobSpec } from '../engine.js';
import { bounded, liveness, withSignal, type EngineDeadlines } from './deadline.js';
import { FrameDecoder } from './logs.js';
import { LineSplitter } from './lines.js';

function wrap(err: unknown, where: string): unknown {
  return err instanceof PleacoError || !isEngineDown(err) ? err : engineUnavailable(where, err);
}

function createOptions(spec: JobSpec): Docker.ContainerCreateOptions {
  return {
    Image: spec.image,
    ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
    Cmd: spec.cmd,
    Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
    Labels: { [LABELS.managed]: 'true', ...spec.labels },
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    OpenStdin: false,
    HostConfig: {
      Memory: spec.memoryBytes,
      MemorySwap: spec.memoryBytes,
      ...(spec.cpuShares ? { CpuShares: spec.cpuShares } : {}),
      ...(spec.mounts?.length ? { Binds: spec.mounts.map((m) => `${m.source}:${m.target}${m.readOnly ? ':ro' : ''}`) } : {}),
      ...(spec.pids ? { PidsLimit: spec.pids } : {}),
      SecurityOpt: ['no-new-privileges'],
      PublishAllPorts: false,
      PortBindings: {},
      AutoRemove: false,
    },
  };
}

/** Attaches to both output streams (before start, so nothing is lost); resolves when they end. */
async function attachLines(container: Docker.Container, onLine: (line: string) => void, signal: AbortSignal, firstByte: (call: (s: AbortSignal) => Promise<NodeJS.ReadWriteStream>) => Promise<NodeJS.ReadWriteStream>): Promise<{ ended: Promise<void>; end(): void }> {
  const stream = await firstByte((s) => container.attach(withSignal({ stream: true, stdout: true, stderr: true }, AbortSignal.any([s, signal]))));
  const out = new LineSplitter(onLine);
  const errs = new LineSplitter(onLine);
  const frames = new FrameDecoder((kind, data) => (kind === 'stderr' ? errs : out).push(data));
  const ended = new Promise<void>((resolve) => {
    stream.on('data', (c: Buffer) => frames.push(c));
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', () => resolve());
  });
  return { ended, end: () => (out.end(), errs.end()) };
}

export async function runJob(docker: Docker, where: string, spec: JobSpec, d: EngineDeadlines): Promise<JobResult> {
  spec.signal?.throwIfAborted();
  const call = <T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> => bounded(where, d.callMs, fn);
  let container: Docker.Container;
  try {
    container = await call((signal) => docker.createContainer(withSignal(createOptions(spec), signal)));
  } catch (err) {
    throw wrap(err, where);
  }
  // The whole run: ends when the Engine stops answering (the job's own timeout and abort are handled below).
  const live = liveness(docker, where, d);
  try {
    const output = await attachLines(container, spec.onLine, live.signal, (fn) => bounded(where, d.firstByteMs, fn));
    const started = Date.now();
    await call((signal) => container.start(withSignal({}, signal)));
    let timedOut = false;
    let aborted = false;
    const kill = (): void => void call((signal) => container.kill(withSignal({ signal: 'SIGKILL' }, signal))).catch(() => undefined);
    const onAbort = (): void => {
      aborted = true;
      kill();
    };
    spec.signal?.addEventListener('abort', onAbort, { once: true });
    if (spec.signal?.aborted) onAbort();
    const timer = spec.timeoutMs === undefined ? undefined : setTimeout(() => ((timedOut = true), kill()), spec.timeoutMs);
    let exitCode: number;
    try {
      exitCode = ((await container.wait(withSignal({}, live.signal))) as { StatusCode: number }).StatusCode;
    } finally {
      clearTimeout(timer);
      spec.signal?.removeEventListener('abort', onAbort);
    }
    const durationMs = Date.now() - started;
    await Promise.race([output.ended, new Promise((r) => setTimeout(r, 2000))]);
    output.end();
    if (aborted) throw spec.signal?.reason ?? new PleacoError('interrupted', 'the job was aborted');
    const oomKilled = !timedOut && Boolean((await call((signal) => container.inspect(withSignal({}, signal)))).State?.OOMKilled);
    return { exitCode, timedOut, oomKilled, durationMs };
  } catch (err) {
    throw live.signal.aborted ? live.signal.reason : wrap(err, where);
  } finally {
    live.stop();
    await call((signal) => container.remove(withSignal({ force: true, v: true }, signal))).catch(() => undefined);
  }
}

/** Exports the filesystem of a never-started container of `image` into `consume`; the container is always removed. */
export async function readImageFiles<T>(
  docker: Docker,
  where: string,
  o: { image: string; labels: Record<string, string>; consume: (tar: NodeJS.ReadableStream) => Promise<T> },
  d: EngineDeadlines,
): Promise<T> {
  const call = <R>(fn: (signal: AbortSignal) => Promise<R>): Promise<R> => bounded(where, d.callMs, fn);
  let container: Docker.Container | undefined;
  // Reading the export lasts as long as the image is big: ended when the Engine stops answering meanwhile.
  const live = liveness(docker, where, d);
  try {
    // never started: the entrypoint only has to make creation valid for images without CMD
    const created = await call((signal) =>
      docker.createContainer(withSignal({
        Image: o.image,
        Labels: { [LABELS.managed]: 'true', [LABELS.role]: 'scan', ...o.labels },
        Entrypoint: ['/pleaco-scan-never-runs'],
        Cmd: [],
        NetworkDisabled: true,
        HostConfig: { NetworkMode: 'none' },
      }, signal)),
    );
    container = created;
    const tar = await bounded(where, d.firstByteMs, (signal) => created.export(withSignal({}, AbortSignal.any([signal, live.signal]))));
    return await o.consume(tar);
  } catch (err) {
    if (live.signal.aborted) throw live.signal.reason;
    if ((err as { statusCode?: number }).statusCode === 404) throw new PleacoError('not_found', `image ${o.image} is not on this node (removed while it was being read?)`, { cause: err });
    throw wrap(err, where);
  } finally {
    live.stop();
    const c = container;
    if (c) await call((signal) => c.remove(withSignal({ force: true }, signal))).catch(() => undefined);
  }
}
