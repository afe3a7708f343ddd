/**
 * Alpine packages from apk's database /lib/apk/db/installed: one blank-line separated record per
 * package, `P:` name, `V:` version, `A:` arch, `o:` origin (the source package advisories are filed under).
 */
import type { OsInfo, Package } from '../../model/index.js';
import { osEcosystem, purlDistro } from './os.js';
import { paragraphs, purl } from './purl.js';

export function parseApkInstalled(text: string | Buffer, path: string, os?: OsInfo): Package[] {
  const ecosystem = osEcosystem(os, 'alpine');
  const distro = purlDistro(os);
  const out: Package[] = [];
  for (const para of paragraphs(text.toString('utf8'))) {
    const f = new Map<string, string>();
    for (const line of para.split('\n')) {
      if (line.length >= 2 && line[1] === ':' && !f.has(line[0]!)) f.set(line[0]!, line.slice(2).trim());
    }
    const name = f.get('P');
    const version = f.get('V');
    if (!name || !version) continue;
    out.push({
      type: 'apk',
      ecosystem,
      name,
      version,
      sourceName: f.get('o') || name,
      sourceVersion: version,
      purl: purl('apk', os?.id ?? 'alpine', name, version, { arch: f.get('A'), distro }),
      locations: [path],
    });
  }
  return out;
}
