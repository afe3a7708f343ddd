import { request as httpRequest } from 'node:http';
import { connect, createServer } from 'node:net';

/**
 * Ports for tests. A server pleaco runs in-process, or a process that accepts port 0 (the agent's API, the
 * cluster's UDP+TCP), binds 0 and the test reads the port back. Two kinds of port are handed out here:
 * - `reservedPort()`: for a process that must be told its port in advance (HAProxy's frontend, nginx, git daemon).
 *   It comes from 20000-32767, below the kernel's ephemeral range (32768-60999 here), so no port-0 bind and no
 *   outgoing connection can take it between the check and the process's bind; ports handed out are not repeated.
 * - `closedPort()`: a port nothing listens on, for "connection refused" checks.
 */
const LOW = 20000;
const HIGH = 32767;
const handedOut = new Set<number>();

function bindable(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

export async function reservedPort(): Promise<number> {
  const span = HIGH - LOW + 1;
  const start = LOW + ((process.pid * 7919 + Date.now()) % span);
  for (let i = 0; i < span; i++) {
    const port = LOW + ((start - LOW + i) % span);
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port in 20000-32767');
}

/** A port nothing listens on (a reserved one that nobody was given). */
export const closedPort = reservedPort;

/** True when something accepts TCP connections on host:port (127.0.0.1 unless told). */
export function accepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((done) => {
    const c = connect(port, host);
    c.once('connect', () => {
      c.destroy();
      done(true);
    });
    c.once('error', () => done(false));
  });
}

/**
 * GET http://<addr>:<port>/ with a Host header of our choosing (fetch cannot send one: it takes the URL's host), as a
 * client of a name-based proxy does; resolves with the status and body, rejects on a connection error or timeout.
 */
export function getWithHost(addr: string, port: number, host: string, timeoutMs = 5000, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: addr, port, path, method: 'GET', headers: { Host: host }, timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d.length + body.length > 1_000_000 ? '' : d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${addr}:${port} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
