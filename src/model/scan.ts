/**
 * The scanner's vocabulary, shared by the inventory (what is in an image), the advisory database (OSV
 * records), the matcher (which installed package an advisory affects) and the policy gate.
 */

import { PleacoError } from '../errors.js';

/** Where a package came from: the purl type. */
export type PackageType = 'deb' | 'apk' | 'npm' | 'pypi' | 'golang';

/** One installed package found in an image. */
export interface Package {
  type: PackageType;
  /**
   * The OSV ecosystem its advisories are filed under: 'Debian:12', 'Alpine:v3.19', 'npm', 'PyPI', 'Go'.
   * An OS package of an unknown release carries the bare name ('Debian', 'Alpine') and matches nothing.
   */
  ecosystem: string;
  /** The name as installed (Debian/Alpine: the binary package, e.g. libssl3). */
  name: string;
  version: string;
  /** Debian/Alpine: the source package advisories are keyed by (openssl for libssl3), and its version. */
  sourceName?: string;
  sourceVersion?: string;
  /** Package URL (https://github.com/package-url/purl-spec), e.g. pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12 */
  purl: string;
  /** Paths in the image it was read from (dpkg status, a package.json, a dist-info dir, a binary). */
  locations: string[];
}

/** The operating system of an image, from /etc/os-release (or /usr/lib/os-release). */
export interface OsInfo {
  id: string; // debian, alpine, ...
  versionId?: string; // 12, 3.19.1
  prettyName?: string;
}

export interface Inventory {
  os?: OsInfo;
  packages: Package[];
}

export type Severity = 'unknown' | 'low' | 'medium' | 'high' | 'critical';
export const SEVERITIES: readonly Severity[] = ['unknown', 'low', 'medium', 'high', 'critical'];

/** An OSV record as the schema defines it (only the fields pleaco reads are typed). */
export interface OsvRecord {
  id: string;
  modified?: string;
  published?: string;
  withdrawn?: string;
  aliases?: string[];
  summary?: string;
  details?: string;
  severity?: Array<{ type: string; score: string }>;
  affected?: OsvAffected[];
  database_specific?: Record<string, unknown>;
}

export interface OsvAffected {
  package?: { ecosystem: string; name: string; purl?: string };
  severity?: Array<{ type: string; score: string }>;
  ranges?: Array<{ type: string; repo?: string; events: OsvEvent[] }>;
  versions?: string[];
  ecosystem_specific?: Record<string, unknown>;
  database_specific?: Record<string, unknown>;
}

export type OsvEvent = { introduced: string } | { fixed: string } | { last_affected: string } | { limit: string };

/** One advisory that affects one installed package. */
export interface Finding {
  /** The advisory id (GHSA-…, DSA-…, DEBIAN-CVE-…, PYSEC-…, GO-…). */
  id: string;
  aliases: string[];
  summary?: string;
  severity: Severity;
  /** CVSS base score when the record carries a vector pleaco can compute. */
  score?: number;
  package: Pick<Package, 'type' | 'ecosystem' | 'name' | 'version' | 'purl' | 'locations'> & { sourceName?: string; sourceVersion?: string };
  /** The lowest fixed version above the installed one, when the advisory names one. */
  fixed?: string;
}

/** What the advisory database answers the matcher. */
export interface AdvisoryLookup {
  /** Records with an `affected` entry for this ecosystem (exact, e.g. 'Debian:12') and package name (PyPI: normalized). */
  lookup(ecosystem: string, name: string): OsvRecord[];
}

/** A policy threshold: the lowest severity that blocks a release ('none': nothing blocks, findings are reported). */
export type FailOn = 'none' | Exclude<Severity, 'unknown'>;

/** An advisory accepted for an app (or cluster-wide) until a date, with the reason someone gave. */
export interface AllowEntry {
  id: string;
  reason: string;
  /** ISO date-time after which the entry no longer applies. */
  until: string;
  addedAt: string;
}

export interface ScanPolicy {
  /** Absent in an app policy: the cluster default's threshold. */
  failOn?: FailOn;
  allow: AllowEntry[];
}

