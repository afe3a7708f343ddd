/**
 * What the store accepts: key syntax, value size, and (for entries from other replicas) stamp shape and
 * the single-writer rule of observed state. Pure; shared by local writes and remote merges so a write
 * accepted here is never refused by a peer.
 */
import { isValidHlc } from './hlc.js';
import type { Entry } from './lww.js';

export const KEY_RE = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._#:-]+)*$/;

/** Default bound on one value, serialized as JSON (bytes). Larger writes are refused locally and remotely. */
export const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024;

/** A key the store accepts: KEY_RE, at most 512 characters, no `.` or `..` segment. */
export function isValidKey(key: unknown): key is string {
  return typeof key === 'string' && key.length <= 512 && KEY_RE.test(key) && !key.split('/').some((seg) => seg === '.' || seg === '..');
}

/** The node that alone may write `key` (observed state `obs/<node>/...`), or null for desired state. */
export function obsWriter(key: string): string | null {
  const m = /^obs\/([^/]+)\//.exec(key);
  return m ? m[1]! : null;
}

/** Serializes a value and checks its size; returns the JSON or a reason. */
export function valueJson(value: unknown, maxValueBytes: number): { json: string } | { reason: 'value' | 'too_large' } {
  if (value === undefined) return { reason: 'value' };
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    return { reason: 'value' };
  }
  if (typeof json !== 'string') return { reason: 'value' };
  if (json.length > maxValueBytes && Buffer.byteLength(json) > maxValueBytes) return { reason: 'too_large' };
  return { json };
}

/** Why an entry from a peer was refused; `future`: its stamp is further ahead of our clock than the drift bound (store.ts). */
export type RejectReason = 'shape' | 'key' | 'stamp' | 'value' | 'too_large' | 'obs_writer' | 'future';
export type EntryCheck = { ok: true; entry: Entry } | { ok: false; reason: RejectReason };

/**
 * Checks one entry received from another replica and returns a clean copy (extra fields dropped, the
 * value a fresh JSON copy). Refuses: a bad key, a stamp out of shape (see isValidHlc), a value that is
 * not JSON or larger than maxValueBytes, and observed state `obs/<n>/` stamped by a node other than n.
 */
export function checkRemoteEntry(raw: unknown, maxValueBytes: number): EntryCheck {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, reason: 'shape' };
  const e = raw as Partial<Entry>;
  if (!isValidKey(e.key)) return { ok: false, reason: 'key' };
  if (!isValidHlc(e.ts)) return { ok: false, reason: 'stamp' };
  const v = valueJson(e.value, maxValueBytes);
  if ('reason' in v) return { ok: false, reason: v.reason };
  const writer = obsWriter(e.key);
  if (writer !== null && writer !== e.ts.node) return { ok: false, reason: 'obs_writer' };
  return { ok: true, entry: { key: e.key, value: JSON.parse(v.json) as unknown, ts: { wall: e.ts.wall, counter: e.ts.counter, node: e.ts.node } } };
}
