/**
 * Anti-entropy between two replicas, as pure logic (no I/O): the messages, the status rules, and
 * both sides' pages of key lists and entries (syncwire.ts checks messages; replica.ts drives it all).
 *
 * Exchange (initiator → responder, each a request/response):
 *   digest {top: 64 hashes}  → {peer, diff: the 64 leaf hashes under each top bucket that differs} (in sync: [])
 *   keys   {buckets: per differing leaf, the initiator's (key, stamp, hash) list}  → {entries the initiator
 *          needs, keys the responder wants, buckets fully answered}      (repeated until every leaf is done)
 *   push   {entries the responder wanted}  → {applied}
 *   done   {both sides' info from the start}  → {status}
 * Every list is cut to a byte budget (one entry larger than the budget still goes, alone).
 *
 * Away rule (no resurrection). Status: `fresh` (never completed an exchange), `current` (completed one
 * within awayAfterMs, default half the tombstone bound), `away` (longer ago). A tombstone is reaped
 * after the bound, so a replica that was away may hold keys whose delete it never saw and that
 * nobody remembers any more. In an exchange between X and Y, an entry for key k that X holds and Y
 * lacks is *not* sent when X is away, Y is current and Y.since ≤ k.wall < Y.reapedBefore: Y's view
 * covered k, so Y saw k deleted and reaped the tombstone; X deletes k instead, with a tombstone
 * derived from k's own stamp (wall, counter + 1, node) that every replica derives alike. When X's
 * entry is a delete in that range that beats Y's older copy, X re-issues it with a fresh stamp
 * (isLateDelete) so that it lives a full bound and reaches every replica. Everything else merges by
 * plain LWW. Status after an exchange: see nextSync (only a current peer, or founding with another
 * fresh replica, makes a replica current; an away or fresh one synced only with away ones is away).
 * Limit: a key an away replica *created* more than the bound before it returns, that no current
 * replica ever saw, is indistinguishable from a reaped delete and is dropped.
 */
import { PleacoError } from '../errors.js';
import { differingIndexes, keyBucket, PER_TOP, TOPS, type DigestIndex } from './digest.js';
import { compareHlc, type Hlc } from './hlc.js';
import type { Entry } from './lww.js';

export type SyncStatus = 'fresh' | 'current' | 'away';

/** What each side tells the other about itself at the start of an exchange. */
export interface PeerInfo {
  node: string;
  status: SyncStatus;
  /** Start (wall ms) of its last completed exchange; 0 = never. */
  syncedAt: number;
  /** It may have reaped tombstones with a wall below this. */
  reapedBefore: number;
  /**
   * Earliest wall from which its view is complete: 0 for a cluster's whole history; a replica that
   * founded a cluster empty only knows what was written from then on. Fresh replicas propose one.
   */
  since: number;
  /** Its wall clock when it made this info. */
  at: number;
}

/** One key as the initiator holds it: [key, wall, counter, node, entry hash]. */
export type KeyStamp = [string, number, number, string, string];

export type SyncRequest =
  | { t: 'digest'; v: 1; from: PeerInfo; top: string }
  | { t: 'keys'; v: 1; from: PeerInfo; buckets: { b: number; k: KeyStamp[] }[] }
  | { t: 'push'; v: 1; entries: Entry[] }
  | { t: 'get'; v: 1; keys: string[] }
  | { t: 'done'; v: 1; from: PeerInfo; peer: PeerInfo };

export type SyncResponse =
  | { t: 'digest'; peer: PeerInfo; diff: { top: number; leaves: string }[] }
  | { t: 'keys'; entries: Entry[]; want: string[]; done: number[] }
  | { t: 'push'; applied: number; stale: number; rejected: number }
  | { t: 'get'; entries: Entry[] }
  | { t: 'done'; status: SyncStatus }
  | { t: 'error'; code: string; message: string };

/** A replica's status from its persisted sync time. */
export function statusOf(syncedAt: number, now: number, awayAfterMs: number): SyncStatus {
  if (syncedAt <= 0) return 'fresh';
  return now - syncedAt > awayAfterMs ? 'away' : 'current';
}

/**
 * What `self` records after a completed exchange with `other` (both infos from its start):
 * with a current peer, or between two fresh replicas (a new cluster), it becomes current (syncedAt =
 * its own start time) and takes over the current side's `since` (two fresh ones: the smaller
 * proposal). Otherwise some side is away and none is current: nothing was checked against a current
 * view, so both stay (or become) away: the oldest away time is kept.
 */
export function nextSync(self: PeerInfo, other: PeerInfo): { syncedAt: number; since: number } {
  if (self.status === 'current') return { syncedAt: self.at, since: self.since };
  if (other.status === 'current') return { syncedAt: self.at, since: other.since };
  if (self.status === 'fresh' && other.status === 'fresh') return { syncedAt: self.at, since: Math.min(self.since, other.since) };
  return { syncedAt: Math.min(...[self, other].filter((p) => p.status === 'away').map((p) => p.syncedAt)), since: self.since };
}

/**
 * True when `holder` must drop its entry stamped `ts` for a key `peer` lacks (the away rule above):
 * only for stamps the peer's view covers (since ≤ wall < reapedBefore), so an away node that first
 * meets a cluster founded empty while it was gone keeps its older data (it merges as a union).
 */
export function defers(holder: PeerInfo, peer: PeerInfo, ts: Hlc): boolean {
  return holder.status === 'away' && peer.status === 'current' && ts.wall < peer.reapedBefore && ts.wall >= peer.since;
}

