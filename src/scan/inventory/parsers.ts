/**
 * The inventory's pure half: which files of an image the parsers need (`fileKind`), and the inventory made
 * from those files once they are read (`inventoryFromFiles`). Each parser is `(text or Buffer, path) →
 * Package[]`, OS package parsers also take the OsInfo that names their ecosystem; they live one format a
 * file beside this one and are re-exported here.
 */
import type { Inventory, OsInfo, Package } from '../../model/index.js';
import { parseApkInstalled } from './apk.js';
import { parseDpkgStatus } from './dpkg.js';
import { goPackages, type GoBuildInfo } from './go.js';
import { isInstalledPackageJson, isNpmLockfile, parseNpmLockfile, parseNpmPackageJson } from './npm.js';
import { parseOsRelease } from './os.js';
import { isPythonMetadata, isRequirementsFile, parsePythonMetadata, parseRequirements } from './python.js';

export { parseOsRelease, osEcosystem, purlDistro } from './os.js';
export { parseDpkgStatus } from './dpkg.js';
export { parseApkInstalled } from './apk.js';
export { parseNpmLockfile, parseNpmPackageJson, isInstalledPackageJson, isNpmLockfile } from './npm.js';
export { parsePythonMetadata, parseRequirements, pep503, isPythonMetadata, isRequirementsFile } from './python.js';
export { GoBuildInfoScanner, readGoBuildInfo, goPackages, isElf, type GoBuildInfo } from './go.js';
export { purl } from './purl.js';

export type FileKind = 'os-release' | 'dpkg-status' | 'apk-installed' | 'npm-lockfile' | 'npm-package' | 'python-metadata' | 'requirements';

export const OS_RELEASE_PATHS = ['/etc/os-release', '/usr/lib/os-release'] as const;

/** What a file at `path` (absolute, as in the image) is to the parsers, or undefined when no parser reads it. */
export function fileKind(path: string): FileKind | undefined {
  if ((OS_RELEASE_PATHS as readonly string[]).includes(path)) return 'os-release';
  if (path === '/var/lib/dpkg/status' || (path.startsWith('/var/lib/dpkg/status.d/') && !path.endsWith('.md5sums') && path.indexOf('/', 23) < 0)) return 'dpkg-status';
  if (path === '/lib/apk/db/installed' || path === '/usr/lib/apk/db/installed') return 'apk-installed';
  if (isInstalledPackageJson(path)) return 'npm-package';
  if (isNpmLockfile(path)) return 'npm-lockfile';
  if (isPythonMetadata(path)) return 'python-metadata';
  if (isRequirementsFile(path)) return 'requirements';
  return undefined;
}

/** A file read from the image (path absolute). */
export interface ImageFile {
  kind: FileKind;
  path: string;
  body: Buffer;
}

/** A Go binary's build info and where it is. */
export interface GoBinary {
  path: string;
  info: GoBuildInfo;
}

/**
 * The os-release text: /etc/os-release, following symlinks (`links`: path → target as stored in the
 * image, relative to the link's folder or absolute), else /usr/lib/os-release.
 */
export function resolveOsRelease(files: Map<string, Buffer>, links: Map<string, string>): Buffer | undefined {
  for (const start of OS_RELEASE_PATHS) {
    let p: string = start;
    for (let hops = 0; hops < 8 && links.has(p); hops++) p = resolveLink(p, links.get(p)!);
    const body = files.get(p);
    if (body) return body;
  }
  return undefined;
}

/** The absolute path a symlink at `from` with target `to` points at ("..", "." resolved, never above /). */
export function resolveLink(from: string, to: string): string {
  const parts = to.startsWith('/') ? [] : from.split('/').slice(1, -1);
  for (const seg of to.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return '/' + parts.join('/');
}

/** One Package per purl: locations merged (sorted), packages sorted by purl. */
export function mergePackages(pkgs: Package[]): Package[] {
  const byPurl = new Map<string, Package>();
  for (const p of pkgs) {
    const seen = byPurl.get(p.purl);
    if (!seen) byPurl.set(p.purl, { ...p, locations: [...p.locations] });
    else for (const l of p.locations) if (!seen.locations.includes(l)) seen.locations.push(l);
  }
  return [...byPurl.values()].map((p) => ({ ...p, locations: p.locations.sort() })).sort((a, b) => (a.purl < b.purl ? -1 : a.purl > b.purl ? 1 : 0));
}

/** The inventory of an image from the files `fileKind` picked, its os-release links and its Go binaries. */
export function inventoryFromFiles(files: ImageFile[], goBinaries: GoBinary[] = [], links = new Map<string, string>()): Inventory {
  const osFiles = new Map(files.filter((f) => f.kind === 'os-release').map((f) => [f.path, f.body]));
  const osText = resolveOsRelease(osFiles, links);
  const os: OsInfo | undefined = osText ? parseOsRelease(osText) : undefined;
  const pkgs: Package[] = [];
  for (const f of files) {
    if (f.kind === 'dpkg-status') pkgs.push(...parseDpkgStatus(f.body, f.path, os));
    else if (f.kind === 'apk-installed') pkgs.push(...parseApkInstalled(f.body, f.path, os));
    else if (f.kind === 'npm-lockfile') pkgs.push(...parseNpmLockfile(f.body, f.path));
    else if (f.kind === 'npm-package') pkgs.push(...parseNpmPackageJson(f.body, f.path));
    else if (f.kind === 'python-metadata') pkgs.push(...parsePythonMetadata(f.body, f.path));
    else if (f.kind === 'requirements') pkgs.push(...parseRequirements(f.body, f.path));
  }
  for (const g of goBinaries) pkgs.push(...goPackages(g.info, g.path));
  const inv: Inventory = { packages: mergePackages(pkgs) };
  if (os) inv.os = os;
  return inv;
}
