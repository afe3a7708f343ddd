/**
 * Python packages: installed distributions (site-packages/ or dist-packages/ *.dist-info/METADATA,
 * *.egg-info/PKG-INFO, or an *.egg-info file of the same format: `Name:` and `Version:` headers) and the
 * pins of requirements*.txt files (`name==version` only: a range says nothing about what is installed).
 * Names keep their spelling; the purl carries the PEP 503 normalized name (pkg:pypi/zope-interface@5.4.0).
 */
import type { Package } from '../../model/index.js';
import { headerFields, purl } from './purl.js';

export function isPythonMetadata(path: string): boolean {
  return (
    /\/(?:site|dist)-packages\/[^/]+\.dist-info\/METADATA$/.test(path) ||
    /\.egg-info\/PKG-INFO$/.test(path) ||
    /\/(?:site|dist)-packages\/[^/]+\.egg-info$/.test(path)
  );
}

export function isRequirementsFile(path: string): boolean {
  return /(?:^|\/)requirements[^/]*\.txt$/.test(path) && !/\/(?:site|dist)-packages\//.test(path);
}

/** PEP 503: lower case, runs of -, _ and . become one -. */
export function pep503(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

export function pypiPackage(name: string, version: string, location: string): Package {
  return { type: 'pypi', ecosystem: 'PyPI', name, version, purl: purl('pypi', undefined, pep503(name), version), locations: [location] };
}

/** METADATA / PKG-INFO headers. The location is the .dist-info / .egg-info directory (or the egg-info file). */
export function parsePythonMetadata(text: string | Buffer, path: string): Package[] {
  const f = headerFields(text.toString('utf8').replace(/\r\n/g, '\n'));
  const name = f.get('Name');
  const version = f.get('Version');
  if (!name || !version) return [];
  const location = /\/(?:METADATA|PKG-INFO)$/.test(path) ? path.slice(0, path.lastIndexOf('/')) : path;
  return [pypiPackage(name, version, location)];
}

const PIN = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([A-Za-z0-9][A-Za-z0-9.+!_-]*)\s*(?:;.*)?$/;

export function parseRequirements(text: string | Buffer, path: string): Package[] {
  const out: Package[] = [];
  // "\" at the end of a line continues it (long --hash lists)
  const lines = text.toString('utf8').replace(/\r\n/g, '\n').replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.replace(/(^|\s)#.*$/, '').replace(/\s--hash=\S+/g, '').trim();
    if (!line || line.startsWith('-')) continue; // -r, -e, --index-url …: not a pin
    const m = PIN.exec(line);
    if (m) out.push(pypiPackage(m[1]!, m[2]!, path));
  }
  return out;
}
