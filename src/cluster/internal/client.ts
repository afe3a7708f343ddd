/**
 * The client side of a stream exchange (protocol in ../stream.ts): connect, hello, read the server's
 * challenge, send the request bound to both nonces, read the response bound to both nonces.
 */
import { connect, isIP } from 'node:net';
import { randomBytes } from 'node:crypto';
import { PleacoError } from '../../errors.js';
import { SEAL_OVERHEAD } from '../crypto.js';
import { decodeBody, encodeBody, isMessage, type Message } from '../codec.js';
import { parseHostPort } from './addr.js';
import { FrameReader, frameBytes } from './frames.js';
import { challengeAad, checkMaxFrame, checkTimeout, DEFAULT_MAX_FRAME, exchangeAad, HANDSHAKE_FRAME_LIMIT, helloAad, NONCE_BYTES, type StreamRequestOptions } from './session.js';

/** Why an exchange failed, in `details.reason` of the PleacoError('unavailable'). */
export type StreamFailure = 'connect_failed' | 'connect_timeout' | 'idle_timeout' | 'closed' | 'bad_key' | 'oversize' | 'malformed' | 'remote';

function failure(to: string, reason: StreamFailure, message: string, extra: Record<string, unknown> = {}, cause?: unknown): PleacoError {
  return new PleacoError('unavailable', `stream to ${to}: ${message}`, { details: { peer: to, reason, ...extra }, cause });
}

/**
 * Sends one request object to a StreamServer at "ip:port" and resolves with its response object.
 * Rejects with PleacoError('payload_too_large') before connecting if the request is over maxFrameBytes,
 * 'bad_request' for an address that is not an IP literal, and PleacoError('unavailable', with
 * details.reason a StreamFailure) for everything on the way.
 */
export async function streamRequest(to: string, request: Message, opts: StreamRequestOptions): Promise<Message> {
  const peer = parseHostPort(to);
  const maxFrame = checkMaxFrame(opts.maxFrameBytes ?? DEFAULT_MAX_FRAME);
  const idleMs = checkTimeout('idleTimeoutMs', opts.idleTimeoutMs ?? 10_000);
  const connectMs = checkTimeout('connectTimeoutMs', opts.connectTimeoutMs ?? 3_000);
  const body = encodeBody(request);
  if (body.length > maxFrame) {
    throw new PleacoError('payload_too_large', `request of ${body.length} bytes exceeds maxFrameBytes ${maxFrame}`);
  }
  const { keyring } = opts;
  const clientNonce = randomBytes(NONCE_BYTES);
  let serverNonce: Buffer = Buffer.alloc(0);

  return new Promise<Message>((resolve, reject) => {
    const local = opts.localAddress !== undefined && isIP(opts.localAddress) === isIP(peer.host) && !/^(0\.0\.0\.0|::)$/.test(opts.localAddress) ? { localAddress: opts.localAddress } : {};
    const sock = connect({ host: peer.host, port: peer.port, ...local });
    const reader = new FrameReader(HANDSHAKE_FRAME_LIMIT);
    let stage: 'challenge' | 'response' | 'done' = 'challenge';
    const finish = (err: PleacoError | null, value?: Message): void => {
      if (stage === 'done') return;
      stage = 'done';
      clearTimeout(connectTimer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const connectTimer = setTimeout(() => finish(failure(to, 'connect_timeout', `not connected after ${connectMs} ms`)), connectMs);
    const write = (frame: Buffer): void => {
      for (const b of frameBytes(frame)) sock.write(b);
    };

    let connected = false;
    sock.on('error', (err) => {
      const errno = (err as NodeJS.ErrnoException).code;
      finish(failure(to, connected ? 'closed' : 'connect_failed', connected ? 'connection reset' : err.message, { errno }, err));
    });
    sock.on('close', () => finish(failure(to, 'closed', 'connection closed before a response (wrong cluster key, or the peer gave up)')));
    sock.on('connect', () => {
      connected = true;
      clearTimeout(connectTimer);
      sock.setNoDelay(true);
      sock.setTimeout(idleMs, () => finish(failure(to, 'idle_timeout', `no data for ${idleMs} ms`)));
      write(keyring.seal(clientNonce, helloAad()));
    });
    sock.on('data', (chunk: Buffer) => {
      if (stage === 'done') return;
      reader.push(chunk);
      for (;;) {
        const f = reader.next();
        if (f === null) return;
        if (f === 'oversize') return finish(failure(to, 'oversize', `response frame over ${reader.limit} bytes`));
        if (stage === 'challenge') {
          const plain = keyring.open(f, challengeAad(clientNonce));
          if (!plain || plain.length !== NONCE_BYTES) return finish(failure(to, 'bad_key', 'peer did not answer with the cluster key'));
          serverNonce = plain;
          reader.limit = maxFrame + SEAL_OVERHEAD;
          stage = 'response';
          write(keyring.seal(body, exchangeAad('request', clientNonce, serverNonce)));
        } else {
          const plain = keyring.open(f, exchangeAad('response', clientNonce, serverNonce));
          if (!plain) return finish(failure(to, 'bad_key', 'response does not open under this exchange'));
          const res = decodeBody(plain);
          if (!res) return finish(failure(to, 'malformed', 'response is not a JSON object'));
          if (res.ok === true && isMessage(res.body)) return finish(null, res.body);
          const code = typeof res.code === 'string' ? res.code.slice(0, 64) : 'unknown';
          return finish(failure(to, 'remote', `peer could not answer (${code})`, { remote_code: code }));
        }
      }
    });
  });
}