export const DEFAULT_SCAN_POLICY: Readonly<{ failOn: FailOn; allow: AllowEntry[] }> = Object.freeze({ failOn: 'critical', allow: [] });

/** The advisory database the cluster scans with: every node installs the blob with this digest. */
export interface ScanDbRecord {
  digest: string;
  records: number;
  byEcosystem: Record<string, number>;
  /** Malformed files or records skipped when it was loaded. */
  errors: number;
  source: string;
  loadedAt: string;
  /** The node that loaded it (others fetch the blob from it, or from any node that has it). */
  node: string;
}

export type ScanStatus = 'passed' | 'blocked' | 'unchecked';

export interface ScanSummary {
  /** 'unchecked': no advisory database yet (the SBOM is still made). */
  status: ScanStatus;
  counts: Record<Severity, number>;
  packages: number;
  /** Findings at or above the threshold and not allowed. */
  blocking: number;
  failOn: FailOn;
  db: string | null;
  durationMs: number;
}

export interface ScanReport extends ScanSummary {
  app: string;
  build: string;
  image: string;
  imageId: string;
  at: string;
  os: string | null;
  dbLoadedAt: string | null;
  /** Every finding, most severe first (at most MAX_REPORT_FINDINGS; `truncated` counts the rest). */
  findings: Array<Finding & { blocking: boolean; allowed?: { reason: string; until: string } }>;
  truncated: number;
  /** Allow-list entries past their date (they no longer apply: renew or remove them). */
  expired: string[];
  /** Advisories skipped because a version or range could not be read. */
  skipped: number;
}

export const MAX_REPORT_FINDINGS = 1000;

export interface StoredSbom {
  format: 'CycloneDX-1.5';
  encoding: 'gzip+base64';
  data: string;
}

/**
 * Whether `sev` reaches `threshold`. 'unknown' ranks below 'low': Debian's per-CVE records often carry no
 * severity at all ("not yet assigned"), and counting every such record as high would make a policy of
 * "block on high" block nearly every Debian image; a policy that wants them can use the threshold 'unknown'.
 */
export function atLeast(sev: Severity, threshold: Severity): boolean {
  return SEVERITIES.indexOf(sev) >= SEVERITIES.indexOf(threshold);
}

/** 0 (unknown) … 4 (critical): the order the policy gate and the finding sort use. */
export function severityRank(sev: Severity): number {
  return SEVERITIES.indexOf(sev);
}

export const FAIL_ON: readonly FailOn[] = ['none', 'low', 'medium', 'high', 'critical'];

export function parseFailOn(v: unknown): FailOn {
  if (typeof v !== 'string' || !(FAIL_ON as readonly string[]).includes(v)) throw new PleacoError('bad_request', `fail-on must be one of ${FAIL_ON.join(', ')}, got ${JSON.stringify(v)}`);
  return v as FailOn;
}

export interface EffectivePolicy {
  failOn: FailOn;
  /** Where the threshold comes from. */
  from: 'app' | 'cluster' | 'default';
  /** The app's entries first, then the cluster's. */
  allow: Array<AllowEntry & { scope: 'app' | 'cluster' }>;
}

/** The policy that applies to an app's next build: its own threshold over the cluster's over the built-in default; both allow-lists. */
export function effectivePolicy(own: ScanPolicy | undefined, cluster: ScanPolicy | undefined): EffectivePolicy {
  const failOn = own?.failOn ?? cluster?.failOn ?? DEFAULT_SCAN_POLICY.failOn;
  const from = own?.failOn ? 'app' : cluster?.failOn ? 'cluster' : 'default';
  const allow = [...(own?.allow ?? []).map((a) => ({ ...a, scope: 'app' as const })), ...(cluster?.allow ?? []).map((a) => ({ ...a, scope: 'cluster' as const }))];
  return { failOn, from, allow };
}

const ADVISORY_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{1,127}$/;

/** An advisory id as OSV records and allow-lists carry it (GHSA-…, CVE-…, DSA-…, PYSEC-…, GO-…). */
export function isAdvisoryId(id: unknown): id is string {
  return typeof id === 'string' && ADVISORY_ID_RE.test(id);
}
