/** Serves the API on TCP and on the node-local unix socket (0600). */
import http from 'node:http';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import type Koa from 'koa';
import { PleacoError } from '../errors.js';

function listen(server: http.Server, arg: { port: number; host: string } | { path: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(arg, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** True when something answers on the socket (another agent is running). */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface ApiServers {
  tcp: http.Server;
  unix: http.Server;
  port: number;
  close(): Promise<void>;
}

export async function serveApi(app: Koa, opts: { host: string; port: number; socketPath: string }): Promise<ApiServers> {
  const handler = app.callback();
  const tcp = http.createServer(handler);
  const unix = http.createServer(handler);
  for (const s of [tcp, unix]) {
    s.requestTimeout = 0; // streams (watch, deploy events, logs) stay open
    s.headersTimeout = 30_000;
    s.keepAliveTimeout = 5_000;
    s.maxConnections = 1024;
  }
  if (existsSync(opts.socketPath)) {
    if (await socketAlive(opts.socketPath)) throw new PleacoError('conflict', `another agent is already serving ${opts.socketPath}`);
    unlinkSync(opts.socketPath);
  }
  await listen(tcp, { port: opts.port, host: opts.host });
  const old = process.umask(0o177);
  try {
    await listen(unix, { path: opts.socketPath });
  } finally {
    process.umask(old);
  }
  chmodSync(opts.socketPath, 0o600);
  const addr = tcp.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const closeOne = (s: http.Server) =>
    new Promise<void>((r) => {
      s.close(() => r());
      s.closeAllConnections();
    });
  return { tcp, unix, port, close: async () => void (await Promise.all([closeOne(tcp), closeOne(unix)])) };
}
