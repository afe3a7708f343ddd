/**
 * Python package versions as PEP 440 defines them (the same grammar and ordering as the `packaging` library):
 *
 *   [N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]
 *
 * with the spec's normalization: case-insensitive, an optional leading "v", alternative spellings
 * (alpha→a, beta→b, c/pre/preview→rc, rev/r→post, "-N"→.postN), optional separators (-, _, .) and implicit
 * numbers (1.0a → 1.0a0), local separators (- and _) → ".".
 *
 * Ordering: epoch, then release (trailing zeros ignored: 1.0 == 1.0.0), then .devN < aN < bN < rcN < final
 * < .postN (a dev release of a pre- or post-release sorts just before it), then a local version sorts after
 * the same public version; local segments compare numerically when both are numbers, a number sorts after a
 * word, and a longer local version with an equal prefix is greater. Numbers are arbitrary precision.
 */
import { PleacoError } from '../../errors.js';

export type PreLabel = 'a' | 'b' | 'rc';

export interface Pep440Version {
  epoch: bigint;
  release: bigint[];
  pre?: { label: PreLabel; n: bigint };
  post?: bigint;
  dev?: bigint;
  local?: Array<bigint | string>;
  /** The canonical spelling, e.g. "1.0rc1.post2.dev3+ubuntu.1" for "1.0-RC1-2.dev3+ubuntu-1". */
  normalized: string;
}

const RE = new RegExp(
  '^\\s*v?' +
    '(?:(?<epoch>[0-9]+)!)?' +
    '(?<release>[0-9]+(?:\\.[0-9]+)*)' +
    '(?:[-_.]?(?<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?<pre_n>[0-9]+)?)?' +
    '(?:-(?<post_n1>[0-9]+)|[-_.]?(?<post_l>post|rev|r)[-_.]?(?<post_n2>[0-9]+)?)?' +
    '(?:[-_.]?(?<dev_l>dev)[-_.]?(?<dev_n>[0-9]+)?)?' +
    '(?:\\+(?<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?' +
    '\\s*$',
  'i',
);

const PRE: Record<string, PreLabel> = { a: 'a', alpha: 'a', b: 'b', beta: 'b', c: 'rc', pre: 'rc', preview: 'rc', rc: 'rc' };

/** Parses and normalizes a PEP 440 version; null when it is not one. */
export function parsePep440(v: string): Pep440Version | null {
  const m = RE.exec(v);
  if (!m?.groups) return null;
  const g = m.groups;
  const epoch = BigInt(g.epoch ?? '0');
  const release = g.release!.split('.').map((x) => BigInt(x));
  const out: Pep440Version = { epoch, release, normalized: '' };
  if (g.pre_l) out.pre = { label: PRE[g.pre_l.toLowerCase()]!, n: BigInt(g.pre_n ?? '0') };
  if (g.post_n1 !== undefined) out.post = BigInt(g.post_n1);
  else if (g.post_l) out.post = BigInt(g.post_n2 ?? '0');
  if (g.dev_l) out.dev = BigInt(g.dev_n ?? '0');
  if (g.local) out.local = g.local.toLowerCase().split(/[-_.]/).map((s) => (/^[0-9]+$/.test(s) ? BigInt(s) : s));
  let n = epoch ? `${epoch}!` : '';
  n += release.join('.');
  if (out.pre) n += `${out.pre.label}${out.pre.n}`;
  if (out.post !== undefined) n += `.post${out.post}`;
  if (out.dev !== undefined) n += `.dev${out.dev}`;
  if (out.local) n += `+${out.local.join('.')}`;
  out.normalized = n;
  return out;
}

/** True when `v` is a valid PEP 440 version. */
export function isValidPep440(v: string): boolean {
  return parsePep440(v) !== null;
}

const cmpBig = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);
const PRE_RANK: Record<PreLabel, number> = { a: 0, b: 1, rc: 2 };

function cmpRelease(a: bigint[], b: bigint[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const r = cmpBig(a[i] ?? 0n, b[i] ?? 0n); // zero padding: 1.0 == 1.0.0
    if (r) return r;
  }
  return 0;
}

/** Where the pre-release part places a version: a bare dev release sorts before every pre-release of it. */
function preKey(v: Pep440Version): [number, bigint] {
  if (v.pre) return [PRE_RANK[v.pre.label], v.pre.n];
  if (v.post === undefined && v.dev !== undefined) return [-1, 0n]; // 1.0.dev1 < 1.0a1
  return [3, 0n]; // no pre-release: after every pre-release
}

function cmpLocal(a: Array<bigint | string> | undefined, b: Array<bigint | string> | undefined): number {
  if (!a || !b) return a ? 1 : b ? -1 : 0; // a local version sorts after the public one
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (typeof x === 'bigint' && typeof y === 'bigint') {
      const r = cmpBig(x, y);
      if (r) return r;
    } else if (typeof x === 'bigint') return 1; // a number sorts after a word
    else if (typeof y === 'bigint') return -1;
    else if (x !== y) return x < y ? -1 : 1;
  }
  return Math.sign(a.length - b.length);
}

/** Compares two parsed versions. */
export function comparePep440Parsed(a: Pep440Version, b: Pep440Version): number {
  let r = cmpBig(a.epoch, b.epoch) || cmpRelease(a.release, b.release);
  if (r) return r;
  const [pa, na] = preKey(a);
  const [pb, nb] = preKey(b);
  r = Math.sign(pa - pb) || cmpBig(na, nb);
  if (r) return r;
  // no post-release sorts before any post-release
  r = a.post === undefined || b.post === undefined ? (a.post !== undefined ? 1 : b.post !== undefined ? -1 : 0) : cmpBig(a.post, b.post);
  if (r) return r;
  // no dev release sorts after any dev release
  r = a.dev === undefined || b.dev === undefined ? (a.dev !== undefined ? -1 : b.dev !== undefined ? 1 : 0) : cmpBig(a.dev, b.dev);
  return r || cmpLocal(a.local, b.local);
}

/** Negative, zero or positive as `a` sorts before, equal to or after `b`. Throws a PleacoError on invalid versions. */
export function comparePep440(a: string, b: string): number {
  const pa = parsePep440(a);
  const pb = parsePep440(b);
  for (const [raw, p] of [[a, pa], [b, pb]] as const) {
    if (!p) throw new PleacoError('bad_request', `invalid PEP 440 version "${raw}"`, { details: { version: raw, scheme: 'pep440' } });
  }
  return comparePep440Parsed(pa!, pb!);
}
