/**
 * The wire side of anti-entropy (sync.ts): checks of requests and responses from peers, so a garbled
 * or hostile message is refused with a reason instead of reaching the store, and `directExchange`,
 * the in-memory stand-in for the stream transport used by tests and benchmarks.
 */
import { differingIndexes, LEAVES, TOPS } from './digest.js';
import { isValidHlc, NODE_ID_RE } from './hlc.js';
import type { KeyStamp, PeerInfo, SyncRequest, SyncResponse } from './sync.js';
import { isValidKey } from './validate.js';

/** Upper bound on list lengths in one message (the byte budget normally binds first). */
export const MAX_LIST = 200_000;

const HEX16 = /^[0-9a-f]{16}$/;
const isInt = (v: unknown, lo: number, hi: number): v is number => Number.isSafeInteger(v) && (v as number) >= lo && (v as number) <= hi;
const isList = (v: unknown): v is unknown[] => Array.isArray(v) && v.length <= MAX_LIST;

export function isPeerInfo(v: unknown): v is PeerInfo {
  const p = v as PeerInfo;
  return !!p && typeof p === 'object' && typeof p.node === 'string' && NODE_ID_RE.test(p.node) && ['fresh', 'current', 'away'].includes(p.status)
    && isInt(p.syncedAt, 0, Number.MAX_SAFE_INTEGER) && isInt(p.reapedBefore, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER) && isInt(p.at, 0, Number.MAX_SAFE_INTEGER)
    && isInt(p.since, 0, Number.MAX_SAFE_INTEGER);
}

function isKeyStamp(v: unknown): v is KeyStamp {
  return Array.isArray(v) && v.length === 5 && isValidKey(v[0]) && isValidHlc({ wall: v[1], counter: v[2], node: v[3] }) && typeof v[4] === 'string' && HEX16.test(v[4]);
}

/** Checks a request from a peer; returns it typed, or a reason. Entries inside are checked on apply. */
export function parseRequest(raw: unknown): SyncRequest | string {
  const r = raw as Record<string, unknown>;
  if (!r || typeof r !== 'object' || r.v !== 1) return 'not a sync request (version 1)';
  switch (r.t) {
    case 'digest':
      return isPeerInfo(r.from) && typeof r.top === 'string' && differingIndexes(r.top, r.top, TOPS) !== null ? (r as SyncRequest) : 'bad digest';
    case 'keys':
      return isPeerInfo(r.from) && isList(r.buckets) && r.buckets.every((x) => isInt((x as { b: unknown }).b, 0, LEAVES - 1) && isList((x as { k: unknown }).k) && (x as { k: unknown[] }).k.every(isKeyStamp)) ? (r as SyncRequest) : 'bad keys';
    case 'push':
      return isList(r.entries) ? (r as SyncRequest) : 'bad push';
    case 'get':
      return isList(r.keys) && r.keys.every(isValidKey) ? (r as SyncRequest) : 'bad get';
    case 'done':
      return isPeerInfo(r.from) && isPeerInfo(r.peer) ? (r as SyncRequest) : 'bad done';
    default:
      return 'unknown sync request';
  }
}

/** Checks a response of the expected type from a peer; returns it typed, or a reason. */
export function parseResponse<T extends SyncResponse['t']>(raw: unknown, t: T): Extract<SyncResponse, { t: T }> | string {
  const r = raw as Record<string, unknown>;
  if (!r || typeof r !== 'object') return 'no response';
  if (r.t === 'error') return `peer refused: ${String(r.code)}: ${String(r.message)}`;
  if (r.t !== t) return `expected ${t}, got ${String(r.t)}`;
  const ok =
    t === 'digest' ? isPeerInfo(r.peer) && isList(r.diff) && r.diff.every((d) => isInt((d as { top: unknown }).top, 0, TOPS - 1) && typeof (d as { leaves: unknown }).leaves === 'string')
    : t === 'keys' ? isList(r.entries) && isList(r.want) && r.want.every(isValidKey) && isList(r.done) && r.done.every((b) => isInt(b, 0, LEAVES - 1))
    : t === 'get' ? isList(r.entries)
    : true;
  return ok ? (r as Extract<SyncResponse, { t: T }>) : `bad ${t} response`;
}

/** Messages and bytes through a directExchange; `largest` per message kind (e.g. "keys response"). */
export interface ExchangeStats {
  requests: number;
  bytesOut: number;
  bytesIn: number;
  largest: Record<string, number>;
}

/**
 * An in-memory transport for tests and benchmarks (a named fake of the stream transport): each request
 * and response goes through JSON.stringify/parse, as on the wire, straight into `responder.handle`.
 * `stats` counts messages and bytes.
 */
export function directExchange(responder: { handle(raw: unknown): Promise<SyncResponse> }): ((req: SyncRequest) => Promise<unknown>) & { stats: ExchangeStats } {
  const stats: ExchangeStats = { requests: 0, bytesOut: 0, bytesIn: 0, largest: {} };
  const call = async (req: SyncRequest): Promise<unknown> => {
    const wire = JSON.stringify(req);
    const res = JSON.stringify(await responder.handle(JSON.parse(wire)));
    const [out, back] = [Buffer.byteLength(wire), Buffer.byteLength(res)];
    stats.requests++;
    stats.bytesOut += out;
    stats.bytesIn += back;
    stats.largest[`${req.t} request`] = Math.max(stats.largest[`${req.t} request`] ?? 0, out);
    stats.largest[`${req.t} response`] = Math.max(stats.largest[`${req.t} response`] ?? 0, back);
    return JSON.parse(res) as unknown;
  };
  return Object.assign(call, { stats });
}
