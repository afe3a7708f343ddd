/**
 * Teardown checks: no process a test started may outlive it. Processes are found by their command line naming the
 * test's temp dir (HAProxy is run as `haproxy … -f <dir>/haproxy.cfg`), read from /proc.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcInfo {
  pid: number;
  /** argv joined by spaces. */
  cmd: string;
}

const alive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

/** Live processes (not this one) whose command line mentions `dir`. */
export function processesIn(dir: string): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue;
    }
    if (argv.some((a) => a.includes(dir)) && alive(Number(name))) out.push({ pid: Number(name), cmd: argv.join(' ') });
  }
  return out;
}

/**
 * Waits up to `ms` for every process mentioning `dir` to end; what is still there is killed (so one failing suite
 * does not leak into the next) and reported by throwing.
 */
export async function assertNoProcessesIn(dir: string, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  let left = processesIn(dir);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = processesIn(dir);
  }
  if (left.length === 0) return;
  for (const p of left) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
  throw new Error(`${what} left processes behind: ${left.map((p) => `${p.pid} ${p.cmd}`).join('; ')}`);
}
