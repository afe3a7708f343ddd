/**
 * Debian packages from dpkg's database: /var/lib/dpkg/status (only paragraphs whose Status says
 * "installed": a removed package's "deinstall ok config-files" leftover is not installed) and the
 * one-file-per-package /var/lib/dpkg/status.d/* of distroless images (no Status field: all installed).
 * The source package (Source: openssl (3.0.11-1~deb12u2), or the binary's own name and version) is
 * what Debian's advisories are keyed by.
 */
import type { OsInfo, Package } from '../../model/index.js';
import { osEcosystem, purlDistro } from './os.js';
import { headerFields, paragraphs, purl } from './purl.js';

export function parseDpkgStatus(text: string | Buffer, path: string, os?: OsInfo): Package[] {
  const ecosystem = osEcosystem(os, 'debian');
  const distro = purlDistro(os);
  const out: Package[] = [];
  for (const para of paragraphs(text.toString('utf8'))) {
    const f = headerFields(para);
    const name = f.get('Package');
    const version = f.get('Version');
    if (!name || !version) continue;
    const status = f.get('Status');
    if (status !== undefined && status.split(/\s+/)[2] !== 'installed') continue;
    const arch = f.get('Architecture');
    let sourceName = name;
    let sourceVersion = version;
    const src = f.get('Source');
    if (src) {
      const m = /^(\S+)(?:\s*\(([^)]+)\))?/.exec(src);
      if (m) {
        sourceName = m[1]!;
        if (m[2]) sourceVersion = m[2].trim();
      }
    }
    out.push({
      type: 'deb',
      ecosystem,
      name,
      version,
      sourceName,
      sourceVersion,
      purl: purl('deb', os?.id ?? 'debian', name, version, { arch, distro }),
      locations: [path],
    });
  }
  return out;
}
