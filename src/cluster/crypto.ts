/**
 * The cluster key: AES-256-GCM sealing of every datagram and stream frame, with a keyring for rotation
 * (serf's `keys -install / -use / -remove`). A node seals with its primary key and opens with any key it
 * holds, so a cluster moves to a new key without a flag day: install everywhere, use everywhere, remove
 * the old one everywhere.
 *
 * Frame layout: `version (1) | nonce (12) | ciphertext | tag (16)`; the version byte and the caller's AAD
 * are authenticated. Nonces are `prefix (8) | counter (4)` (NIST SP 800-38D §8.2.1, deterministic
 * construction): the prefix is 64 random bits drawn when the process starts and again whenever the counter
 * wraps, the counter counts seals. A nonce can only repeat if two draws of the prefix collide (about
 * d²/2^65 after d draws cluster-wide), not after 2^32 seals per key as with fully random nonces, a budget
 * every node shares (a 1,000-node cluster at 20 datagrams/s per node would use it up in 2.5 days).
 * `sealed()` counts this node's seals. Nothing is derived from the key, and no message ever contains key
 * material.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';
import { PleacoError } from '../errors.js';

/** Key length in bytes (AES-256). */
export const KEY_BYTES = 32;
/** The one frame version this code writes and reads. */
export const FRAME_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes a sealed frame adds to its plaintext. */
export const SEAL_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;
const VERSION_AAD = Buffer.from([FRAME_VERSION]);
const BASE64 = /^[A-Za-z0-9+/]{43}=?$/;

/** A key as it may be given: base64 text from config (44 characters) or the 32 raw bytes. */
export type KeyInput = string | Buffer;

/**
 * Parses a cluster key from config. Throws PleacoError('invalid_config') unless it is standard base64
 * of exactly 32 bytes; the message names what was expected and never repeats the value.
 */
export function parseKey(input: KeyInput, what = 'cluster key'): Buffer {
  if (Buffer.isBuffer(input)) {
    if (input.length !== KEY_BYTES) throw new PleacoError('invalid_config', `${what} must be ${KEY_BYTES} bytes, got ${input.length}`);
    return Buffer.from(input);
  }
  if (typeof input !== 'string') throw new PleacoError('invalid_config', `${what} must be a base64 string`);
  const text = input.trim();
  if (!BASE64.test(text)) {
    throw new PleacoError('invalid_config', `${what} must be ${KEY_BYTES} random bytes in standard base64 (44 characters, e.g. from \`openssl rand -base64 32\`)`);
  }
  return Buffer.from(text, 'base64');
}

/** A fresh random key as base64 text, the form config takes. */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

/** A short public name for a key (first 8 bytes of its SHA-256, hex), for listings and logs. */
export function keyFingerprint(key: KeyInput): string {
  return createHash('sha256').update(parseKey(key)).digest('hex').slice(0, 16);
}

function macWith(key: Buffer, label: string, data: string): string {
  return createHmac('sha256', key).update(`pleaco ${label}\0`).update(data).digest().subarray(0, 16).toString('base64url');
}

/** The cluster id a key implies when the cluster file names none: the same on every node holding the key. */
export function clusterIdOf(key: KeyInput): string {
  return `c-${createHmac('sha256', parseKey(key)).update('pleaco cluster id').digest('hex').slice(0, 12)}`;
}

/** True when a buffer has the shape of a sealed frame (long enough, known version); says nothing of the key. */
export function isSealedShape(frame: Buffer): boolean {
  return frame.length >= SEAL_OVERHEAD && frame[0] === FRAME_VERSION;
}

/** The deterministic nonce (see the header): a random 64-bit prefix per process and counter wrap, then a counter. */
const noncePrefix = Buffer.alloc(8);
let nonceCounter = 0x1_0000_0000;
function nextNonce(): Buffer {
  if (nonceCounter > 0xffff_ffff) {
    randomFillSync(noncePrefix);
    nonceCounter = 0;
  }
  const n = Buffer.allocUnsafe(NONCE_BYTES);
  noncePrefix.copy(n, 0);
  n.writeUInt32BE(nonceCounter++, 8);
  return n;
}

function aadFor(aad: Buffer | undefined): Buffer {
  return aad && aad.length > 0 ? Buffer.concat([VERSION_AAD, aad]) : VERSION_AAD;
}

/**
 * A primary key plus the other keys this node accepts. `seal` always uses the primary; `open` tries the
 * primary first, then the others. The primary can be changed but never removed.
 */
export class Keyring {
  private primaryKey: Buffer;
  private readonly keys: Buffer[];
  private sealCount = 0;

