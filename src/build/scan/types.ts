/**
 * The scanner's vocabulary, shared by the inventory (what is in an image), the advisory database (OSV
 * records), the matcher (which installed package an advisory affects) and the policy gate.
 */

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
