/**
 * The HAProxy processes of one process dir, found by their command line, and how they are ended. A pleaco-proxy
 * killed before it could stop its HAProxy leaves it running; the next one must end it before it starts its own (both
 * would listen on the port, SO_REUSEPORT, one of them with an old config). A process counts only when it runs the
 * haproxy binary with `-f <this dir's haproxy.cfg>`, checked again right before each signal: a pid reused by any
 * other process, or by a HAProxy of another dir, is never signalled.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The process's start time (field 22 of /proc/<pid>/stat), null when it is gone or a zombie. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' || fields[0] === 'X' ? null : (fields[19] ?? null);
  } catch {
    return null;
  }
}

/** True when `pid` is the haproxy binary (by name) run with `-f configPath`. */
export function isHAProxyOf(pid: number, configPath: string, bin: string): boolean {
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return false;
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  const name = basename(bin);
  if (basename(argv[0] ?? '') !== name) return false;
  try {
    if (basename(readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '')) !== name) return false;
  } catch {
    /* another user's process: its argv decides (and a signal to it would be refused anyway) */
  }
  for (let i = 0; i < argv.length - 1; i++) if (argv[i] === '-f' && argv[i + 1] === configPath) return true;
  return false;
}

/** The live HAProxy processes (masters and workers) running `configPath`: every process is looked at, plus `hints`. */
export function haproxiesOf(configPath: string, bin: string, hints: number[] = []): number[] {
  const pids = new Set(hints.filter((p) => Number.isInteger(p)));
  for (const name of readdirSync('/proc')) if (/^\d+$/.test(name)) pids.add(Number(name));
  return [...pids].filter((pid) => isHAProxyOf(pid, configPath, bin) && startTime(pid) !== null).sort((a, b) => a - b);
}

/**
 * Ends the given HAProxy processes: SIGTERM, SIGKILL after `graceMs`; each signal only to the same process (start
 * time) still running `configPath`. Resolves with the pids still there after `graceMs` + 2 s (none, normally).
 */
export async function endHAProxies(pids: number[], o: { configPath: string; bin: string; graceMs?: number }): Promise<number[]> {
  const seen = new Map(pids.map((pid) => [pid, startTime(pid)] as const).filter((e): e is [number, string] => e[1] !== null));
  const same = (pid: number): boolean => startTime(pid) === seen.get(pid) && isHAProxyOf(pid, o.configPath, o.bin);
  const signal = (sig: NodeJS.Signals): void => {
    for (const pid of seen.keys()) {
      try {
        if (same(pid)) process.kill(pid, sig);
      } catch {
        /* gone meanwhile */
      }
    }
  };
  const left = (): number[] => [...seen.keys()].filter((pid) => startTime(pid) === seen.get(pid));
  signal('SIGTERM');
  for (const [sig, ms] of [['SIGKILL', o.graceMs ?? 5000], [null, 2000]] as const) {
    const deadline = Date.now() + ms;
    while (left().length > 0 && Date.now() < deadline) await sleep(25);
    if (left().length === 0) return [];
    if (sig) signal(sig);
  }
  return left();
}
