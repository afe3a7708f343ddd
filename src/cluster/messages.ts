/**
 * The SWIM wire messages: plain JSON-serializable objects with a `t` type field. Everything received
 * goes through `parseMessage`, which returns null for anything malformed (the core counts and drops
 * it), so a bad or hostile packet can never throw out of `SwimNode.receive`.
 */
import type { Addr } from './config.js';

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

/**
 * Direct probe. `node` is the intended target (a ping for someone else is dropped); the ack goes to
 * `addr`, over a stream when `stream` is set (memberlist's TCP fallback ping).
 */
export interface PingMsg { t: 'ping'; seq: number; node: string; from: string; addr: Addr; stream?: boolean }
/** Ask a peer to probe `node` at `target` for us; it answers ack, or nack if `nack` and no ack came in time. */
export interface PingReqMsg { t: 'ping-req'; seq: number; node: string; target: Addr; from: string; addr: Addr; nack: boolean }
export interface AckMsg { t: 'ack'; seq: number; from: string }
/** Lifeguard: the relay is alive but got no answer from the target. */
export interface NackMsg { t: 'nack'; seq: number; from: string }
export interface AliveMsg { t: 'alive'; node: string; addr: Addr; inc: number; meta: Record<string, string> }
export interface SuspectMsg { t: 'suspect'; node: string; inc: number; from: string }
/** `from === node` means a graceful leave. */
export interface DeadMsg { t: 'dead'; node: string; inc: number; from: string }
/** A user broadcast: the newest (ltime, origin) per key wins and is delivered once. */
export interface UserMsg { t: 'user'; key: string; ltime: number; origin: string; payload: unknown }
export interface PushPullMember { id: string; addr: Addr; state: MemberState; inc: number; meta: Record<string, string> }
/**
 * Full membership state, sent over a stream; a non-reply is answered with the receiver's own state.
 * `user` replays the sender's latest user broadcasts.
 */
export interface PushPullMsg { t: 'push-pull'; from: string; addr: Addr; join: boolean; reply: boolean; members: PushPullMember[]; user?: UserMsg[] }

/** Messages that fit in one packet and can be combined into a compound. */
export type PacketPart = PingMsg | PingReqMsg | AckMsg | NackMsg | AliveMsg | SuspectMsg | DeadMsg | UserMsg;
/** Several packet messages in one UDP datagram (a probe with piggybacked gossip). */
export interface CompoundMsg { t: 'compound'; parts: PacketPart[] }
export type SwimMessage = PacketPart | CompoundMsg | PushPullMsg;

const MAX_ID = 256;
const MAX_ADDR = 300;
const MAX_KEY = 512;
const MAX_META_KEYS = 64;
const MAX_PARTS = 256;
const MAX_MEMBERS = 200_000;

/** JSON text of `{"t":"compound","parts":[]}`; each part after the first adds one comma. */
export const COMPOUND_OVERHEAD = JSON.stringify({ t: 'compound', parts: [] }).length;

const SIZE = Symbol('swim.size');

/**
 * The UTF-8 length of the message's JSON text: what the core budgets against maxPacketBytes.
 * Memoized on the object under a symbol (invisible to JSON), as queued messages are not mutated.
 */
