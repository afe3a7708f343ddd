/**
 * fakeAgent: a FAKE of the pleaco agent for the CLI's tests — a real node:http server (127.0.0.1 port 0 or a
 * unix socket) answering canned responses for the routes a test declares, and recording every request. The
 * real agent and its API are tested elsewhere; here the point is what the CLI sends and how it shows answers.
 * (File name starts with `_` so uvu does not run it as a test.)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AgentClient } from '../../src/link/client.js';
import type { CliDeps } from '../../src/cli/context.js';
import { run } from '../../src/cli/index.js';

export const TOKEN = 'tok-3f9a1c-test';

export interface Recorded {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: unknown;
}

/** A canned answer: JSON with a status, an ndjson stream (optionally held open), or a handler. */
export type Reply =
  | { status?: number; json?: unknown }
  | { ndjson: unknown[]; hold?: boolean }
  | ((req: Recorded, res: http.ServerResponse) => void);

export interface FakeAgent {
  url: string;
  socketPath?: string;
  requests: Recorded[];
  client(): AgentClient;
  close(): Promise<void>;
}

export async function fakeAgent(routes: Record<string, Reply>, listen: { socketPath?: string } = {}): Promise<FakeAgent> {
  const requests: Recorded[] = [];
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const rec: Recorded = {
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        body: text ? JSON.parse(text) : undefined,
      };
      requests.push(rec);
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(body === undefined ? '' : JSON.stringify(body));
      };
      if (rec.authorization !== `Bearer ${TOKEN}`) return send(401, { error: { code: 'unauthorized', message: 'missing or invalid token' } });
      const path = rec.url.split('?')[0];
      const reply = routes[`${rec.method} ${path}`];
      if (!reply) return send(404, { error: { code: 'not_found', message: `no route ${rec.method} ${path}` } });
      if (typeof reply === 'function') return reply(rec, res);
      if ('ndjson' in reply) {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        for (const ev of reply.ndjson) res.write(JSON.stringify(ev) + '\n');
        if (reply.hold) {
          open.add(res);
          res.on('close', () => open.delete(res));
        } else res.end();
        return;
      }
      if (reply.status === 204) return void res.writeHead(204).end();
      send(reply.status ?? 200, reply.json);
    });
  });
  await new Promise<void>((resolve) => (listen.socketPath ? server.listen(listen.socketPath, resolve) : server.listen(0, '127.0.0.1', resolve)));
  const url = listen.socketPath ? `unix:${listen.socketPath}` : `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const agent: FakeAgent = {
    url,
    requests,
    client: () => new AgentClient(listen.socketPath ? { socketPath: listen.socketPath, token: TOKEN } : { url, token: TOKEN }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of open) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  if (listen.socketPath) agent.socketPath = listen.socketPath;
  return agent;
}

export interface CliResult {
  code: number;
  out: string[];
  err: string[];
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  ask?: (q: string) => Promise<string>;
  /** Called with the SIGINT trigger once the CLI subscribes to Ctrl-C. */
  onInterruptSubscribed?: (fire: () => void) => void;
  color?: boolean;
  now?: number;
}

/** Runs the CLI in-process against the agent (or a client factory) with captured output. */
export async function cli(argv: string[], agent: FakeAgent | (() => AgentClient), o: CliOptions = {}): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const deps: CliDeps = {
    out: { out: (l) => void out.push(l), err: (l) => void err.push(l), color: o.color ?? false },
    connect: typeof agent === 'function' ? agent : () => agent.client(),
    version: '0.0.0-test',
    now: () => o.now ?? NOW,
  };
  if (o.ask) deps.ask = o.ask;
  if (o.onInterruptSubscribed) {
    const cb = o.onInterruptSubscribed;
    deps.onInterrupt = (fn) => {
      cb(fn);
      return () => undefined;
    };
  }
  const code = await run(argv, deps);
  return { code, out, err, stdout: out.join('\n'), stderr: err.join('\n') };
}

/** The fixed "now" of the tests: 2025-03-01T12:00:00Z. */
export const NOW = Date.parse('2025-03-01T12:00:00Z');
export const ago = (ms: number): string => new Date(NOW - ms).toISOString();
