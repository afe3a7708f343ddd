/**
 * HTTP client for the agent's API, over its local unix socket or TCP. Used by the CLI and by the
 * builder and runner processes. Errors from the API come back as PleacoError with the server's code.
 */
import http from 'node:http';
import { PleacoError, type ErrorCode } from '../errors.js';

export interface ClientOptions {
  /** Unix socket path of a local agent, or */
  socketPath?: string;
  /** base URL like http://127.0.0.1:7070 */
  url?: string;
  token: string;
  timeoutMs?: number;
  /**
   * For subsystems: keep retrying a request for this long while the agent cannot be reached (it is
   * being restarted). Requests must then be safe to repeat; the agent's internal routes are.
   */
  retryUnreachableMs?: number;
}

export interface RequestOptions {
  body?: unknown;
  rawBody?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export class AgentClient {
  constructor(readonly opts: ClientOptions) {
    if (!opts.socketPath && !opts.url) throw new PleacoError('invalid_config', 'agent client needs a socket path or URL');
  }

  private target(path: string): http.RequestOptions {
    if (this.opts.socketPath) return { socketPath: this.opts.socketPath, path };
    const u = new URL(path, this.opts.url);
    return { host: u.hostname, port: u.port, path: u.pathname + u.search };
  }

  /** Streams get a connection of their own (`agent: false`), so aborting one never touches a pooled socket. */
  private open(method: string, path: string, o: RequestOptions, ownConnection = false): Promise<http.IncomingMessage> {
    const payload = o.rawBody ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
    const headers: Record<string, string> = { authorization: `Bearer ${this.opts.token}`, accept: 'application/json', ...(o.headers ?? {}) };
    if (payload !== undefined) {
      headers['content-type'] = o.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    return new Promise((resolve, reject) => {
      const req = http.request({ ...this.target(path), method, headers, signal: o.signal, ...(ownConnection ? { agent: false } : {}) }, resolve);
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.name === 'AbortError') return reject(err);
        const where = this.opts.socketPath ?? this.opts.url;
        const unreachable = ['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EACCES'].includes(err.code ?? '');
        reject(new PleacoError('unavailable', unreachable ? `cannot reach the pleaco agent at ${where} (${err.code}); is it running?` : err.message, { cause: err }));
      });
      if (this.opts.timeoutMs) req.setTimeout(this.opts.timeoutMs, () => req.destroy(new Error(`request timed out after ${this.opts.timeoutMs} ms`)));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  private static async readAll(res: http.IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  private static fail(status: number, text: string): PleacoError {
    try {
      const body = JSON.parse(text) as { error?: { code?: string; message?: string; details?: Record<string, unknown> } };
      if (body.error?.code) {
        return new PleacoError(body.error.code as ErrorCode, body.error.message ?? 'error', { status, expose: true, ...(body.error.details ? { details: body.error.details } : {}) });
      }
    } catch {
      /* not JSON */
    }
    return new PleacoError('internal', `agent answered HTTP ${status}`, { status, expose: true });
  }

  /** A JSON request; resolves with the parsed body (undefined for 204). */
  async request<T = unknown>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const deadline = Date.now() + (this.opts.retryUnreachableMs ?? 0);
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        return await this.requestOnce<T>(method, path, o);
      } catch (err) {
        const unreachable = err instanceof PleacoError && err.code === 'unavailable' && err.cause !== undefined;
        if (!unreachable || Date.now() + delay > deadline || o.signal?.aborted) throw err;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private async requestOnce<T>(method: string, path: string, o: RequestOptions): Promise<T> {
    const res = await this.open(method, path, o);
    const text = await AgentClient.readAll(res);
    const status = res.statusCode ?? 0;
    if (status >= 400) throw AgentClient.fail(status, text);
    if (!text) return undefined as T;
    return JSON.parse(text) as T;
  }

  /**
   * Sends a file as the request body (application/octet-stream, streamed: a host update bundle is hundreds of MB);
   * `progress` gets the bytes sent so far. Resolves with the parsed JSON answer.
   */
  async upload<T = unknown>(path: string, file: { stream: NodeJS.ReadableStream; size: number }, progress?: (sent: number) => void): Promise<T> {
    const headers = { authorization: `Bearer ${this.opts.token}`, accept: 'application/json', 'content-type': 'application/octet-stream', 'content-length': String(file.size) };
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request({ ...this.target(path), method: 'POST', headers, agent: false }, resolve);
      req.on('error', (err: NodeJS.ErrnoException) => reject(new PleacoError('unavailable', `upload to the pleaco agent failed: ${err.message}`, { cause: err })));
      let sent = 0;
      file.stream.on('data', (c: Buffer) => progress?.((sent += c.length)));
      file.stream.on('error', (err) => req.destroy(err));
      file.stream.pipe(req);
    });
    const text = await AgentClient.readAll(res);
    if ((res.statusCode ?? 0) >= 400) throw AgentClient.fail(res.statusCode ?? 0, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Streams an ndjson response, calling onEvent for each line. Resolves when the server ends it. */
  async stream(path: string, onEvent: (ev: unknown) => void, o: RequestOptions & { method?: 'GET' | 'POST' } = {}): Promise<void> {
    const res = await this.open(o.method ?? 'GET', path, o, true);
    res.on('error', () => undefined); // an abort after the end must not surface as an unhandled error
    const status = res.statusCode ?? 0;
    if (status >= 400) throw AgentClient.fail(status, await AgentClient.readAll(res));
    let buf = '';
    for await (const chunk of res) {
      buf += (chunk as Buffer).toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.trim()) onEvent(JSON.parse(line));
      }
    }
    if (buf.trim()) onEvent(JSON.parse(buf));
  }
}
