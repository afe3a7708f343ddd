/**
 * Debian package versions, ordered exactly as dpkg orders them (lib/dpkg/version.c, deb-version(7)):
 * `[epoch:]upstream[-revision]`. The epoch is a number (missing = 0); the revision is everything after the
 * LAST hyphen (missing = ""), so the upstream part may itself contain hyphens. Upstream and revision are
 * compared with dpkg's verrevcmp: alternating runs of non-digits and digits; in a non-digit run `~` sorts
 * before everything (even the end of the string), then the end, then letters, then all other characters;
 * digit runs compare as numbers (leading zeros ignored, any length).
 *
 * `compareDebian` accepts what dpkg accepts (it throws where `dpkg --compare-versions` reports an error);
 * `isValidDebian` is stricter: it also wants what dpkg only warns about (an upstream part that starts with a
 * digit, and only the characters Debian policy §5.6.12 allows).
 */
import { PleacoError } from '../../errors.js';

export interface DebianVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

/** Splits a version as dpkg's parseversion does; throws a PleacoError for what dpkg rejects. */
export function parseDebian(v: string): DebianVersion {
  const bad = (why: string): PleacoError =>
    new PleacoError('bad_request', `invalid Debian version "${v}": ${why}`, { details: { version: v, scheme: 'debian' } });
  const s = v.trim();
  if (s === '') throw bad('it is empty');
  if (/\s/.test(s)) throw bad('it contains spaces');
  let epoch = 0;
  let rest = s;
  const colon = s.indexOf(':');
  if (colon >= 0) {
    const e = s.slice(0, colon);
    if (!/^[0-9]+$/.test(e)) throw bad('the epoch is not a number');
    epoch = Number(e);
    if (!Number.isSafeInteger(epoch) || epoch > 2147483647) throw bad('the epoch is too big');
    rest = s.slice(colon + 1);
    if (rest === '') throw bad('nothing after the colon');
  }
  const hyphen = rest.lastIndexOf('-');
  const upstream = hyphen >= 0 ? rest.slice(0, hyphen) : rest;
  const revision = hyphen >= 0 ? rest.slice(hyphen + 1) : '';
  if (hyphen >= 0 && revision === '') throw bad('the revision is empty');
  if (upstream === '') throw bad('the upstream version is empty');
  return { epoch, upstream, revision };
}

/** True when `v` is a well-formed Debian version (no dpkg error, and none of its syntax warnings). */
export function isValidDebian(v: string): boolean {
  let p: DebianVersion;
  try {
    p = parseDebian(v);
  } catch {
    return false;
  }
  return /^[0-9][A-Za-z0-9.+~:-]*$/.test(p.upstream) && /^[A-Za-z0-9.+~]*$/.test(p.revision);
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isAlpha = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** dpkg's order(): `~` < end of string (and digits, which end a non-digit run) < letters < everything else. */
function order(c: number): number {
  if (Number.isNaN(c) || isDigit(c)) return 0; // NaN: past the end
  if (isAlpha(c)) return c;
  if (c === 126) return -1; // '~'
  return c + 256;
}

/** dpkg's verrevcmp on one part (upstream or revision). */
function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const ac = order(a.charCodeAt(i));
      const bc = order(b.charCodeAt(j));
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a.charCodeAt(i) === 48) i++;
    while (b.charCodeAt(j) === 48) j++;
    let firstDiff = 0;
    while (isDigit(a.charCodeAt(i)) && isDigit(b.charCodeAt(j))) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a.charCodeAt(i))) return 1;
    if (isDigit(b.charCodeAt(j))) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);

/** Negative, zero or positive as `a` sorts before, equal to or after `b` for dpkg. Throws on what dpkg rejects. */
export function compareDebian(a: string, b: string): number {
  const pa = parseDebian(a);
  const pb = parseDebian(b);
  if (pa.epoch !== pb.epoch) return sign(pa.epoch - pb.epoch);
  const r = verrevcmp(pa.upstream, pb.upstream);
  if (r) return sign(r);
  return sign(verrevcmp(pa.revision, pb.revision));
}
