/**
 * Which version ordering an OSV ecosystem uses, and how its package names are spelled for lookups.
 *
 * Every comparator returns negative, zero or positive (a before, equal to, after b) and throws a PleacoError
 * (`bad_request`) for a version it cannot parse; the matcher catches that and records the match as skipped.
 */
import semver from 'semver';
import { PleacoError } from '../../errors.js';
import { compareApk } from './alpine.js';
import { compareDebian } from './debian.js';
import { comparePep440 } from './pep440.js';

export type VersionCompare = (a: string, b: string) => number;

function parseSemver(v: string, scheme: string, loose: boolean): semver.SemVer {
  const p = semver.parse(v.trim(), { loose });
  if (!p) throw new PleacoError('bad_request', `invalid ${scheme} version "${v}"`, { details: { version: v, scheme } });
  return p;
}

/** npm: SemVer 2.0 precedence (build metadata ignored), parsed loosely as npm itself does ("v1.2.3", "=1.2.3"). */
export function compareNpm(a: string, b: string): number {
  return semver.compare(parseSemver(a, 'npm', true), parseSemver(b, 'npm', true));
}

/**
 * A Go version as SemVer: the module's "v" dropped (pseudo-versions such as v0.0.0-20230101120000-abcdef123456
 * are SemVer pre-releases, "+incompatible" is build metadata). The toolchain's own spelling (go1.21, go1.21.5,
 * go1.22rc2, for the `stdlib` and `toolchain` packages) is mapped the way Go's vulndb does: 1.21.0, 1.21.5, 1.22.0-rc.2.
 */
export function goToSemver(v: string): string {
  const s = v.trim();
  const m = /^go([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:(beta|rc)([0-9]+))?$/.exec(s);
  if (m) return `${m[1]}.${m[2] ?? '0'}.${m[3] ?? '0'}${m[4] ? `-${m[4]}.${m[5]}` : ''}`;
  return s.startsWith('v') ? s.slice(1) : s;
}

/** Go (and any OSV range of type SEMVER): strict SemVer 2.0 precedence after `goToSemver`. */
export function compareGo(a: string, b: string): number {
  return semver.compare(parseSemver(goToSemver(a), 'Go', false), parseSemver(goToSemver(b), 'Go', false));
}

/**
 * The comparator for an OSV ecosystem string: 'Debian' / 'Debian:12' → dpkg, 'Alpine:v3.19' → apk,
 * 'npm' → SemVer (loose), 'PyPI' → PEP 440, 'Go' → SemVer without the "v". Null for any other ecosystem.
 */
export function compareFor(ecosystem: string): VersionCompare | null {
  const base = ecosystem.split(':', 1)[0]!;
  switch (base) {
    case 'Debian':
      return compareDebian;
    case 'Alpine':
      return compareApk;
    case 'npm':
      return ecosystem === 'npm' ? compareNpm : null;
    case 'PyPI':
      return ecosystem === 'PyPI' ? comparePep440 : null;
    case 'Go':
      return ecosystem === 'Go' ? compareGo : null;
    default:
      return null;
  }
}

/** The name advisories are filed under: PyPI names normalized as PEP 503 says (lower case, runs of -_. → -). */
export function normalizeName(ecosystem: string, name: string): string {
  if (ecosystem === 'PyPI') return name.trim().toLowerCase().replace(/[-_.]+/g, '-');
  return name;
}

export { compareDebian, isValidDebian, parseDebian, type DebianVersion } from './debian.js';
export { compareApk, isValidApk } from './alpine.js';
export { comparePep440, comparePep440Parsed, parsePep440, isValidPep440, type Pep440Version, type PreLabel } from './pep440.js';
