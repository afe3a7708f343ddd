/**
 * Downloads an advisory source over http(s) to a local file, streaming: redirects followed (at most 5, never from
 * https down to http), a byte limit, an overall deadline and an idle timeout. Credentials in the URL's userinfo are
 * sent as Basic auth to the first origin only and never appear in messages: `redactSource` is the one way a source
 * is described to users and logs. Plain http is allowed for any host (the export is verified only by what it
 * contains, so an operator choosing http accepts that).
 */
import { createWriteStream } from 'node:fs';
import { redactSource } from '../../model/index.js';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { PleacoError } from '../../errors.js';

export interface FetchOptions {
  signal?: AbortSignal;
  maxBytes: number;
  /** Whole download deadline (default 30 min). */
  timeoutMs?: number;
  /** No byte for this long fails the download (default 60 s). */
  idleMs?: number;
  onProgress?(line: string): void;
}

const MAX_REDIRECTS = 5;


function request(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<IncomingMessage> {
  const get = url.protocol === 'https:' ? httpsGet : httpGet;
  return new Promise((resolve, reject) => {
    const req = get(url, { headers, signal }, resolve);
    req.on('error', reject);
  });
}

/** Fetches `source` into `file`; resolves with the number of bytes written. */
export async function download(source: string, file: string, o: FetchOptions): Promise<number> {
  const shown = redactSource(source);
  const ctl = new AbortController();
  const onAbort = (): void => ctl.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const deadline = setTimeout(() => ctl.abort(new PleacoError('unavailable', `advisory download from ${shown} timed out`)), o.timeoutMs ?? 30 * 60_000);
  let idle: NodeJS.Timeout | undefined;
  const fail = (msg: string, code: 'unavailable' | 'bad_request' | 'payload_too_large' = 'unavailable'): PleacoError =>
    new PleacoError(code, `advisory download from ${shown} failed: ${msg}`);
  try {
    o.signal?.throwIfAborted();
    let url = new URL(source);
    const origin = url.origin;
    const auth = url.username ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}` : undefined;
    url.username = '';
    url.password = '';
    let res: IncomingMessage | undefined;
    for (let hop = 0; ; hop++) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw fail(`unsupported scheme ${url.protocol}`, 'bad_request');
      const headers: Record<string, string> = { accept: 'application/zip, application/json, */*' };
      if (auth && url.origin === origin) headers.authorization = auth;
      res = await request(url, headers, ctl.signal).catch((err: unknown) => {
        throw ctl.signal.reason instanceof PleacoError ? ctl.signal.reason : o.signal?.aborted ? err : fail((err as Error).message);
      });
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (hop >= MAX_REDIRECTS) throw fail(`more than ${MAX_REDIRECTS} redirects`);
        const next = new URL(res.headers.location, url);
        if (url.protocol === 'https:' && next.protocol !== 'https:') throw fail('redirect from https to a non-https address refused');
        url = next;
        continue;
      }
      if (status < 200 || status >= 300) {
        res.resume();
        throw fail(`HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`);
      }
      break;
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > o.maxBytes) {
      res.resume();
      throw fail(`the answer is ${declared} bytes, more than the limit of ${o.maxBytes}`, 'payload_too_large');
    }
    let got = 0;
    const idleMs = o.idleMs ?? 60_000;
    const arm = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => ctl.abort(fail(`no data for ${Math.round(idleMs / 1000)} s`)), idleMs);
    };
    arm();
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        got += chunk.length;
        arm();
        if (got > o.maxBytes) return cb(fail(`the answer is more than the limit of ${o.maxBytes} bytes`, 'payload_too_large'));
        cb(null, chunk);
      },
    });
    o.onProgress?.(`downloading ${shown}`);
    try {
      await pipeline(res, meter, createWriteStream(file), { signal: ctl.signal });
    } catch (err) {
      if (err instanceof PleacoError) throw err;
      if (ctl.signal.reason instanceof PleacoError) throw ctl.signal.reason;
      if (o.signal?.aborted) throw o.signal.reason;
      throw fail((err as Error).message);
    }
    o.onProgress?.(`downloaded ${got} bytes from ${shown}`);
    return got;
  } finally {
    clearTimeout(deadline);
    clearTimeout(idle);
    o.signal?.removeEventListener('abort', onAbort);
  }
}
