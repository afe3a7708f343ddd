/**
 * Readiness probes of a replica: a TCP dial (the port accepts) or an HTTP check (GET path answered 2xx/3xx,
 * the same test the proxy's health checks apply). Never throws: every failure is `false`.
 */
import http from 'node:http';
import net from 'node:net';

/** An app's HTTP health check as the runner applies it: path and the Host header to send. */
export interface HttpCheck {
  path: string;
  /** Host header, e.g. `web.localhost` (the name the proxy routes to the app). */
  host: string;
}

export interface ProbeOptions {
  timeoutMs?: number;
  /** Absent: a TCP dial only. */
  http?: HttpCheck;
}

/** Connects to host:port; true when connected and (for holdMs) not closed by the other side. */
export function dial(host: string, port: number, timeoutMs: number, holdMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    let settled = false;
    const finish = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => finish(false));
    sock.once('connect', () => {
      sock.setTimeout(0);
      if (holdMs <= 0) return finish(true);
      setTimeout(() => finish(true), holdMs);
    });
    sock.once('end', () => finish(false));
    sock.once('close', () => finish(false));
    sock.once('error', () => finish(false));
  });
}

/** GET check.path on host:port with check.host as Host; true on a 2xx or 3xx status within timeoutMs. */
export function httpCheck(host: string, port: number, check: HttpCheck, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(ok);
    };
    const req = http.request({ host, port, path: check.path, method: 'GET', agent: false, headers: { host: check.host, 'user-agent': 'pleaco-runner', connection: 'close' } }, (res) => {
      const code = res.statusCode ?? 0;
      res.resume();
      finish(code >= 200 && code < 400);
    });
    const timer = setTimeout(() => finish(false), timeoutMs);
    req.once('error', () => finish(false));
    req.end();
  });
}
