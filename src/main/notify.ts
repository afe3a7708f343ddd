/**
 * Readiness for systemd (`Type=notify`, systemd/pleaco-*.service). Node has no unix datagram sockets, so READY=1 goes
 * through `systemd-notify --ready` (argv array, fixed PATH); the units say `NotifyAccess=all`, since the message comes
 * from that child, not from the main process. The race systemd-notify(1) warns of (the child gone before systemd
 * reads its message, so it cannot be attributed to the unit) is closed twice over: systemd-notify 252 waits after
 * sending until the manager has processed it (BARRIER=1, sd_notify_barrier), and `--pid` names this process as the
 * sender (kept in the message as MAINPID, and as the sender's credentials where the process may forge them). READY=1
 * is idempotent, so it is sent again twice shortly after: a lost first message delays readiness by 2 s at most.
 *
 * `takeNotifySocket` runs first thing: it removes NOTIFY_SOCKET from the environment, so no child (HAProxy, git,
 * nsenter) inherits it and speaks for the unit. Without NOTIFY_SOCKET (make up, tests) nothing happens.
 */
import { execFile } from 'node:child_process';
import type { Logger } from '../log.js';

const RESEND_MS = [250, 2000];
let socket: string | null = null;

/** Keeps NOTIFY_SOCKET for notifyReady and hides it from every child process. */
export function takeNotifySocket(env: NodeJS.ProcessEnv = process.env): void {
  const s = env.NOTIFY_SOCKET;
  if (s) socket = s;
  delete env.NOTIFY_SOCKET;
}

function send(log: Logger, status: string): void {
  if (!socket) return;
  const argv = ['--ready', `--pid=${process.pid}`, `--status=${status}`];
  execFile('systemd-notify', argv, { timeout: 5000, env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', NOTIFY_SOCKET: socket } }, (err) => {
    if (err) log.warn('cannot tell systemd this process is ready', { error: err.message });
  });
}

/** Tells systemd (when it started this process with Type=notify) that this process is ready. */
export function notifyReady(log: Logger, status: string): void {
  if (!socket) return;
  send(log, status);
  for (const ms of RESEND_MS) setTimeout(() => send(log, status), ms).unref();
}
