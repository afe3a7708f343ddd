/**
 * Koa plumbing shared by all routes: the error boundary (koa's `expose` rule: 4xx/503 say what
 * went wrong, other 5xx stay generic), bearer-token auth, and bounded body reading.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type Koa from 'koa';
import { PleacoError, toPleacoError } from '../errors.js';
import type { Logger } from '../log.js';

export interface ApiState {
  rawBody?: Buffer;
}
export type Ctx = Koa.ParameterizedContext<ApiState>;

export function errorBoundary(log: Logger): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new PleacoError('not_found', `no route for ${ctx.method} ${ctx.path}`);
      if ((ctx.status === 405 || ctx.status === 501) && ctx.method !== 'OPTIONS') {
        throw new PleacoError('bad_request', `${ctx.method} is not allowed on ${ctx.path}`, { status: 405 });
      }
    } catch (raw) {
      const err = toPleacoError(raw);
      // Deliberate load shedding (503 with Retry-After) is counted where it happens, not logged per request.
      if (err.status >= 500 && err.details?.retryAfterS === undefined) log.error('request failed', { method: ctx.method, path: ctx.path, code: err.code, err: raw });
      if (ctx.headerSent || !ctx.writable) {
        ctx.res.destroy();
        return;
      }
      ctx.status = err.status;
      ctx.set('cache-control', 'no-store');
      const retryAfter = err.details?.retryAfterS;
      if (err.status === 503 && typeof retryAfter === 'number') ctx.set('retry-after', String(retryAfter));
      // A body refused before it was read (too big, too slow, no room): do not keep the connection for the rest of it.
      if (err.details?.closeConnection === true) ctx.set('connection', 'close');
      ctx.body = err.toJSON();
    }
  };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time bearer token check (hashing first makes the lengths equal). */
export function checkBearer(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  if (!m) return false;
  return timingSafeEqual(digest(m[1]!), digest(token));
}

export function requireToken(token: string, open: (path: string, method: string) => boolean): Koa.Middleware {
  return async (ctx, next) => {
    if (!open(ctx.path, ctx.method) && !checkBearer(ctx.get('authorization'), token)) {
      ctx.set('www-authenticate', 'Bearer realm="pleaco"');
      throw new PleacoError('unauthorized', 'missing or invalid API token (Authorization: Bearer <token>)');
    }
    await next();
  };
}

/** How long a client may take to send a request body (a slow-body client is cut off). */
export const BODY_TIMEOUT_MS = 30_000;

/**
 * What clients that have not authenticated yet may make the agent hold while their bodies arrive (the webhook:
 * its signature can only be checked over the whole body): at most `maxInFlight` bodies at once, `maxBytes` of them
 * together (a declared Content-Length is reserved up front, chunked bodies as they arrive), each within `timeoutMs`.
 * A body that finds no room is refused with 503 and Retry-After; the agent's memory for such bodies stays bounded
 * whatever the number of connections.
 */
export class BodyBudget {
  private inFlight = 0;
  private bytes = 0;
  /** Bodies refused for want of room since the start. */
  refused = 0;

  constructor(readonly limits: { maxInFlight: number; maxBytes: number; timeoutMs: number }) {}

  /** Takes a slot and reserves `declared` bytes; throws 503 (retry later) when there is no room. */
  open(declared: number): { take(n: number): void; close(): void } {
    if (this.inFlight >= this.limits.maxInFlight || this.bytes + declared > this.limits.maxBytes) throw this.full();
    this.inFlight++;
    this.bytes += declared;
    let held = declared;
    let closed = false;
    return {
      take: (n) => {
        if (n <= 0) return;
        if (this.bytes + n > this.limits.maxBytes) throw this.full();
        this.bytes += n;
        held += n;
      },
      close: () => {
        if (closed) return;
        closed = true;
        this.inFlight--;
        this.bytes -= held;
      },
    };
  }

  private full(): PleacoError {
    this.refused++;
    return new PleacoError('unavailable', 'too many unauthenticated request bodies in flight; retry shortly', { details: { retryAfterS: 2, closeConnection: true } });
  }
}