  /** `primary` seals; `others` are accepted too (e.g. the previous key during a rotation). */
  constructor(primary: KeyInput, others: readonly KeyInput[] = []) {
    this.primaryKey = parseKey(primary, 'primary cluster key');
    this.keys = [this.primaryKey];
    others.forEach((k, i) => this.install(parseKey(k, `cluster key #${i + 1}`)));
  }

  /** Adds a key to the accepted set (no-op if already held). Throws 'invalid_config' on a malformed key. */
  install(key: KeyInput): void {
    const k = parseKey(key);
    if (this.indexOf(k) < 0) this.keys.push(k);
  }

  /** Makes an installed key the primary. Throws 'not_found' if it is not installed. */
  use(key: KeyInput): void {
    const i = this.indexOf(parseKey(key));
    if (i < 0) throw new PleacoError('not_found', 'cluster key is not installed; install it first');
    if (this.keys[i] !== this.primaryKey) this.sealCount = 0;
    this.primaryKey = this.keys[i]!;
  }

  /** Removes a non-primary key (no-op if not held). Throws 'conflict' for the primary key. */
  remove(key: KeyInput): void {
    const i = this.indexOf(parseKey(key));
    if (i < 0) return;
    if (this.keys[i] === this.primaryKey) throw new PleacoError('conflict', 'cannot remove the primary cluster key; use another key first');
    this.keys.splice(i, 1);
  }

  /** Fingerprints of the primary and of every accepted key (primary first); never the keys themselves. */
  fingerprints(): { primary: string; keys: string[] } {
    return { primary: keyFingerprint(this.primaryKey), keys: this.ordered().map((k) => keyFingerprint(k)) };
  }

  /** Frames sealed by this node since its primary key last changed (its share of the nonce budget). */
  sealed(): number {
    return this.sealCount;
  }

  /** Encrypts and authenticates `plaintext` (and `aad`, which is not sent) with the primary key. */
  seal(plaintext: Buffer, aad?: Buffer): Buffer {
    const nonce = nextNonce();
    const cipher = createCipheriv('aes-256-gcm', this.primaryKey, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aadFor(aad));
    const out = Buffer.allocUnsafe(SEAL_OVERHEAD + plaintext.length);
    out[0] = FRAME_VERSION;
    nonce.copy(out, 1);
    let o = 1 + NONCE_BYTES;
    o += cipher.update(plaintext).copy(out, o);
    o += cipher.final().copy(out, o);
    cipher.getAuthTag().copy(out, o);
    this.sealCount++;
    return out;
  }

  /**
   * The plaintext of a frame sealed with any held key under the same `aad`, or null (wrong key, tampered,
   * truncated, wrong version, wrong aad). Never throws.
   */
  open(frame: Buffer, aad?: Buffer): Buffer | null {
    if (!Buffer.isBuffer(frame) || !isSealedShape(frame)) return null;
    const nonce = frame.subarray(1, 1 + NONCE_BYTES);
    const body = frame.subarray(1 + NONCE_BYTES, frame.length - TAG_BYTES);
    const tag = frame.subarray(frame.length - TAG_BYTES);
    const fullAad = aadFor(aad);
    for (const key of this.ordered()) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
        decipher.setAAD(fullAad);
        decipher.setAuthTag(tag);
        const out = decipher.update(body);
        const fin = decipher.final();
        return fin.length ? Buffer.concat([out, fin]) : out;
      } catch {
        // wrong key or tampered frame: try the next key
      }
    }
    return null;
  }

  /**
   * A MAC of `data` under the primary key in the domain `label` (HMAC-SHA256, first 16 bytes, base64url): proves
   * the key without revealing it, e.g. in an mDNS announcement anyone on the link can read.
   */
  mac(label: string, data: string): string {
    return macWith(this.primaryKey, label, data);
  }

  /** True when `mac` is `mac(label, data)` under any held key (constant-time compare). */
  verifyMac(label: string, data: string, mac: string): boolean {
    if (typeof mac !== 'string' || mac.length !== 22) return false;
    const given = Buffer.from(mac, 'base64url');
    if (given.length !== 16) return false;
    return this.ordered().some((k) => timingSafeEqual(Buffer.from(macWith(k, label, data), 'base64url'), given));
  }

  /** The cluster id this key implies (`c-` and 12 hex digits of an HMAC of the primary key): a name, not a secret. */
  clusterId(): string {
    return clusterIdOf(this.primaryKey);
  }

  private ordered(): Buffer[] {
    return [this.primaryKey, ...this.keys.filter((k) => k !== this.primaryKey)];
  }

  private indexOf(key: Buffer): number {
    return this.keys.findIndex((k) => timingSafeEqual(k, key));
  }
}
