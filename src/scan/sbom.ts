/**
 * The inventory as a CycloneDX 1.5 JSON SBOM: the image is the metadata component (type container), the
 * OS one component of type operating-system, and each package a library whose bom-ref is its purl, with
 * pleaco's properties (where it was found, its OSV ecosystem, its source package). Components are sorted
 * by bom-ref, so two scans of the same image differ only in serialNumber and timestamp.
 */
import { randomUUID } from 'node:crypto';
import type { Inventory, Package } from '../model/index.js';

export interface SbomOptions {
  image: string;
  imageId: string;
  /** The app the image belongs to (a property of the metadata component). */
  app?: string;
  /** ISO 8601; defaults to now. */
  timestamp?: string;
  toolVersion: string;
}

interface Property {
  name: string;
  value: string;
}

function packageComponent(p: Package): Record<string, unknown> {
  const properties: Property[] = [{ name: 'pleaco:ecosystem', value: p.ecosystem }];
  for (const l of p.locations) properties.push({ name: 'pleaco:location', value: l });
  if (p.sourceName) properties.push({ name: 'pleaco:source-name', value: p.sourceName });
  if (p.sourceVersion) properties.push({ name: 'pleaco:source-version', value: p.sourceVersion });
  return { type: 'library', 'bom-ref': p.purl, name: p.name, version: p.version, purl: p.purl, properties };
}

export function toCycloneDx(inv: Inventory, o: SbomOptions): object {
  const imageRef = `image:${o.imageId}`;
  const components: Array<Record<string, unknown>> = [];
  const seen = new Set<string>();
  for (const p of [...inv.packages].sort((a, b) => (a.purl < b.purl ? -1 : a.purl > b.purl ? 1 : 0))) {
    if (seen.has(p.purl)) continue; // bom-refs must be unique
    seen.add(p.purl);
    components.push(packageComponent(p));
  }
  if (inv.os) {
    const os: Record<string, unknown> = { type: 'operating-system', 'bom-ref': `os:${inv.os.id}${inv.os.versionId ? '@' + inv.os.versionId : ''}`, name: inv.os.id };
    if (inv.os.versionId) os['version'] = inv.os.versionId;
    if (inv.os.prettyName) os['description'] = inv.os.prettyName;
    components.unshift(os);
  }
  const image: Record<string, unknown> = { type: 'container', 'bom-ref': imageRef, name: o.image, version: o.imageId };
  if (o.app) image['properties'] = [{ name: 'pleaco:app', value: o.app }];
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${randomUUID()}`,
    version: 1,
    metadata: {
      timestamp: o.timestamp ?? new Date().toISOString(),
      tools: { components: [{ type: 'application', name: 'pleaco', version: o.toolVersion }] },
      component: image,
    },
    components,
    dependencies: [{ ref: imageRef, dependsOn: components.map((c) => c['bom-ref'] as string) }],
  };
}
