/**
 * Measuring helpers for bench-proxy: wrk runs (parsed), CPU time of a process tree from /proc, CPU pinning
 * with taskset, medians. Linux only (reads /proc); argv arrays only.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface WrkResult {
  rps: number;
  p99ms: number;
  requests: number;
  /** Non-2xx/3xx responses plus socket errors (connect, read, write, timeout). */
  errors: number;
}

export interface WrkOptions {
  url: string;
  host?: string;
  threads: number;
  connections: number;
  duration: string;
  /** CPU list for taskset (e.g. "0"); undefined: not pinned. */
  cpus?: string;
}

/** Runs wrk once (blocking) and parses requests/s, p99 latency, request count and errors. */
export function runWrk(o: WrkOptions): WrkResult {
  const args = [`-t${o.threads}`, `-c${o.connections}`, `-d${o.duration}`, '--latency', ...(o.host ? ['-H', `Host: ${o.host}`] : []), o.url];
  const out = o.cpus ? execFileSync('taskset', ['-c', o.cpus, 'wrk', ...args], { encoding: 'utf8' }) : execFileSync('wrk', args, { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const m = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
  const p99ms = m ? Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2] as 'us' | 'ms' | 's'] : NaN;
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = (non2xx ? Number(non2xx[1]) : 0) + (sock ? sock.slice(1).reduce((s, x) => s + Number(x), 0) : 0);
  return { rps, p99ms, requests, errors };
}

function statFields(pid: number): string[] | undefined {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // exited meanwhile
  }
}

/** The pid and all its descendants that exist right now. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const ppid = Number(statFields(Number(d))?.[1]);
    if (!Number.isFinite(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(d));
    children.set(ppid, list);
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]!) ?? []));
  return out;
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    ticksPerSecond = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return ticksPerSecond;
}

/** CPU seconds (user + system) consumed so far by a process and its descendants (living ones only). */
export function cpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    const f = statFields(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]); // utime, stime
  }
  return ticks / clockTicks();
}

/** Pins a process, all its threads and all its descendants to a CPU list (taskset -a -p -c). */
export function pinTree(root: number, cpus: string): void {
  for (const pid of processTree(root)) execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
