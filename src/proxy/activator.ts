/**
 * The activator: HAProxy's backup server for every app that may scale to zero (autoscale min 0), on every node. While
 * no replica of the app is up, HAProxy sends its requests here. Each request is held (bounded: count, body size,
 * time), the app's owner is asked to start one replica (`AgentLink.activate`), and as soon as a replica's record says
 * it runs (after its health check, like any rollout) the request is forwarded to it and its answer streamed back.
 * The client sees a slower first response, never an error, unless the app does not come up within the hold time
 * (503 with Retry-After). Listens on loopback only: HAProxy is its one client.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AgentLink, StateView } from '../link/index.js';
import type { Logger } from '../log.js';
import { keys, type CurrentRelease, type SlotStatus } from '../model/index.js';
import { addressOf } from './fromstate.js';

export interface ActivatorOptions {
  view: StateView;
  link: Pick<AgentLink, 'activate'>;
  /** The app routed for a Host header (the proxy's current model), or null. */
  appOfHost(host: string): string | null;
  /** Whether a node is a live member (its replicas may take the request). */
  live(node: string): boolean;
  /** This node's id (a replica published on an unspecified address is reached on loopback only here). */
  node?: string;
  log: Logger;
  /** How long a request is held for the app to come up (default HOLD_MS). */
  holdMs?: number;
}

export const HOLD_MS = 60_000;
/** Requests held at once, per app and in all. */
export const MAX_HELD_PER_APP = 100;
export const MAX_HELD = 1000;
/** The largest request body held (it is sent again to the replica). */
export const MAX_BODY_BYTES = 1024 * 1024;
const POLL_MS = 100;
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

export interface ActivatorStats {
  held: number;
  forwarded: number;
  timedOut: number;
  refused: number;
}

export class Activator {
  private server: http.Server | null = null;
  private readonly held = new Map<string, number>();
  readonly stats: ActivatorStats = { held: 0, forwarded: 0, timedOut: 0, refused: 0 };

  constructor(private readonly o: ActivatorOptions) {}

  /** Listens on 127.0.0.1 (an ephemeral port); resolves with it. */
  async listen(): Promise<{ addr: string; port: number }> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.headersTimeout = 10_000;
    server.requestTimeout = (this.o.holdMs ?? HOLD_MS) + 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    return { addr: '127.0.0.1', port: (server.address() as AddressInfo).port };
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const host = String(req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
    const app = this.o.appOfHost(host);
    const total = [...this.held.values()].reduce((a, b) => a + b, 0);
    if (!app) return reply(res, 404, 'no app is routed to this host');
    if ((this.held.get(app) ?? 0) >= MAX_HELD_PER_APP || total >= MAX_HELD) {
      this.stats.refused++;
      return reply(res, 503, `${app} is starting and too many requests already wait for it`, 2);
    }
    this.held.set(app, (this.held.get(app) ?? 0) + 1);
    this.stats.held++;
    try {
      const body = await readBody(req);
      if (body === null) return reply(res, 413, `a request to an app that is starting may carry at most ${MAX_BODY_BYTES} bytes`);
      const deadline = Date.now() + (this.o.holdMs ?? HOLD_MS);
      let asked = false;
      for (;;) {
        const target = this.replica(app);
        if (target) {
          await forward(req, res, body, target);
          this.stats.forwarded++;
          return;
        }
        if (!asked) {
          asked = true;
          this.o.link.activate(app).then(
            (r) => this.o.log.info('app woken by a request', { app, replicas: r.replicas }),
            (err: unknown) => this.o.log.warn('cannot wake the app', { app, error: err instanceof Error ? err.message : String(err) }),
          );
        }
        if (Date.now() >= deadline || res.destroyed) break;
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      this.stats.timedOut++;
      if (!res.destroyed) reply(res, 503, `${app} did not start within ${Math.round((this.o.holdMs ?? HOLD_MS) / 1000)} s`, 5);
    } catch (err) {
      this.o.log.warn('activator request failed', { app, error: err instanceof Error ? err.message : String(err) });
      if (!res.headersSent) reply(res, 502, `${app} could not be reached`);
      else res.destroy();
    } finally {
      this.held.set(app, (this.held.get(app) ?? 1) - 1);
    }
  }

  /** A running replica of the app's current release on a live node, reachable from here; null when none. */
  private replica(app: string): { host: string; port: number } | null {
    const release = this.o.view.get<CurrentRelease>(keys.current(app))?.release;
    const slots = this.o.view
      .list<SlotStatus>('obs/')
      .filter((e) => e.key.includes('/slots/') && e.value?.app === app && e.value.state === 'running' && typeof e.value.hostPort === 'number' && this.o.live(e.value.node))
      .map((e) => e.value)
      .filter((s) => release === undefined || s.release === release);
    for (const s of slots) {
      const host = addressOf(s, this.o.node);
      if (host !== null) return { host, port: s.hostPort! };
    }
    return null;
  }
}

/** The request body, or null when it is over MAX_BODY_BYTES. */
async function readBody(req: http.IncomingMessage): Promise<Buffer | null> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) return null;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Sends the held request to the replica and streams its answer back. */
function forward(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, to: { host: string; port: number }): Promise<void> {
  const headers: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP_HEADERS.has(k) && v !== undefined) headers[k] = v;
  headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const out = http.request({ host: to.host, port: to.port, method: req.method, path: req.url, headers, timeout: 60_000 }, (up) => {
      const h: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(up.headers)) if (!HOP_HEADERS.has(k) && v !== undefined) h[k] = v;
      res.writeHead(up.statusCode ?? 502, h);
      up.pipe(res);
      up.on('end', () => resolve());
      up.on('error', reject);
    });
    out.on('timeout', () => out.destroy(new Error('the replica did not answer within 60 s')));
    out.on('error', reject);
    out.end(body);
  });
}

function reply(res: http.ServerResponse, status: number, text: string, retryAfterS?: number): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...(retryAfterS ? { 'retry-after': String(retryAfterS) } : {}) });
  res.end(`${text}\n`);
}
