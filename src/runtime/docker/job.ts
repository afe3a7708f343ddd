/**
 * Job containers on Docker Engine: a one-off container run to its end (a test command, a kaniko executor) with its
 * output as lines, a timeout, an abort and the OOM verdict; and an image's files, read by exporting a container
 * created (never started) from it. Both containers are labelled (io.pleaco.managed, the caller's role) and always
 * removed, also when the run fails or is aborted.
 */
import type Docker from 'dockerode';
import { PleacoError } from '../../errors.js';
import { LABELS } from '../../model/index.js';
import { engineUnavailable, isEngineDown, type JobResult, type JobSpec } from '../engine.js';
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
async function attachLines(container: Docker.Container, onLine: (line: string) => void): Promise<{ ended: Promise<void>; end(): void }> {
  const stream = await container.attach({ stream: true, stdout: true, stderr: true });
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

export async function runJob(docker: Docker, where: string, spec: JobSpec): Promise<JobResult> {
  spec.signal?.throwIfAborted();
  let container: Docker.Container;
  try {
    container = await docker.createContainer(createOptions(spec));
  } catch (err) {
    throw wrap(err, where);
  }
  try {
    const output = await attachLines(container, spec.onLine);
    const started = Date.now();
    await container.start();
    let timedOut = false;
    let aborted = false;
    const kill = (): void => void container.kill({ signal: 'SIGKILL' }).catch(() => undefined);
    const onAbort = (): void => {
      aborted = true;
      kill();
    };
    spec.signal?.addEventListener('abort', onAbort, { once: true });
    if (spec.signal?.aborted) onAbort();
    const timer = spec.timeoutMs === undefined ? undefined : setTimeout(() => ((timedOut = true), kill()), spec.timeoutMs);
    let exitCode: number;
    try {
      exitCode = ((await container.wait()) as { StatusCode: number }).StatusCode;
    } finally {
      clearTimeout(timer);
      spec.signal?.removeEventListener('abort', onAbort);
    }
    const durationMs = Date.now() - started;
    await Promise.race([output.ended, new Promise((r) => setTimeout(r, 2000))]);
    output.end();
    if (aborted) throw spec.signal?.reason ?? new PleacoError('interrupted', 'the job was aborted');
    const oomKilled = !timedOut && Boolean((await container.inspect()).State?.OOMKilled);
    return { exitCode, timedOut, oomKilled, durationMs };
  } catch (err) {
    throw wrap(err, where);
  } finally {
    await container.remove({ force: true, v: true }).catch(() => undefined);
  }
}

/** Exports the filesystem of a never-started container of `image` into `consume`; the container is always removed. */
export async function readImageFiles<T>(
  docker: Docker,
  where: string,
  o: { image: string; labels: Record<string, string>; consume: (tar: NodeJS.ReadableStream) => Promise<T> },
): Promise<T> {
  let container: Docker.Container | undefined;
  try {
    // never started: the entrypoint only has to make creation valid for images without CMD
    container = await docker.createContainer({
      Image: o.image,
      Labels: { [LABELS.managed]: 'true', [LABELS.role]: 'scan', ...o.labels },
      Entrypoint: ['/pleaco-scan-never-runs'],
      Cmd: [],
      NetworkDisabled: true,
      HostConfig: { NetworkMode: 'none' },
    });
    return await o.consume((await container.export()));
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) throw new PleacoError('not_found', `image ${o.image} is not on this node (removed while it was being read?)`, { cause: err });
    throw wrap(err, where);
  } finally {
    if (container) await container.remove({ force: true }).catch(() => undefined);
  }
}