export function messageSize(m: object): number {
  const memo = (m as { [SIZE]?: number })[SIZE];
  if (memo !== undefined) return memo;
  const size = Buffer.byteLength(JSON.stringify(m));
  if (Object.isExtensible(m)) Object.defineProperty(m, SIZE, { value: size });
  return size;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isAddr = (v: unknown): v is string => typeof v === 'string' && v.length > 2 && v.length <= MAX_ADDR && v.includes(':');
const STATES = new Set<unknown>(['alive', 'suspect', 'dead', 'left']);

export function isMeta(v: unknown): v is Record<string, string> {
  if (!isObj(v)) return false;
  const keys = Object.keys(v);
  if (keys.length > MAX_META_KEYS) return false;
  for (const k of keys) if (k.length === 0 || k.length > MAX_KEY || typeof v[k] !== 'string' || (v[k]).length > 4096) return false;
  return true;
}

function parsePart(m: Record<string, unknown>): PacketPart | null {
  switch (m.t) {
    case 'ping':
      return isNat(m.seq) && isStr(m.node, MAX_ID) && isStr(m.from, MAX_ID) && isAddr(m.addr) && (m.stream === undefined || typeof m.stream === 'boolean')
        ? (m as unknown as PingMsg) : null;
    case 'ping-req':
      return isNat(m.seq) && isStr(m.node, MAX_ID) && isAddr(m.target) && isStr(m.from, MAX_ID) && isAddr(m.addr) && typeof m.nack === 'boolean'
        ? (m as unknown as PingReqMsg) : null;
    case 'ack':
    case 'nack':
      return isNat(m.seq) && isStr(m.from, MAX_ID) ? (m as unknown as AckMsg | NackMsg) : null;
    case 'alive':
      return isStr(m.node, MAX_ID) && isAddr(m.addr) && isNat(m.inc) && isMeta(m.meta) ? (m as unknown as AliveMsg) : null;
    case 'suspect':
    case 'dead':
      return isStr(m.node, MAX_ID) && isNat(m.inc) && isStr(m.from, MAX_ID) ? (m as unknown as SuspectMsg | DeadMsg) : null;
    case 'user':
      return isStr(m.key, MAX_KEY) && isNat(m.ltime) && isStr(m.origin, MAX_ID) && m.payload !== undefined ? (m as unknown as UserMsg) : null;
    default:
      return null;
  }
}

function parseMember(v: unknown): v is PushPullMember {
  return isObj(v) && isStr(v.id, MAX_ID) && isAddr(v.addr) && STATES.has(v.state) && isNat(v.inc) && isMeta(v.meta);
}

/**
 * Validates a received message. Returns the message (compound parts that fail validation are removed,
 * `bad` counts them), or null when the message as a whole is malformed.
 */
export function parseMessage(v: unknown): { msg: SwimMessage; bad: number } | null {
  if (!isObj(v)) return null;
  if (v.t === 'compound') {
    if (!Array.isArray(v.parts) || v.parts.length === 0 || v.parts.length > MAX_PARTS) return null;
    const parts: PacketPart[] = [];
    let bad = 0;
    for (const p of v.parts) {
      const ok = isObj(p) ? parsePart(p) : null;
      if (ok) parts.push(ok);
      else bad++;
    }
    return { msg: { t: 'compound', parts }, bad };
  }
  if (v.t === 'push-pull') {
    if (!isStr(v.from, MAX_ID) || !isAddr(v.addr) || typeof v.join !== 'boolean' || typeof v.reply !== 'boolean') return null;
    if (!Array.isArray(v.members) || v.members.length > MAX_MEMBERS) return null;
    for (const m of v.members) if (!parseMember(m)) return null;
    if (v.user !== undefined) {
      if (!Array.isArray(v.user) || v.user.length > MAX_PARTS) return null;
      for (const u of v.user) if (!isObj(u) || u.t !== 'user' || !parsePart(u)) return null;
    }
    return { msg: v as unknown as PushPullMsg, bad: 0 };
  }
  const part = parsePart(v);
  return part ? { msg: part, bad: 0 } : null;
}

/** A message the transport must deliver: 'udp' for packets, 'stream' (TCP) for push-pull state and fallback pings and their acks. */
export interface Outgoing {
  to: Addr;
  msg: SwimMessage;
  channel: 'udp' | 'stream';
  /** The core's size estimate: UTF-8 length of JSON.stringify(msg). */
  bytes?: number;
}

/** A user broadcast delivered to this node (once per key and version; the origin gets its own too). */
export interface UserDelivery {
  from: string;
  key: string;
  payload: unknown;
}

/** A read-only snapshot of a member, as handed to callers and events. */
export interface MemberView {
  id: string;
  addr: Addr;
  state: MemberState;
  incarnation: number;
  meta: Record<string, string>;
  since: number;
}

/** A change in this node's view of a member ('alive': a suspicion was refuted; 'update': new metadata). */
export interface MemberEvent {
  type: 'join' | 'update' | 'suspect' | 'alive' | 'dead' | 'leave';
  member: MemberView;
}

/** What one call into the core produced: messages to send, membership events, user broadcasts delivered. */
export interface CoreOutput {
  send: Outgoing[];
  events: MemberEvent[];
  user: UserDelivery[];
}
