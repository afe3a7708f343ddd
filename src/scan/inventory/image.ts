/**
 * The inventory of an image from its merged filesystem (how every scan read images before issue #12; now the last
 * resort of layered.ts, and the reference its tests compare with), read through the ContainerEngine: no scanner
 * container runs.
 * The engine hands over the image's merged filesystem as a tar (on Docker: the export of a labelled container
 * created, never started, from the image), and tar-stream walks it: the few files the parsers need are kept (fileKind), ELF
 * executables up to 64 MiB are streamed through the Go build-info scanner, every other body is drained
 * without buffering. The engine removes its container also when the scan fails or is aborted.
 * Symlinks are followed for os-release only (/etc/os-release → ../usr/lib/os-release).
 */
import { extract, type Extract } from 'tar-stream';
import { PleacoError } from '../../errors.js';
import { engineUnavailable, isEngineDown, type ContainerEngine } from '../../runtime/index.js';
import type { Inventory } from '../../model/index.js';
import { MAX_GO_BINARY, MAX_KEPT, MAX_KEPT_TOTAL } from './layer.js';
import { GoBuildInfoScanner, OS_RELEASE_PATHS, fileKind, inventoryFromFiles, type GoBinary, type ImageFile } from './parsers.js';

/** One file of the tar being read (tar-stream's entry stream). */
type Entry = Extract extends AsyncIterable<infer E> ? E : never;

export interface InventoryOptions {
  /** Labels of the (never started) container; io.pleaco.managed=true and io.pleaco.role=scan are added when missing. */
  labels: Record<string, string>;
  signal?: AbortSignal;
  onProgress?: (line: string) => void;
}

export interface InventoryStats {
  /** Entries in the exported tar. */
  files: number;
  /** Bytes of the exported tar. */
  bytes: number;
  ms: number;
}

export function aborted(image: string): PleacoError {
  return new PleacoError('interrupted', `the scan of ${image} was aborted`);
}

/** The export ended in the middle of a file's body (the engine went away, or the walk was cut short). */
const cutShort = (): PleacoError => new PleacoError('internal', 'the export stream ended inside a file');

/** The whole body of an entry (which must end, or close with an error). */
function readAll(entry: Entry): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    entry.on('data', (c) => parts.push(c as Buffer));
    entry.on('end', () => resolve(Buffer.concat(parts)));
    entry.on('close', () => reject(cutShort()));
  });
}

/** Streams an entry through the Go build-info scanner (it keeps only an ELF file's data segment); the rest is drained. */
function scanGo(entry: Entry): Promise<GoBuildInfoScanner> {
  return new Promise((resolve, reject) => {
    const scanner = new GoBuildInfoScanner();
    entry.on('data', (c) => {
      if (!scanner.done) scanner.push(c as Buffer);
    });
    entry.on('end', () => resolve(scanner));
    entry.on('close', () => reject(cutShort()));
  });
}

/** What the walk over the exported tar keeps: package files, Go binaries' build info, os-release links. */
interface TarFindings {
  kept: ImageFile[];
  goBinaries: GoBinary[];
  links: Map<string, string>;
  files: number;
}

/** Takes one tar entry: keeps package files (within the bounds), scans executables for Go build info, drains the rest. */
async function takeEntry(entry: Entry, f: TarFindings, keptBytes: { n: number }, say: (line: string) => void): Promise<void> {
  const h = entry.header;
  const path = '/' + h.name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
  const size = h.size ?? 0;
  if (h.type === 'symlink') {
    if ((OS_RELEASE_PATHS as readonly string[]).includes(path) && h.linkname) f.links.set(path, h.linkname);
    entry.resume();
    return;
  }
  if (h.type !== 'file' && h.type !== 'contiguous-file') return void entry.resume();
  const kind = fileKind(path);
  if (kind && size <= MAX_KEPT && keptBytes.n + size <= MAX_KEPT_TOTAL) {
    keptBytes.n += size;
    f.kept.push({ kind, path, body: await readAll(entry) });
  } else if (kind && size <= MAX_KEPT) {
    say(`inventory: skipped ${path}: the package files read so far already take ${MAX_KEPT_TOTAL >> 20} MiB`);
    entry.resume();
  } else if (kind) {
    say(`inventory: skipped ${path}: ${size} bytes is more than a package database should be`);
    entry.resume();
  } else if (((h.mode ?? 0) & 0o111) !== 0 && size >= 64 && size <= MAX_GO_BINARY) {
    const info = (await scanGo(entry)).result();
    if (info) f.goBinaries.push({ path, info });
  } else {
    entry.resume();
  }
}

/** Walks the exported filesystem; an abort destroys the export (the engine stops sending) and rejects `interrupted`. */
async function walkTar(src: NodeJS.ReadableStream & { destroy?(err?: Error): void }, image: string, where: string, o: InventoryOptions, stats: { bytes: number }): Promise<TarFindings> {
  const say = o.onProgress ?? (() => undefined);
  const tar = extract();
  const onAbort = (): void => {
    src.destroy?.();
    tar.destroy(aborted(image));
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  if (o.signal?.aborted) onAbort(); // aborted while the export was being requested
  src.on('data', (c: Buffer) => (stats.bytes += c.length));
  src.on('error', (err: Error) => tar.destroy(err));
  src.pipe(tar);
  const found: TarFindings = { kept: [], goBinaries: [], links: new Map(), files: 0 };
  const keptBytes = { n: 0 };
  try {
    for await (const entry of tar) {
      found.files++;
      await takeEntry(entry, found, keptBytes, say);
    }
  } catch (err) {
    src.destroy?.(); // stop the Engine sending the rest
    if (o.signal?.aborted) throw aborted(image);
    if (err instanceof PleacoError && err.code !== 'internal') throw err;
    if (isEngineDown(err)) throw engineUnavailable(where, err);
    throw new PleacoError('internal', `reading the filesystem of ${image} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  if (o.signal?.aborted) throw aborted(image);
  return found;
}

export async function inventoryImage(engine: Pick<ContainerEngine, 'where' | 'inspectImage' | 'readImageFiles'>, image: string, o: InventoryOptions): Promise<{ inventory: Inventory; stats: InventoryStats }> {
  const t0 = Date.now();
  const say = o.onProgress ?? (() => undefined);
  if (o.signal?.aborted) throw aborted(image);
  const info = await engine.inspectImage(image);
  if (!info) throw new PleacoError('not_found', `image ${image} is not on this node's Docker Engine (build it first; pleaco does not pull images to scan them)`);
  const labels = { 'io.pleaco.managed': 'true', 'io.pleaco.role': 'scan', ...o.labels };
  const stats = { bytes: 0 };
  const found = await engine.readImageFiles(info.id, labels, async (src) => {
    if (o.signal?.aborted) {
      (src as { destroy?: () => void }).destroy?.();
      throw aborted(image);
    }
    say(`inventory: reading the image's filesystem (${info.id.slice(7, 19)})`);
    return walkTar(src, image, engine.where, o, stats);
  });
  const inventory = inventoryFromFiles(found.kept, found.goBinaries, found.links);
  const ms = Date.now() - t0;
  const counts = new Map<string, number>();
  for (const p of inventory.packages) counts.set(p.type, (counts.get(p.type) ?? 0) + 1);
  const summary = [...counts].map(([t, n]) => `${t} ${n}`).join(', ') || 'none';
  say(`inventory: ${inventory.packages.length} packages (${summary}) from ${found.files} files, ${(stats.bytes / 1e6).toFixed(1)} MB in ${ms} ms`);
  return { inventory, stats: { files: found.files, bytes: stats.bytes, ms } };
}
