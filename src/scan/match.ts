/**
 * Which installed packages an OSV advisory affects: the OSV schema's evaluation algorithm
 * (docs/schema.md#evaluation) over one ecosystem's version ordering, and the walk over an image's inventory.
 *
 * A version is affected when it is listed in `versions` or lies in any ECOSYSTEM or SEMVER range. In a range
 * the events are sorted by version ("introduced": "0" lowest, ties kept in record order) and replayed:
 * `introduced` opens at >=, `fixed` closes at >=, `last_affected` closes at >; `limit` events (when present)
 * require the version to be below at least one of them ("*" is infinity). GIT ranges need the repository's
 * commit graph and are ignored (their records also list the affected versions). SEMVER ranges use the
 * ecosystem's comparator: for npm and Go it is SemVer already, elsewhere it agrees on plain x.y.z versions.
 *
 * Nothing here throws for bad data: an installed version the ecosystem cannot parse, or a malformed range
 * that leaves the answer open, is reported in `skipped` with the reason.
 */
import { PleacoError } from '../errors.js';
import { severityOf } from './severity.js';
import { severityRank, type AdvisoryLookup, Finding, Inventory, OsvAffected, OsvRecord, Package, Severity } from '../model/index.js';
import { compareFor, normalizeName, type VersionCompare } from './versions/index.js';

export interface SkippedMatch {
  /** The advisory id. */
  id: string;
  /** The installed package, "name@version" (Debian/Alpine: the binary package). */
  package: string;
  reason: string;
}

export interface MatchResult {
  findings: Finding[];
  skipped: SkippedMatch[];
}

type Event = { kind: 'introduced' | 'fixed' | 'last_affected' | 'limit'; at: string };
const KINDS = ['introduced', 'fixed', 'last_affected', 'limit'] as const;

const malformed = (why: string): PleacoError => new PleacoError('bad_request', `malformed OSV range: ${why}`);

function readEvents(range: { events?: unknown }): Event[] {
  if (!Array.isArray(range.events)) throw malformed('no events');
  return range.events.map((e: unknown) => {
    const keys = e && typeof e === 'object' ? Object.keys(e) : [];
    const kind = KINDS.find((k) => keys.includes(k));
    const at = kind ? (e as Record<string, unknown>)[kind] : undefined;
    if (keys.length !== 1 || !kind || typeof at !== 'string' || at === '') throw malformed(`bad event ${JSON.stringify(e)}`);
    return { kind, at };
  });
}

const isZero = (e: Event): boolean => e.kind === 'introduced' && e.at === '0';

/** One ECOSYSTEM/SEMVER range; throws a PleacoError when the range (or the version) cannot be evaluated. */
function inRange(version: string, range: { events?: unknown }, compare: VersionCompare): boolean {
  const events = readEvents(range);
  if (!events.some((e) => e.kind === 'introduced')) throw malformed('no "introduced" event');
  const limits = events.filter((e) => e.kind === 'limit');
  if (limits.length && !limits.some((l) => l.at.includes('*') || compare(version, l.at) < 0)) return false;
  const sorted = events
    .filter((e) => e.kind !== 'limit')
    .sort((a, b) => (isZero(a) ? (isZero(b) ? 0 : -1) : isZero(b) ? 1 : compare(a.at, b.at)));
  let vulnerable = false;
  for (const e of sorted) {
    if (e.kind === 'introduced') vulnerable ||= isZero(e) || compare(version, e.at) >= 0;
    else if (e.kind === 'fixed' && compare(version, e.at) >= 0) vulnerable = false;
    else if (e.kind === 'last_affected' && compare(version, e.at) > 0) vulnerable = false;
  }
  return vulnerable;
}

const evaluated = (r: { type?: string }): boolean => r.type === 'ECOSYSTEM' || r.type === 'SEMVER';

/**
 * Whether `version` is affected per this entry (its package is not checked). Throws a PleacoError when no
 * range matched and one of them could not be evaluated (malformed, or a version `compare` cannot parse).
 */
export function isAffected(version: string, affected: OsvAffected, compare: VersionCompare): boolean {
  for (const listed of affected.versions ?? []) {
    if (listed === version) return true;
    try {
      if (compare(version, listed) === 0) return true; // e.g. PyPI 1.0 == 1.0.0
    } catch {
      // a listed version in another syntax (a git tag) simply does not match
    }
  }
  let failure: unknown;
  for (const range of affected.ranges ?? []) {
    if (!evaluated(range)) continue;
    try {
      if (inRange(version, range, compare)) return true;
    } catch (err) {
      failure ??= err;
    }
  }
  if (failure) throw failure;
  return false;
}

/** The lowest `fixed` version above `version` in this entry's ECOSYSTEM/SEMVER ranges, if any. */
export function fixedAbove(version: string, affected: OsvAffected, compare: VersionCompare): string | undefined {
  let best: string | undefined;
  for (const range of affected.ranges ?? []) {
    if (!evaluated(range) || !Array.isArray(range.events)) continue;
    for (const e of range.events) {
      const at = (e as { fixed?: unknown }).fixed;
      if (typeof at !== 'string') continue;
      try {
        if (compare(at, version) > 0 && (best === undefined || compare(at, best) < 0)) best = at;
      } catch {
        // an unparseable fixed version names no upgrade we can rank
      }
    }
  }
  return best;
}

