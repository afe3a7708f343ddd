/**
 * What one layer gives an image's inventory, read from that layer's tar alone (LayerReader), and how the layers of an
 * image merge into what its filesystem shows (mergeLayers) — the same files, Go binaries and os-release links that a
 * walk over the merged filesystem (image.ts) finds, so the same inventory comes out of inventoryFromFiles.
 *
 * A layer keeps what the merged walk keeps (fileKind, the same size bounds; executables through the Go build-info
 * scanner; symlinks at the os-release paths), plus what decides which of the layers below still show: every path it
 * has an entry at (directories apart: a directory merges with the one below, anything else replaces whatever was
 * there, and hides all below it), its whiteouts (`.wh.<name>`: that path and all below it are gone) and its opaque
 * directories (`.wh..wh..opq`: all below them from lower layers is gone). Hard links within the layer to a kept file or
 * a Go binary are kept too: a walk of the merged filesystem reports a group of hard links once, at its first path in
 * walk order that is still there, so the merge does the same. A later entry of one path in a tar replaces an earlier
 * one, as extraction does.
 */
import { fileKind, GoBuildInfoScanner, OS_RELEASE_PATHS, type GoBinary, type GoBuildInfo, type ImageFile } from './parsers.js';
import { TarWalker, type TarBody, type TarHeader } from './tarwalk.js';

/** Bodies kept in memory at most, per file (a dpkg status is ~1 MB, a big lockfile a few MB). */
export const MAX_KEPT = 64 * 1024 * 1024;
/** Bound on all package files kept in memory (for one image by the merged walk, for one layer here). */
export const MAX_KEPT_TOTAL = 512 * 1024 * 1024;
/** Executables larger than this are not searched for Go build info. */
export const MAX_GO_BINARY = 64 * 1024 * 1024;
/** Entries of one layer's tar read at most (the ~680 MB bench image has 26,000). */
export const MAX_LAYER_ENTRIES = 1_000_000;

export interface LayerRecord {
  files: ImageFile[];
  go: GoBinary[];
  /** Symlinks at the os-release paths: [path, target as stored]. */
  links: Array<[string, string]>;
  /** Hard links to a kept file or a Go binary of this layer: [path, the path it links to]. */
  hardlinks: Array<[string, string]>;
  /** Paths of this layer's directories, and of its other entries. */
  dirs: string[];
  others: string[];
  /** Paths its whiteouts delete; directories it made opaque. */
  deleted: string[];
  opaque: string[];
  /** Files not read, and why (said when the layer is used). */
  notes: string[];
  entries: number;
}

const OPAQUE = '.wh..wh..opq';
const WH = '.wh.';

/** A tar member's name as an absolute path, as the merged walk writes it. */
export function normPath(name: string): string {
  return '/' + name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
}

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

/** Builds one layer's record from its tar, pushed chunk by chunk. */
export class LayerReader {
  private readonly walker: TarWalker;
  private readonly files = new Map<string, ImageFile>();
  private readonly go = new Map<string, GoBuildInfo>();
  private readonly links = new Map<string, string>();
  private readonly hardlinks = new Map<string, string>();
  private readonly dirs: string[] = [];
  private readonly others: string[] = [];
  private readonly deleted: string[] = [];
  private readonly opaque: string[] = [];
  private readonly notes: string[] = [];
  private kept = 0;

  constructor(maxEntries = MAX_LAYER_ENTRIES) {
    this.walker = new TarWalker((h) => this.entry(h), maxEntries);
  }

  push(chunk: Buffer): void {
    this.walker.push(chunk);
  }

  /** The record, once the whole tar was pushed (throws when it ended inside an entry). */
  finish(): LayerRecord {
    this.walker.end();
    const contributes = (p: string): boolean => this.files.has(p) || this.go.has(p);
    return {
      files: [...this.files.values()],
      go: [...this.go].map(([path, info]) => ({ path, info })),
      links: [...this.links],
      hardlinks: [...this.hardlinks].filter(([, target]) => contributes(target)),
      dirs: this.dirs,
      others: this.others,
      deleted: this.deleted,
      opaque: this.opaque,
      notes: this.notes,
      entries: this.walker.headers,
    };
  }

  private entry(h: TarHeader): TarBody | null {
    const path = normPath(h.name);
    const base = path.slice(path.lastIndexOf('/') + 1);
    if (base.startsWith(WH)) {
      if (base === OPAQUE) this.opaque.push(dirOf(path));
      else if (!base.startsWith(WH + WH)) this.deleted.push(`${dirOf(path) === '/' ? '' : dirOf(path)}/${base.slice(WH.length)}`);
      return null; // other `.wh..wh.` names: AUFS metadata, not part of the filesystem
    }
    // a later member of the same path replaces an earlier one
    this.files.delete(path);
    this.go.delete(path);
    this.links.delete(path);
    this.hardlinks.delete(path);
    (h.type === 'directory' ? this.dirs : this.others).push(path);
    if (h.type === 'symlink') {
      if ((OS_RELEASE_PATHS as readonly string[]).includes(path) && h.linkname) this.links.set(path, h.linkname);
      return null;
    }
    if (h.type === 'link') {
      if (h.linkname) this.hardlinks.set(path, normPath(h.linkname));
      return null;
    }
    if (h.type !== 'file' && h.type !== 'contiguous-file') return null;
    return this.body(path, h);
  }

  /** Keeps a package file, scans an executable for Go build info, or skips the body: as the merged walk does. */
  private body(path: string, h: TarHeader): TarBody | null {
    const kind = fileKind(path);
    const size = h.size;
    if (kind && size <= MAX_KEPT && this.kept + size <= MAX_KEPT_TOTAL) {
      this.kept += size;
      const parts: Buffer[] = [];
      return { data: (c) => parts.push(Buffer.from(c)), end: () => this.files.set(path, { kind, path, body: Buffer.concat(parts) }) };
    }
    if (kind && size <= MAX_KEPT) this.notes.push(`inventory: skipped ${path}: the package files read so far already take ${MAX_KEPT_TOTAL >> 20} MiB`);
    else if (kind) this.notes.push(`inventory: skipped ${path}: ${size} bytes is more than a package database should be`);
    else if ((h.mode & 0o111) !== 0 && size >= 64 && size <= MAX_GO_BINARY) {
      const scanner = new GoBuildInfoScanner();
      return {
        data: (c) => scanner.push(c),
        end: () => {
          const info = scanner.result();
          if (info) this.go.set(path, info);
        },
      };
    }
    return null;
  }
}
