/**
 * Alpine package versions, ordered as apk-tools orders them (src/version.c of apk-tools 2.14 / 3.x):
 *
 *   digits{.digits}…[letter]{_suffix[digits]}…[~hexhash][-rdigits]      e.g. 1.2.3a_rc1_p2-r4
 *
 * Tokens are compared left to right while both versions have a token of the same kind:
 * - numbers compare as numbers, except that a dotted component with a leading zero on either side
 *   (1.02 vs 1.1) compares as a string (the Gentoo rule apk follows);
 * - a single lower-case letter after the numbers compares by character (1.2a < 1.2b);
 * - suffixes rank _alpha < _beta < _pre < _rc < (no suffix) < _cvs < _svn < _git < _hg < _p,
 *   then their optional numbers as numbers;
 * - a `~hash` compares as a string; `-rN` (the packaging revision) as a number.
 * When one version runs out of tokens (or the kinds differ) the longer one is newer, unless its next token
 * is a pre-release suffix (alpha/beta/pre/rc): 1.2.3_rc1 < 1.2.3 < 1.2.3-r1 < 1.2.3_p1 < 1.2.3.1.
 * Otherwise the kind that comes earlier in the grammar is newer: 1.2.3.1 (another number) > 1.2.3a (letter).
 *
 * Deliberately not supported: the older apk 2.x leniency that accepted a digit straight after a letter
 * ("1.2a3"); apk-tools itself rejects such versions today. Invalid versions throw a PleacoError.
 */
import { PleacoError } from '../../errors.js';

/** Token kinds in grammar order; when two versions diverge, the earlier kind is the newer version. */
const enum Kind {
  InitialDigit,
  Digit,
  Letter,
  Suffix,
  SuffixNo,
  CommitHash,
  RevisionNo,
  End,
}

/** Suffix ranks; NONE (a version without a suffix at that place) sits between the pre- and post-releases. */
const SUFFIXES: Record<string, number> = { alpha: 0, beta: 1, pre: 2, rc: 3, cvs: 5, svn: 6, git: 7, hg: 8, p: 9 };
const SUFFIX_NONE = 4;

interface Token {
  kind: Kind;
  /** The token's text (digits, the letter, the suffix name, the hash). */
  text: string;
  suffix?: number;
}

function invalid(v: string, why: string): PleacoError {
  return new PleacoError('bad_request', `invalid Alpine version "${v}": ${why}`, { details: { version: v, scheme: 'apk' } });
}

/** Splits a version into its tokens (ending with an End token); throws a PleacoError when apk would reject it. */
function tokenizeApk(v: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const digits = (): string => {
    const m = /^[0-9]+/.exec(v.slice(i));
    if (!m) throw invalid(v, `a number is expected at position ${i + 1}`);
    i += m[0].length;
    return m[0];
  };
  out.push({ kind: Kind.InitialDigit, text: digits() });
  let last: Kind = Kind.InitialDigit;
  while (i < v.length) {
    const c = v[i]!;
    if (c >= 'a' && c <= 'z') {
      if (last > Kind.Digit) throw invalid(v, `unexpected letter "${c}"`);
      out.push({ kind: (last = Kind.Letter), text: c });
      i++;
    } else if (c === '.' || (c >= '0' && c <= '9')) {
      if (c === '.') {
        if (last > Kind.Digit) throw invalid(v, 'unexpected "."');
        i++;
      }
      if (last === Kind.InitialDigit || last === Kind.Digit) last = Kind.Digit;
      else if (last === Kind.Suffix) last = Kind.SuffixNo;
      else throw invalid(v, `unexpected digit at position ${i + 1}`);
      out.push({ kind: last, text: digits() });
    } else if (c === '_') {
      if (last > Kind.SuffixNo) throw invalid(v, 'unexpected "_"');
      const name = /^[a-z]*/.exec(v.slice(i + 1))![0];
      const rank = SUFFIXES[name];
      if (rank === undefined) throw invalid(v, `unknown suffix "_${name}"`);
      out.push({ kind: (last = Kind.Suffix), text: name, suffix: rank });
      i += 1 + name.length;
    } else if (c === '~') {
      if (last >= Kind.CommitHash) throw invalid(v, 'unexpected "~"');
      const hash = /^[0-9a-fA-F]*/.exec(v.slice(i + 1))![0];
      if (!hash) throw invalid(v, 'empty commit hash after "~"');
      out.push({ kind: (last = Kind.CommitHash), text: hash });
      i += 1 + hash.length;
    } else if (c === '-') {
      if (last >= Kind.RevisionNo || v[i + 1] !== 'r') throw invalid(v, 'a "-" must start the final "-rN"');
      i += 2;
      out.push({ kind: (last = Kind.RevisionNo), text: digits() });
    } else {
      throw invalid(v, `unexpected character "${c}"`);
    }
  }
  out.push({ kind: Kind.End, text: '' });
  return out;
}

/** True when apk-tools accepts `v` as a version. */
export function isValidApk(v: string): boolean {
  try {
    tokenizeApk(v);
    return true;
  } catch {
    return false;
  }
}

/** Compares two digit strings as (arbitrarily large) numbers. */
function numCmp(a: string, b: string): number {
  const x = a.replace(/^0+(?=.)/, '');
  const y = b.replace(/^0+(?=.)/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

const strCmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function tokenCmp(a: Token, b: Token): number {
  switch (a.kind) {
    case Kind.Digit:
      if (a.text.startsWith('0') || b.text.startsWith('0')) return strCmp(a.text, b.text);
      return numCmp(a.text, b.text);
    case Kind.InitialDigit:
    case Kind.SuffixNo:
    case Kind.RevisionNo:
      return numCmp(a.text, b.text);
    case Kind.Suffix:
      return Math.sign(a.suffix! - b.suffix!);
    default: // letter, commit hash
      return strCmp(a.text, b.text);
  }
}

/** Negative, zero or positive as `a` sorts before, equal to or after `b` for apk. Throws on invalid versions. */
export function compareApk(a: string, b: string): number {
  const ta = tokenizeApk(a.trim());
  const tb = tokenizeApk(b.trim());
  let k = 0;
  for (; ta[k]!.kind === tb[k]!.kind && ta[k]!.kind !== Kind.End; k++) {
    const r = tokenCmp(ta[k]!, tb[k]!);
    if (r) return r;
  }
  const x = ta[k]!;
  const y = tb[k]!;
  if (x.kind === y.kind) return 0;
  if (x.kind === Kind.Suffix && x.suffix! < SUFFIX_NONE) return -1;
  if (y.kind === Kind.Suffix && y.suffix! < SUFFIX_NONE) return 1;
  return x.kind > y.kind ? -1 : 1;
}
