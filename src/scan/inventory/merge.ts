/**
 * The layers of an image merged, top layer first, into the files, Go binaries and os-release links a walk over the
 * image's merged filesystem finds (layer.ts says what each layer keeps). A layer's contribution at a path shows unless
 * a layer above has an entry at that path, deletes it or a directory above it (whiteout), has something other than a
 * directory at a directory above it, or made a directory above it opaque. The result is sorted in the order a walk of
 * the merged filesystem (Docker's export: a depth-first walk, names in byte order) meets the paths, so that
 * inventoryFromFiles sees the files in the same order either way.
 */
import { fileKind, type GoBinary, type ImageFile } from './parsers.js';
import type { LayerRecord } from './layer.js';

/** Depth-first walk order: path components compared in byte order, a directory before what is in it. */
export function walkOrder(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return Buffer.compare(Buffer.from(x[i]!), Buffer.from(y[i]!));
  }
  return x.length - y.length;
}

/** What the layers above the one being merged hide. */
class Hider {
  private readonly at = new Set<string>();
  private readonly nonDirs = new Set<string>();
  private readonly gone = new Set<string>();
  private readonly opaque = new Set<string>();

  add(l: LayerRecord): void {
    for (const p of l.dirs) this.at.add(p);
    for (const p of l.others) {
      this.at.add(p);
      this.nonDirs.add(p);
    }
    for (const p of l.deleted) this.gone.add(p);
    for (const p of l.opaque) this.opaque.add(p);
  }

  hides(path: string): boolean {
    if (this.at.has(path) || this.gone.has(path)) return true;
    for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
      const up = path.slice(0, i);
      if (this.nonDirs.has(up) || this.gone.has(up) || this.opaque.has(up)) return true;
    }
    return this.opaque.has('/');
  }
}

export interface MergedFiles {
  files: ImageFile[];
  goBinaries: GoBinary[];
  links: Map<string, string>;
}

/** Where a contribution shows: the first path in walk order of its hard-link group that no layer above hides. */
function shownAt(path: string, aliases: Map<string, string[]>, hider: Hider): string | null {
  let best: string | null = null;
  for (const p of [path, ...(aliases.get(path) ?? [])]) {
    if (!hider.hides(p) && (best === null || walkOrder(p, best) < 0)) best = p;
  }
  return best;
}

/** Merges the records of an image's layers (base first) into what its filesystem shows. */
export function mergeLayers(layers: readonly LayerRecord[]): MergedFiles {
  const hider = new Hider();
  const files: ImageFile[] = [];
  const goBinaries: GoBinary[] = [];
  const links = new Map<string, string>();
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i]!;
    const aliases = new Map<string, string[]>();
    for (const [p, target] of l.hardlinks) aliases.set(target, [...(aliases.get(target) ?? []), p]);
    for (const f of l.files) {
      const at = shownAt(f.path, aliases, hider);
      const kind = at === f.path ? f.kind : at && fileKind(at); // a hard link shows under its own name's kind
      if (at && kind) files.push({ kind, path: at, body: f.body });
    }
    for (const g of l.go) {
      const at = shownAt(g.path, aliases, hider);
      if (at) goBinaries.push({ path: at, info: g.info });
    }
    for (const [p, target] of l.links) if (!hider.hides(p) && !links.has(p)) links.set(p, target);
    if (i > 0) hider.add(l); // the base layer hides nothing
  }
  files.sort((a, b) => walkOrder(a.path, b.path));
  goBinaries.sort((a, b) => walkOrder(a.path, b.path));
  return { files, goBinaries, links };
}
