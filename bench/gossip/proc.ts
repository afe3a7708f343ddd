/**
 * Small process helpers for the gossip harness: argv-only command runs with a time bound (never a shell),
 * a bounded-concurrency map, and the one clock every measurement uses.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** Exit code and output of a finished command. `code` is -1 when it was killed by the time bound. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `argv` (argv[0] looked up in PATH, no shell) and resolves when it exits or after `timeoutMs`
 * (then it is killed with SIGKILL and `code` is -1). `input` is written to stdin. Never rejects.
 */
export function run(argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => undefined); // the command may exit before reading its input
    child.stdin.end(opts.input ?? '');
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: stderr + String(err) });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: timedOut ? -1 : (code ?? -1), stdout, stderr });
    });
  });
}

/** Like `run`, but throws an Error naming the command and its stderr when it does not exit 0. */
export async function mustRun(argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** Maps `fn` over `items` with at most `limit` calls in flight; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * The harness clock: wall-clock milliseconds since the epoch with sub-millisecond resolution. Wall clock (not a
 * per-process monotonic clock) so that times written by child processes (`date +%s%N`) compare with ours.
 */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