function summaryOf(r: OsvRecord): string | undefined {
  if (r.summary?.trim()) return r.summary.trim();
  const line = r.details?.trim().split('\n', 1)[0]?.trim();
  return line ? (line.length > 200 ? `${line.slice(0, 199)}…` : line) : undefined;
}

function findingFor(r: OsvRecord, pkg: Package, hits: OsvAffected[], version: string, compare: VersionCompare): Finding {
  let sev: { severity: Severity; score?: number } = { severity: 'unknown' };
  let fixed: string | undefined;
  for (const a of hits) {
    const s = severityOf(r, a);
    if (severityRank(s.severity) > severityRank(sev.severity) || (s.severity === sev.severity && (s.score ?? -1) > (sev.score ?? -1))) sev = s;
    const f = fixedAbove(version, a, compare);
    if (f !== undefined && (fixed === undefined || compare(f, fixed) < 0)) fixed = f;
  }
  const p: Finding['package'] = { type: pkg.type, ecosystem: pkg.ecosystem, name: pkg.name, version: pkg.version, purl: pkg.purl, locations: [...pkg.locations] };
  if (pkg.sourceName !== undefined) p.sourceName = pkg.sourceName;
  if (pkg.sourceVersion !== undefined) p.sourceVersion = pkg.sourceVersion;
  const f: Finding = { id: r.id, aliases: [...(r.aliases ?? [])], severity: sev.severity, package: p };
  const summary = summaryOf(r);
  if (summary !== undefined) f.summary = summary;
  if (sev.score !== undefined) f.score = sev.score;
  if (fixed !== undefined) f.fixed = fixed;
  return f;
}

const why = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Matches every package of an inventory against the advisory database. Debian and Alpine packages are looked
 * up by their source package and compared by its version (advisories are filed by source package); an OS
 * package of an unknown release (bare 'Debian'/'Alpine' ecosystem) matches nothing. Withdrawn records are
 * skipped silently. One finding per advisory and installed package (ecosystem, name, version): a package found
 * at several places in the image gives one finding with all its locations. Findings are sorted by severity,
 * highest first, then package name, then advisory id.
 */
export function matchInventory(inv: Inventory, db: AdvisoryLookup): MatchResult {
  const findings = new Map<string, Finding>();
  const done = new Set<string>();
  const skipped: SkippedMatch[] = [];
  for (const pkg of inv.packages) {
    const os = pkg.type === 'deb' || pkg.type === 'apk';
    if (os && !pkg.ecosystem.includes(':')) continue;
    const name = normalizeName(pkg.ecosystem, os ? (pkg.sourceName ?? pkg.name) : pkg.name);
    const version = os ? (pkg.sourceVersion ?? pkg.version) : pkg.version;
    const compare = compareFor(pkg.ecosystem);
    let versionError: string | undefined;
    try {
      compare?.(version, version);
    } catch (err) {
      versionError = why(err);
    }
    for (const r of db.lookup(pkg.ecosystem, name)) {
      if (r.withdrawn) continue;
      const key = `${r.id}\0${pkg.ecosystem}\0${pkg.name}\0${pkg.version}`;
      const seen = findings.get(key);
      if (seen) {
        for (const l of pkg.locations) if (!seen.package.locations.includes(l)) seen.package.locations.push(l);
        continue;
      }
      if (done.has(key)) continue;
      done.add(key);
      const skip = (reason: string): void => void skipped.push({ id: r.id, package: `${pkg.name}@${pkg.version}`, reason });
      const entries = (r.affected ?? []).filter(
        (a) => a.package?.ecosystem === pkg.ecosystem && normalizeName(pkg.ecosystem, a.package.name) === name,
      );
      if (!entries.length) continue;
      if (!compare) {
        skip(`no version ordering for ecosystem "${pkg.ecosystem}"`);
        continue;
      }
      if (versionError) {
        skip(versionError);
        continue;
      }
      const hits: OsvAffected[] = [];
      let failure: string | undefined;
      for (const a of entries) {
        try {
          if (isAffected(version, a, compare)) hits.push(a);
        } catch (err) {
          failure ??= why(err);
        }
      }
      if (hits.length) findings.set(key, findingFor(r, pkg, hits, version, compare));
      else if (failure) skip(failure);
    }
  }
  const list = [...findings.values()];
  list.sort(
    (a, b) =>
      severityRank(b.severity) - severityRank(a.severity) ||
      (a.package.name < b.package.name ? -1 : a.package.name > b.package.name ? 1 : 0) ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) ||
      (a.package.version < b.package.version ? -1 : a.package.version > b.package.version ? 1 : 0),
  );
  return { findings: list, skipped };
}
