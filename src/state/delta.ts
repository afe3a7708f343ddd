/**
 * Gossip deltas: what a committed local write turns into for the membership layer's
 * `broadcast(key, payload)` (payloads are plain JSON objects). The broadcast key is the state key, so
 * a newer write of the same key replaces a queued older one (here and in the gossip queue). A payload
 * carries the whole entry when it fits maxDeltaBytes (one UDP packet shared with SWIM traffic);
 * otherwise only a notice (key + stamp), and a receiver that lacks that write fetches it from the
 * writer over the stream transport (Replica.fetch) or gets it at the next push-pull. Deltas are best
 * effort; push-pull is what guarantees convergence.
 */
import { isValidHlc, type Hlc } from './hlc.js';
import type { Entry } from './lww.js';
import { isValidKey } from './validate.js';

/** Default payload bound: leaves room in a 1,400-byte packet for SWIM headers and AES-GCM framing. */
export const DEFAULT_MAX_DELTA_BYTES = 1024;

/** A delta as broadcast: the whole entry, or a notice of it. */
export type DeltaPayload = { v: 1; e: Entry } | { v: 1; n: { key: string; ts: Hlc } };

/** The notice form of an entry (key and stamp only). */
export function deltaNotice(e: Entry): DeltaPayload {
  return { v: 1, n: { key: e.key, ts: e.ts } };
}

/** The payload for one committed entry: the entry itself if its JSON fits maxDeltaBytes, else a notice. */
export function encodeDelta(e: Entry, maxDeltaBytes = DEFAULT_MAX_DELTA_BYTES): DeltaPayload {
  const full: DeltaPayload = { v: 1, e };
  return Buffer.byteLength(JSON.stringify(full)) <= maxDeltaBytes ? full : deltaNotice(e);
}

export type Delta = { entry: unknown } | { notice: { key: string; ts: Hlc } };

/**
 * Reads a payload as received (the object, or its JSON as a string or bytes); null when it is not a
 * delta. The entry itself is validated when applied.
 */
export function decodeDelta(payload: unknown): Delta | null {
  let v = payload as { v?: unknown; e?: unknown; n?: { key?: unknown; ts?: unknown } } | null;
  if (typeof payload === 'string' || payload instanceof Uint8Array) {
    try {
      v = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8')) as typeof v;
    } catch {
      return null;
    }
  }
  if (!v || typeof v !== 'object' || v.v !== 1) return null;
  if (v.e !== undefined) return { entry: v.e };
  if (v.n && typeof v.n === 'object' && isValidKey(v.n.key) && isValidHlc(v.n.ts)) return { notice: { key: v.n.key, ts: v.n.ts } };
  return null;
}

/**
 * Deltas waiting for a broadcaster, one per key (a newer write replaces the queued one and moves to
 * the back). Bounded: past maxQueued the oldest is dropped and counted; push-pull repairs it.
 */
export class DeltaQueue {
  private readonly queued = new Map<string, DeltaPayload>();
  dropped = 0;

  constructor(private readonly maxQueued = 10_000) {}

  push(key: string, payload: DeltaPayload): void {
    this.queued.delete(key);
    this.queued.set(key, payload);
    while (this.queued.size > this.maxQueued) {
      const oldest = this.queued.keys().next().value as string;
      this.queued.delete(oldest);
      this.dropped++;
    }
  }

  /** Everything queued, oldest first; the queue is empty afterwards. */
  drain(): { key: string; payload: DeltaPayload }[] {
    const out = [...this.queued].map(([key, payload]) => ({ key, payload }));
    this.queued.clear();
    return out;
  }

  get size(): number {
    return this.queued.size;
  }
}
