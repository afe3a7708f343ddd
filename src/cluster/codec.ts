/**
 * Bytes for the cluster's messages. A message body is a plain JSON object (what the protocol core
 * produces). A datagram's plaintext is a small binary header (who sent it, which process start, which
 * packet; see replay.ts) followed by the JSON body; the whole plaintext is then sealed (crypto.ts), so
 * the header is both hidden and authenticated. Decoders return null on anything malformed; they never
 * throw.
 */
import { PleacoError } from '../errors.js';
import { SEAL_OVERHEAD } from './crypto.js';

/** Default size budget of one sealed datagram on the wire: fits a 1,500-byte Ethernet MTU with room for IP/UDP headers. */
export const DEFAULT_MAX_DATAGRAM = 1400;
/** Hard cap on a datagram: the largest UDP payload IPv4 can carry (65,535 − 20 − 8). */
export const MAX_DATAGRAM_CAP = 65_507;
/** Epoch length in bytes: random per process start. */
export const EPOCH_BYTES = 8;
const MAX_ID_BYTES = 255;
const FIXED_HEADER = 1 + EPOCH_BYTES + 8 + 8; // id length, epoch, seq, sentAt

/** A JSON object message, as the protocol core sends and receives them. */
export type Message = Record<string, unknown>;

/** Who sent a datagram: node id, boot epoch (hex), per-process sequence number, sender's wall clock (ms). */
export interface DatagramHeader {
  sender: string;
  epoch: string;
  seq: number;
  sentAt: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** True for a non-null, non-array object. */
export function isMessage(v: unknown): v is Message {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON bytes of a message. Throws PleacoError('bad_request') for a non-object or a value JSON cannot hold. */
export function encodeBody(msg: Message): Buffer {
  if (!isMessage(msg)) throw new PleacoError('bad_request', 'a cluster message must be a JSON object');
  let text: string;
  try {
    text = JSON.stringify(msg);
  } catch (err) {
    throw new PleacoError('bad_request', 'cluster message is not JSON-serializable', { cause: err });
  }
  return Buffer.from(text, 'utf8');
}

/** The message in JSON bytes, or null unless they are valid UTF-8 JSON of an object. */
export function decodeBody(bytes: Buffer): Message | null {
  try {
    const v: unknown = JSON.parse(utf8.decode(bytes));
    return isMessage(v) ? v : null;
  } catch {
    return null;
  }
}

/** Bytes the datagram header takes for a given sender id. */
export function headerBytes(sender: string): number {
  return FIXED_HEADER + Buffer.byteLength(sender, 'utf8');
}

/** Largest JSON body that fits in a sealed datagram of `maxDatagram` bytes sent by `sender`. */
export function maxBodyBytes(sender: string, maxDatagram = DEFAULT_MAX_DATAGRAM): number {
  return maxDatagram - SEAL_OVERHEAD - headerBytes(sender);
}

/** Checks a node id can go in a header: 1..255 UTF-8 bytes. Throws PleacoError('invalid_config'). */
export function checkSenderId(sender: string): void {
  const n = typeof sender === 'string' ? Buffer.byteLength(sender, 'utf8') : 0;
  if (n < 1 || n > MAX_ID_BYTES) throw new PleacoError('invalid_config', `node id must be 1..${MAX_ID_BYTES} bytes of UTF-8`);
}

/** Plaintext of a datagram: header then body. The caller checks the size budget. */
export function encodeDatagram(h: DatagramHeader, body: Buffer): Buffer {
  const id = Buffer.from(h.sender, 'utf8');
  const epoch = Buffer.from(h.epoch, 'hex');
  if (epoch.length !== EPOCH_BYTES) throw new PleacoError('internal', `epoch must be ${EPOCH_BYTES} bytes of hex`);
  const out = Buffer.allocUnsafe(FIXED_HEADER + id.length + body.length);
  let o = out.writeUInt8(id.length, 0);
  o += id.copy(out, o);
  o += epoch.copy(out, o);
  o = out.writeBigUInt64BE(BigInt(h.seq), o);
  o = out.writeBigUInt64BE(BigInt(h.sentAt), o);
  body.copy(out, o);
  return out;
}

/**
 * Splits a datagram plaintext into header and body bytes, or null if the header is cut short, the id is
 * empty or not UTF-8, or a number is beyond 2^53. The body is not parsed here.
 */
export function decodeDatagram(plain: Buffer): { header: DatagramHeader; body: Buffer } | null {
  if (plain.length < FIXED_HEADER + 1) return null;
  const idLen = plain[0]!;
  if (idLen === 0 || plain.length < FIXED_HEADER + idLen) return null;
  let sender: string;
  try {
    sender = utf8.decode(plain.subarray(1, 1 + idLen));
  } catch {
    return null;
  }
  let o = 1 + idLen;
  const epoch = plain.toString('hex', o, o + EPOCH_BYTES);
  o += EPOCH_BYTES;
  const seq = plain.readBigUInt64BE(o);
  const sentAt = plain.readBigUInt64BE(o + 8);
  if (seq > BigInt(Number.MAX_SAFE_INTEGER) || sentAt > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return { header: { sender, epoch, seq: Number(seq), sentAt: Number(sentAt) }, body: plain.subarray(o + 16) };
}
