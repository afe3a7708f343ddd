/**
 * A raw HTTP/1.1 client for the fuzzer: it writes exactly the bytes it is given (no URL normalization, any method,
 * any header, broken framing) on a fresh TCP connection and reads the status line and headers of the answer, plus
 * a JSON error body when one is announced with a length. Slow bodies are written in pieces with pauses.
 */
import { connect } from 'node:net';

export interface RawReply {
  /** The HTTP status, or what happened instead. */
  status: number | 'closed' | 'timeout';
  /** Head and the start of the body (for a 5xx: what the agent said). */
  text: string;
}

export interface RawRequest {
  head: string;
  body?: Buffer;
  /** Write the body in this many pieces with `pauseMs` between them (a slow client). */
  pieces?: number;
  pauseMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function send(port: number, req: RawRequest, timeoutMs = 15_000): Promise<RawReply> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (r: RawReply): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ status: 'timeout', text: buf.toString('latin1', 0, 300) }), timeoutMs);
    sock.on('error', () => finish(parse(buf) ?? { status: 'closed', text: buf.toString('latin1', 0, 300) }));
    sock.on('close', () => finish(parse(buf) ?? { status: 'closed', text: buf.toString('latin1', 0, 300) }));
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]).subarray(0, 64 * 1024);
      const r = parse(buf, true);
      if (r) finish(r);
    });
    sock.once('connect', () => {
      void (async () => {
        sock.write(req.head, 'latin1');
        if (!req.body || req.body.length === 0) return;
        const pieces = Math.max(1, req.pieces ?? 1);
        const step = Math.ceil(req.body.length / pieces);
        for (let i = 0; i < req.body.length && !done && sock.writable; i += step) {
          if (i > 0 && req.pauseMs) await sleep(req.pauseMs);
          if (!done && sock.writable) sock.write(req.body.subarray(i, i + step));
        }
      })();
    });
  });
}

/**
 * The reply once its head is in (and, when it announces a short Content-Length, its body); null while incomplete.
 * A streaming answer (ndjson, chunked) is taken at its head: the fuzzer wants the status, not the stream.
 */
function parse(buf: Buffer, partial = false): RawReply | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) {
    if (partial) return null;
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(buf.toString('latin1', 0, 20));
    return m ? { status: Number(m[1]), text: buf.toString('latin1', 0, 300) } : null;
  }
  const head = buf.toString('latin1', 0, end);
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (!m) return { status: 'closed', text: head.slice(0, 300) };
  const len = /\r\ncontent-length: *(\d+)/i.exec(head);
  const want = len ? Math.min(Number(len[1]), 4096) : 0;
  if (partial && buf.length < end + 4 + want) return null;
  return { status: Number(m[1]), text: buf.toString('utf8', 0, Math.min(buf.length, end + 4 + want)).slice(0, 1500) };
}

/** A request head: the request line, the headers given (in order, as given), `Connection: close` unless set. */
export function head(method: string, path: string, headers: [string, string][]): string {
  const lines = [`${method} ${path} HTTP/1.1`, ...headers.map(([k, v]) => `${k}: ${v}`)];
  if (!headers.some(([k]) => k.toLowerCase() === 'connection')) lines.push('Connection: close');
  return lines.join('\r\n') + '\r\n\r\n';
}
