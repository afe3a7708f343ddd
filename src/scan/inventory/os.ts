/**
 * The image's operating system from os-release (/etc/os-release, else /usr/lib/os-release), and the OSV
 * ecosystem its OS packages are filed under: Debian 12 → 'Debian:12', Alpine 3.19.1 → 'Alpine:v3.19'.
 * A release pleaco cannot place (no VERSION_ID, another distribution) gets the bare capitalized id,
 * which matches no advisory rather than the wrong ones.
 */
import type { OsInfo } from '../../model/index.js';

/** Shell-style `KEY=value` lines; values may be "double" (with \ escapes) or 'single' quoted. */
function unquote(raw: string): string {
  const v = raw.trim();
  if (v.length >= 2 && v[0] === '"' && v.endsWith('"')) return v.slice(1, -1).replace(/\\(["\\$`])/g, '$1');
  if (v.length >= 2 && v[0] === "'" && v.endsWith("'")) return v.slice(1, -1);
  return v;
}

export function parseOsRelease(text: string | Buffer): OsInfo | undefined {
  const fields = new Map<string, string>();
  for (const line of text.toString('utf8').split(/\r?\n/)) {
    const m = /^\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) fields.set(m[1]!, unquote(m[2]!));
  }
  const id = fields.get('ID')?.toLowerCase();
  if (!id) return undefined;
  const os: OsInfo = { id };
  const versionId = fields.get('VERSION_ID');
  if (versionId) os.versionId = versionId;
  const pretty = fields.get('PRETTY_NAME');
  if (pretty) os.prettyName = pretty;
  return os;
}

function capitalized(id: string): string {
  return id.charAt(0).toUpperCase() + id.slice(1);
}

/**
 * The OSV ecosystem of the OS packages. `family` is the distribution whose package database was read
 * ('debian' for dpkg, 'alpine' for apk): it names the ecosystem when os-release is missing.
 */
export function osEcosystem(os: OsInfo | undefined, family: 'debian' | 'alpine'): string {
  const id = os?.id ?? family;
  const v = os?.versionId;
  if (id === 'debian' && v) {
    const major = /^(\d+)/.exec(v)?.[1];
    if (major) return `Debian:${major}`;
  }
  if (id === 'alpine' && v) {
    const mm = /^(\d+)\.(\d+)/.exec(v);
    if (mm) return `Alpine:v${mm[1]}.${mm[2]}`;
  }
  return capitalized(id);
}

/** The purl `distro` qualifier: debian-12, alpine-3.19.1 (none without a VERSION_ID). */
export function purlDistro(os: OsInfo | undefined): string | undefined {
  if (!os?.versionId) return undefined;
  return `${os.id}-${os.versionId}`;
}
