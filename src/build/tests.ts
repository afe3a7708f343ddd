/**
 * Runs an app's test command inside its freshly built image: a labelled (role=test) container with
 * Cmd ['sh','-c',command] (the user's own command in the user's own image; the image's ENTRYPOINT is
 * cleared so the shell really runs it), the app's config as Env (API field only: never argv, never
 * logged), no published ports, memory and CPU limits. Output is streamed line by line and its tail kept;
 * on timeout the container is killed; the container is always removed.
 */
import { PleacoError, isPleacoError } from '../errors.js';
import { engineError, isEngineDown, type Engine } from '../runtime/engine.js';
import { Demuxer, LineSplitter, TailBuffer } from './streams.js';

export interface TestRunOptions {
  image: string;
  command: string;
  env: Record<string, string>;
  timeoutMs: number;
  labels: Record<string, string>;
  memoryBytes: number;
  cpuShares?: number;
  onLog: (line: string) => void;
  signal?: AbortSignal;
  /** Characters of output kept in the result (default 64 KiB). */
  keepBytes?: number;
}

export interface TestRunResult {
  exitCode: number;
  timedOut: boolean;
  durationMs: number;
  output: string;
  oomKilled?: boolean;
}

function socketOf(engine: Engine): string {
  return String((engine as unknown as { modem?: { socketPath?: string } }).modem?.socketPath ?? 'the Docker socket');
}

function wrap(engine: Engine, err: unknown): unknown {
  if (isPleacoError(err) || !isEngineDown(err)) return err;
  return engineError(err, socketOf(engine));
}

export async function runTests(engine: Engine, o: TestRunOptions): Promise<TestRunResult> {
  o.signal?.throwIfAborted();
  const output = new TailBuffer(o.keepBytes ?? 64 * 1024);
  const onLine = (line: string): void => {
    output.write(line + '\n');
    o.onLog(line);
  };
  let container: ReturnType<Engine['getContainer']>;
  try {
    container = await engine.createContainer({
      Image: o.image,
      Entrypoint: [],
      Cmd: ['sh', '-c', o.command],
      Env: Object.entries(o.env).map(([k, v]) => `${k}=${v}`),
      Labels: o.labels,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      OpenStdin: false,
      HostConfig: {
        Memory: o.memoryBytes,
        MemorySwap: o.memoryBytes,
        ...(o.cpuShares ? { CpuShares: o.cpuShares } : {}),
        PublishAllPorts: false,
        PortBindings: {},
        AutoRemove: false,
      },
    });
  } catch (err) {
    throw wrap(engine, err);
  }
  try {
    const stream = await container.attach({ stream: true, stdout: true, stderr: true });
    const out = new LineSplitter(onLine);
    const errs = new LineSplitter(onLine);
    const demux = new Demuxer((kind, data) => (kind === 'stderr' ? errs : out).push(data));
    const ended = new Promise<void>((resolve) => {
      stream.on('data', (c: Buffer) => demux.push(c));
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', () => resolve());
    });
    const started = Date.now();
    await container.start();
    let timedOut = false;
    let aborted = false;
    let timer: NodeJS.Timeout | undefined;
    const kill = (): void => {
      container.kill({ signal: 'SIGKILL' }).catch(() => undefined);
    };
    const onAbort = (): void => {
      aborted = true;
      kill();
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    if (o.signal?.aborted) onAbort();
    const waited = (container.wait() as Promise<{ StatusCode: number }>).finally(() => {
      if (timer) clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
    });
    timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, o.timeoutMs);
    const { StatusCode } = await waited;
    const durationMs = Date.now() - started;
    await Promise.race([ended, new Promise((r) => setTimeout(r, 2000))]);
    out.end();
    errs.end();
    if (aborted) throw o.signal?.reason ?? new PleacoError('interrupted', 'the test run was aborted');
    let oomKilled = false;
    if (!timedOut) {
      oomKilled = Boolean((await container.inspect()).State?.OOMKilled);
      if (oomKilled) onLine(`pleaco: the test container was killed: out of memory (limit ${Math.round(o.memoryBytes / 1024 ** 2)} MiB)`);
    } else {
      onLine(`pleaco: the test command did not finish within ${Math.round(o.timeoutMs / 1000)} s and was killed`);
    }
    return { exitCode: StatusCode, timedOut, durationMs, output: output.toString(), ...(oomKilled ? { oomKilled } : {}) };
  } catch (err) {
    throw wrap(engine, err);
  } finally {
    await container.remove({ force: true, v: true }).catch(() => undefined);
  }
}
