/**
 * Runs an app's test command inside its freshly built image: a job container (role=test) with
 * Cmd ['sh','-c',command] (the user's own command in the user's own image; the image's ENTRYPOINT is
 * cleared so the shell really runs it), the app's config as Env (never argv, never logged), no published
 * ports, memory and CPU limits. Output is streamed line by line and its tail kept; on timeout the container
 * is killed; the container is always removed.
 */
import type { ContainerEngine } from '../runtime/index.js';
import { TailBuffer } from './streams.js';

export interface TestRunOptions {
  image: string;
  command: string;
  env: Record<string, string>;
  timeoutMs: number;
  labels: Record<string, string>;
  memoryBytes: number;
  cpuShares?: number;
  /** Most processes and threads in the test container. */
  pids?: number;
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

export async function runTests(engine: ContainerEngine, o: TestRunOptions): Promise<TestRunResult> {
  const output = new TailBuffer(o.keepBytes ?? 64 * 1024);
  const onLine = (line: string): void => {
    output.write(line + '\n');
    o.onLog(line);
  };
  const r = await engine.runJob({
    image: o.image,
    entrypoint: [],
    cmd: ['sh', '-c', o.command],
    env: o.env,
    labels: o.labels,
    memoryBytes: o.memoryBytes,
    ...(o.cpuShares ? { cpuShares: o.cpuShares } : {}),
    ...(o.pids ? { pids: o.pids } : {}),
    timeoutMs: o.timeoutMs,
    ...(o.signal ? { signal: o.signal } : {}),
    onLine,
  });
  if (r.timedOut) onLine(`pleaco: the test command did not finish within ${Math.round(o.timeoutMs / 1000)} s and was killed`);
  else if (r.oomKilled) onLine(`pleaco: the test container was killed: out of memory (limit ${Math.round(o.memoryBytes / 1024 ** 2)} MiB)`);
  return { exitCode: r.exitCode, timedOut: r.timedOut, durationMs: r.durationMs, output: output.toString(), ...(r.oomKilled ? { oomKilled: true } : {}) };
}
