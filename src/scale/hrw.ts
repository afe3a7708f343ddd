/**
 * Rendezvous (highest random weight) hashing: every node scores every key, the highest score wins. Any two nodes
 * with the same member list compute the same winner with no messages, and when a member comes or goes only the keys
 * it wins (or won) change hands: about 1/N of them. Weighted by Schindelhauer and Schomaker's logarithmic method
 * (score = -weight / ln u, u uniform in (0,1) per key and node), so a node of weight 2 wins twice as many keys.
 *
 * Names are hashed once with MurmurHash3 (the `murmurhash` package); a key and a node are then combined by an
 * integer finalizer (MurmurHash3's fmix32, twice for 53 bits) — a placement of 10,000 slots over 1,000 nodes is
 * 10 million pairs, which must take well under a second, and a cryptographic hash per pair takes ~25 s here.
 */
import murmurhash from 'murmurhash';

/** A name hashed once: two independent 32-bit hashes. */
export interface Hashed {
  readonly a: number;
  readonly b: number;
}

const SEED_A = 0x2f1b5c3d;
const SEED_B = 0x6a09e667;

export function hashName(name: string): Hashed {
  return { a: murmurhash.v3(name, SEED_A), b: murmurhash.v3(name, SEED_B) };
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform number in (0, 1) for the pair, with 53 bits. */
export function pairUniform(key: Hashed, node: Hashed): number {
  const hi = fmix32((key.a ^ Math.imul(node.a, 0xcc9e2d51)) + node.b);
  const lo = fmix32((key.b ^ Math.imul(node.b, 0x1b873593)) + fmix32(node.a ^ 0x9e3779b9));
  return (hi * 2 ** 21 + (lo >>> 11) + 0.5) / 2 ** 53;
}

/** The pair's score for a node of `weight` (> 0): higher wins. */
export function score(key: Hashed, node: Hashed, weight = 1): number {
  return -weight / Math.log(pairUniform(key, node));
}

/** A candidate node: its id, hashed once, and its weight (> 0). */
export interface Candidate {
  readonly id: string;
  readonly hash: Hashed;
  readonly weight: number;
}

export function candidate(id: string, weight = 1): Candidate {
  return { id, hash: hashName(id), weight };
}

/** Higher score first; equal scores (never seen in practice) by id, so every node breaks the tie the same way. */
function better(s1: number, id1: string, s2: number, id2: string): boolean {
  return s1 > s2 || (s1 === s2 && id1 < id2);
}

/** The winner of `key` among the candidates (null when there are none). */
export function winner(key: string, nodes: readonly Candidate[]): string | null {
  const k = hashName(key);
  let best: string | null = null;
  let bestScore = -Infinity;
  for (const n of nodes) {
    const s = score(k, n.hash, n.weight);
    if (best === null || better(s, n.id, bestScore, best)) {
      best = n.id;
      bestScore = s;
    }
  }
  return best;
}

/** The `k` best candidates for a key, best first. */
export function topK(key: Hashed, nodes: readonly Candidate[], k: number): { id: string; score: number }[] {
  const out: { id: string; score: number }[] = [];
  if (k <= 0) return out;
  for (const n of nodes) {
    const s = score(key, n.hash, n.weight);
    if (out.length === k && !better(s, n.id, out[k - 1]!.score, out[k - 1]!.id)) continue;
    if (out.length === k) out.pop();
    let i = out.length;
    while (i > 0 && better(s, n.id, out[i - 1]!.score, out[i - 1]!.id)) i--;
    out.splice(i, 0, { id: n.id, score: s });
  }
  return out;
}