/**
 * Reads the request body into a Buffer, failing with 413 past `limit` bytes and 408 past the time bound
 * (BODY_TIMEOUT_MS, or the budget's). With a budget, the body also counts against it (503 when it has no room).
 */
export async function readRaw(ctx: Ctx, limit: number, budget?: BodyBudget): Promise<Buffer> {
  const declaredText = ctx.get('content-length');
  const declared = declaredText === '' ? 0 : Number(declaredText);
  if (!Number.isSafeInteger(declared) || declared < 0) throw new PleacoError('bad_request', 'invalid Content-Length', { details: { closeConnection: true } });
  if (declared > limit) throw new PleacoError('payload_too_large', `request body over ${limit} bytes`, { details: { closeConnection: true } });
  const ticket = budget?.open(declared);
  const timeoutMs = budget?.limits.timeoutMs ?? BODY_TIMEOUT_MS;
  const chunks: Buffer[] = [];
  let size = 0;
  let reserved = declared;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ctx.req.destroy();
  }, timeoutMs);
  try {
    // destroyOnReturn false: a body refused half-way (413, 503) still gets its answer; the connection closes after it.
    for await (const chunk of ctx.req.iterator({ destroyOnReturn: false })) {
      const b = chunk as Buffer;
      size += b.length;
      if (size > limit) throw new PleacoError('payload_too_large', `request body over ${limit} bytes`, { details: { closeConnection: true } });
      if (size > reserved) {
        ticket?.take(size - reserved); // a chunked body: reserved as it arrives
        reserved = size;
      }
      chunks.push(b);
    }
  } catch (err) {
    if (timedOut) throw new PleacoError('bad_request', `request body not received within ${timeoutMs / 1000} s`, { status: 408, details: { closeConnection: true } });
    throw err;
  } finally {
    clearTimeout(timer);
    ticket?.close();
  }
  return Buffer.concat(chunks);
}

/** Parses a JSON object body (empty body → {}); 415 for other media types, 400 for bad JSON. */
export async function jsonBody(ctx: Ctx, limit: number): Promise<Record<string, unknown>> {
  const raw = await readRaw(ctx, limit);
  ctx.state.rawBody = raw;
  if (raw.length === 0) return {};
  if (!ctx.is('application/json')) throw new PleacoError('unsupported_media_type', 'send the body as application/json');
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new PleacoError('bad_request', `malformed JSON body: ${(err as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new PleacoError('bad_request', 'the JSON body must be an object');
  return v as Record<string, unknown>;
}

/** A follower that lets this much pile up unread is cut off (it reconnects and catches up). */
export const MAX_STREAM_BACKLOG = 8 * 1024 * 1024;

/**
 * Starts an ndjson response that stays open; returns a writer and a promise that settles when the
 * client goes away (at once if it already has). A client that stops reading is disconnected once
 * MAX_STREAM_BACKLOG bytes wait for it, so a stalled follower cannot grow the agent's memory.
 */
export function ndjson(ctx: Ctx): { send: (obj: unknown) => boolean; end: () => void; closed: Promise<void> } {
  ctx.respond = false;
  const res = ctx.res;
  // Not ctx.req.destroyed: a request whose body was read (a POST) is destroyed at once, its socket is not.
  const gone = (): boolean => res.destroyed || res.closed || ctx.req.socket.destroyed;
  const closed = new Promise<void>((resolve) => {
    if (gone()) return resolve();
    res.on('close', resolve);
    ctx.req.on('close', () => gone() && resolve());
  });
  const headers = { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
  if (ctx.method === 'HEAD') {
    // A HEAD has no body: its headers are sent now and the stream is over (Node sends nothing of a HEAD before end()).
    if (!gone()) res.writeHead(200, headers).end();
    return { send: () => false, end: () => undefined, closed: Promise.resolve() };
  }
  if (!gone()) res.writeHead(200, headers);
  return {
    send: (obj) => {
      if (res.writableEnded || gone()) return false;
      if (res.writableLength > MAX_STREAM_BACKLOG) {
        res.destroy();
        return false;
      }
      return res.write(JSON.stringify(obj) + '\n');
    },
    end: () => {
      if (!res.writableEnded && !gone()) res.end();
    },
    closed,
  };
}
