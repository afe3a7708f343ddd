/**
 * The accept queue of an app: how many connections its listening socket holds before the kernel drops new SYNs
 * (the `backlog` of its listen() call, capped by the container's net.core.somaxconn). A client whose SYN is dropped
 * retries after 1 s, then 3 s: a server with a small queue (busybox httpd: 9, Python's socketserver: 5) behind a
 * proxy that opens connections as fast as requests come turns a burst into multi-second stalls. The runner learns
 * each replica's queue once it is ready; the proxy then never opens more connections to it at once than it queues.
 *
 * Read with `ss` (iproute2) inside the container's network namespace (`nsenter --net`): only inet_diag reports a
 * listener's maximum backlog (/proc/net/tcp shows its current length). argv arrays only, bounded in time and output.
 */
import { execFile } from 'node:child_process';
import { PleacoError } from '../errors.js';

const TIMEOUT_MS = 2000;
const MAX_OUTPUT = 64 * 1024;

/** The largest backlog among the TCP listeners on `port` in `ss -Hltn` output; null when none listens there. */
export function parseListenBacklog(ssOutput: string, port: number): number | null {
  let best: number | null = null;
  for (const line of ssOutput.split('\n')) {
    // State Recv-Q Send-Q Local:Port Peer:Port — for a listener Send-Q is its maximum backlog.
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || f[0] !== 'LISTEN') continue;
    const local = f[3]!;
    if (Number(local.slice(local.lastIndexOf(':') + 1)) !== port) continue;
    const backlog = Number(f[2]);
    if (Number.isSafeInteger(backlog) && backlog >= 0) best = Math.max(best ?? 0, backlog);
  }
  return best;
}

/**
 * The accept queue size of what listens on TCP `port` in the network namespace of process `pid` (a container's
 * init). Null when nothing listens there; rejects when the namespace cannot be entered or `ss` fails.
 */
export function listenBacklog(pid: number, port: number): Promise<number | null> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return Promise.reject(new PleacoError('bad_request', `invalid pid ${pid}`));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return Promise.reject(new PleacoError('bad_request', `invalid port ${port}`));
  const argv = ['--target', String(pid), '--net', '--', 'ss', '-Hltn', `sport = :${port}`];
  return new Promise((resolve, reject) => {
    execFile('nsenter', argv, { timeout: TIMEOUT_MS, maxBuffer: MAX_OUTPUT, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }, (err, stdout) => {
      if (err) reject(new PleacoError('unavailable', `cannot read the listen backlog in the namespace of pid ${pid}: ${err.message}`, { cause: err }));
      else resolve(parseListenBacklog(stdout, port));
    });
  });
}
