/**
 * The four frames of one stream exchange and what each is bound to (see stream.ts for the reasoning).
 * Each frame is sealed with the cluster key under an AAD naming its stage and the nonces known so far,
 * so a frame is only valid in the one place of the one exchange it was made for.
 */
import { PleacoError } from '../../errors.js';
import { SEAL_OVERHEAD, type Keyring } from '../crypto.js';

export const NONCE_BYTES = 16;
/** Largest sealed handshake frame: read before the peer has proven the key, so kept tiny. */
export const HANDSHAKE_FRAME_LIMIT = NONCE_BYTES + SEAL_OVERHEAD;
/** Default largest request/response body (a full state sync). */
export const DEFAULT_MAX_FRAME = 32 * 1024 * 1024;
/** Frames are length-prefixed with a u32; keep well below it. */
export const MAX_FRAME_CAP = 1024 * 1024 * 1024;

const LABEL = 'pleaco/tcp/1 ';

/** hello (client → server): its plaintext is the client nonce. */
export function helloAad(): Buffer {
  return Buffer.from(LABEL + 'hello');
}

/** challenge (server → client): its plaintext is the server nonce; bound to the client nonce. */
export function challengeAad(clientNonce: Buffer): Buffer {
  return Buffer.concat([Buffer.from(LABEL + 'challenge '), clientNonce]);
}

/** request (client → server) and response (server → client): JSON, bound to both nonces. */
export function exchangeAad(stage: 'request' | 'response', clientNonce: Buffer, serverNonce: Buffer): Buffer {
  return Buffer.concat([Buffer.from(LABEL + stage + ' '), clientNonce, serverNonce]);
}

/** Checks a configured max frame size. Throws PleacoError('invalid_config'). */
export function checkMaxFrame(n: number): number {
  if (!Number.isInteger(n) || n < 64 || n > MAX_FRAME_CAP) throw new PleacoError('invalid_config', `maxFrameBytes must be an integer in 64..${MAX_FRAME_CAP}`);
  return n;
}

/** Checks a configured timeout in ms. Throws PleacoError('invalid_config'). */
export function checkTimeout(name: string, n: number): number {
  if (!Number.isFinite(n) || n <= 0) throw new PleacoError('invalid_config', `${name} must be a positive number of milliseconds`);
  return n;
}

export interface StreamOptions {
  keyring: Keyring;
  /** Largest JSON plaintext of one frame, both ways. Default 32 MiB. */
  maxFrameBytes?: number;
  /** Drop the connection after this long without a byte (and bound the handshake). Default 10 s. */
  idleTimeoutMs?: number;
}

export interface StreamRequestOptions extends StreamOptions {
  /** Give up if the TCP connection is not established by then. Default 3 s. */
  connectTimeoutMs?: number;
  /**
   * Source address of the connection (the node's own bind address), used when the peer's address is of the same
   * family: the server caps connections per remote address, so the address it sees must be this node's own.
   */
  localAddress?: string;
}
