/**
 * npm packages: package-lock.json (lockfileVersion 1: the nested `dependencies` tree; 2 and 3: the
 * `packages` map keyed by "node_modules/…" paths; the root "" entry, workspace folders, links and local
 * `file:` or git versions are not registry packages; dev dependencies are skipped, as they are not
 * installed by a production `npm ci`: when they are installed, their node_modules/…/package.json says so)
 * and the package.json of each installed package (node_modules/<name>/ or node_modules/@scope/<name>/).
 * Any other package.json is the app itself or a file inside a package, not a dependency.
 */
import type { Package } from '../../model/index.js';
import { purl } from './purl.js';

/** A package.json that describes an installed package: directly in node_modules/<name>/ or node_modules/@scope/<name>/. */
export function isInstalledPackageJson(path: string): boolean {
  return /(?:^|\/)node_modules\/(?:@[^/]+\/)?[^/@.][^/]*\/package\.json$/.test(path);
}

/** A lockfile of an app (npm's own node_modules/.package-lock.json and lockfiles inside packages are not). */
export function isNpmLockfile(path: string): boolean {
  return /(?:^|\/)package-lock\.json$/.test(path) && !/(?:^|\/)node_modules\//.test(path);
}

const REGISTRY_VERSION = /^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?$/;

export function npmPackage(name: string, version: string, location: string): Package | undefined {
  if (!REGISTRY_VERSION.test(version) || !/^(?:@[^/\s]+\/)?[^/\s]+$/.test(name)) return undefined;
  const slash = name.startsWith('@') ? name.indexOf('/') : -1;
  const ns = slash > 0 ? name.slice(0, slash) : undefined;
  const base = slash > 0 ? name.slice(slash + 1) : name;
  return { type: 'npm', ecosystem: 'npm', name, version, purl: purl('npm', ns, base, version), locations: [location] };
}

function parseJson(text: string | Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text.toString('utf8').replace(/^\uFEFF/, ''));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

type Entry = { version?: unknown; name?: unknown; dev?: unknown; link?: unknown; dependencies?: unknown };
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** `npm:real-name@1.2.3` (an alias) → the real name and version. */
function unalias(name: string, version: string): [string, string] {
  const m = /^npm:((?:@[^/]+\/)?[^@]+)@(.+)$/.exec(version);
  return m ? [m[1]!, m[2]!] : [name, version];
}

export function parseNpmLockfile(text: string | Buffer, path: string): Package[] {
  const lock = parseJson(text);
  if (!lock) return [];
  const out: Package[] = [];
  const add = (name: string, version: string): void => {
    const p = npmPackage(...unalias(name, version), path);
    if (p) out.push(p);
  };
  const packages = lock['packages'];
  if (packages && typeof packages === 'object') {
    for (const [key, raw] of Object.entries(packages as Record<string, Entry>)) {
      const at = key.lastIndexOf('node_modules/');
      if (key === '' || at < 0 || !raw || typeof raw !== 'object' || raw.link === true || raw.dev === true) continue;
      const version = str(raw.version);
      if (version) add(str(raw.name) ?? key.slice(at + 'node_modules/'.length), version);
    }
    return out;
  }
  const walk = (deps: unknown): void => {
    if (!deps || typeof deps !== 'object') return;
    for (const [name, raw] of Object.entries(deps as Record<string, Entry>)) {
      if (!raw || typeof raw !== 'object' || raw.dev === true) continue;
      const version = str(raw.version);
      if (version) add(name, version);
      walk(raw.dependencies);
    }
  };
  walk(lock['dependencies']);
  return out;
}

export function parseNpmPackageJson(text: string | Buffer, path: string): Package[] {
  if (!isInstalledPackageJson(path)) return [];
  const pkg = parseJson(text);
  const name = str(pkg?.['name']);
  const version = str(pkg?.['version']);
  const p = name && version ? npmPackage(name, version, path) : undefined;
  return p ? [p] : [];
}