/**
 * True for a delete `holder` made (or got) while away that is already older than the current peer's
 * reap horizon and beats the peer's older copy: sent as is, it would be reaped at once and never reach
 * the rest of the cluster, so the holder re-issues it as a fresh delete instead.
 */
export function isLateDelete(holder: PeerInfo, peer: PeerInfo, e: Entry): boolean {
  return e.value === null && holder.status === 'away' && peer.status === 'current' && e.ts.wall < peer.reapedBefore && e.ts.wall >= peer.since;
}

/** The tombstone that replaces an entry stamped `ts` and nothing newer; the same on every replica. */
export function derivedTombstone(key: string, ts: Hlc): Entry {
  return { key, value: null, ts: { wall: ts.wall, counter: ts.counter + 1, node: ts.node } };
}

export function entryBytes(e: Entry): number {
  return Buffer.byteLength(JSON.stringify(e));
}

/** Splits entries into pages of at most pageBytes (an entry larger than that goes alone). */
export function pageEntries(entries: Entry[], pageBytes: number): Entry[][] {
  const pages: Entry[][] = [];
  let cur: Entry[] = [];
  let bytes = 0;
  for (const e of entries) {
    const n = entryBytes(e);
    if (cur.length > 0 && bytes + n > pageBytes) {
      pages.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(e);
    bytes += n;
  }
  if (cur.length) pages.push(cur);
  return pages;
}

/** Leaf buckets whose hashes differ, given the responder's diff and our digest. */
export function differingLeaves(mine: DigestIndex, diff: { top: number; leaves: string }[]): number[] {
  const out: number[] = [];
  for (const { top, leaves } of diff) {
    const idx = differingIndexes(mine.leavesOf(top), leaves, PER_TOP);
    if (!idx) throw new PleacoError('peer_error', 'bad leaf hashes from peer');
    for (const i of idx) out.push(top * PER_TOP + i);
  }
  return out;
}

/** The responder's answer to a digest: leaf hashes under every top bucket that differs. */
export function answerDigest(mine: DigestIndex, top: string): { top: number; leaves: string }[] {
  return (differingIndexes(mine.top(), top, TOPS) ?? []).map((t) => ({ top: t, leaves: mine.leavesOf(t) }));
}

/** What answerKeys reads from the store. */
export interface SyncView {
  digest: DigestIndex;
  getEntry(key: string): Entry | undefined;
}

/**
 * The responder's side of a `keys` page: for each leaf bucket, entries the initiator lacks or holds
 * older (or derived tombstones, by the away rule), keys it wants from the initiator, and tombstones
 * to apply here (the away rule the other way). Stops at pageBytes of entries (at least one entry);
 * only buckets answered completely are listed in `done`, the rest come again.
 */
export function answerKeys(view: SyncView, req: Extract<SyncRequest, { t: 'keys' }>, self: PeerInfo, pageBytes: number): { res: Extract<SyncResponse, { t: 'keys' }>; applyHere: Entry[] } {
  const entries: Entry[] = [];
  const want: string[] = [];
  const done: number[] = [];
  const applyHere: Entry[] = [];
  let bytes = 0;
  let full = false;
  const send = (e: Entry): void => {
    const n = entryBytes(e);
    if (entries.length > 0 && bytes + n > pageBytes) full = true;
    else {
      entries.push(e);
      bytes += n;
    }
  };
  for (const { b, k } of req.buckets) {
    const theirs = new Set<string>();
    for (const [key, wall, counter, node, hash] of k) {
      if (full) break;
      if (keyBucket(key) !== b) continue;
      theirs.add(key);
      const ts = { wall, counter, node };
      const mine = view.getEntry(key);
      if (!mine) {
        if (defers(req.from, self, ts)) send(derivedTombstone(key, ts));
        else want.push(key);
        continue;
      }
      const c = compareHlc(ts, mine.ts);
      const sameStampOtherValue = c === 0 && hash !== view.digest.hashOf(key);
      if (c > 0 || sameStampOtherValue) want.push(key);
      if (c < 0 || sameStampOtherValue) send(mine);
    }
    for (const { key } of view.digest.bucket(b)) {
      if (full) break;
      if (theirs.has(key)) continue;
      const mine = view.getEntry(key)!;
      if (!defers(self, req.from, mine.ts)) send(mine);
      else if (mine.value !== null) applyHere.push(derivedTombstone(key, mine.ts));
    }
    if (full) break; // this bucket and the rest come again in the next page
    done.push(b);
  }
  return { res: { t: 'keys', entries, want, done }, applyHere };
}

/** The initiator's key lists for as many of `buckets` as fit pageBytes (at least one bucket). */
export function keysPage(view: SyncView, buckets: number[], pageBytes: number): { b: number; k: KeyStamp[] }[] {
  const out: { b: number; k: KeyStamp[] }[] = [];
  let bytes = 0;
  for (const b of buckets) {
    const k: KeyStamp[] = [];
    let size = 16;
    for (const { key, hash } of view.digest.bucket(b)) {
      const ts = view.getEntry(key)!.ts;
      k.push([key, ts.wall, ts.counter, ts.node, hash]);
      size += key.length + ts.node.length + 60;
    }
    if (out.length > 0 && bytes + size > pageBytes) break;
    out.push({ b, k });
    bytes += size;
  }
  return out;
}
