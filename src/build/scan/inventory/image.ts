/**
 * The inventory of an image, read from its filesystem through Docker Engine: no scanner container runs.
 * A labelled container is created (never started) from the image, `container.export()` streams the merged
 * filesystem as a tar, and tar-stream walks it: the few files the parsers need are kept (fileKind), ELF
 * executables up to 64 MiB are streamed through the Go build-info scanner, every other body is drained
 * without buffering. The container is removed in `finally`, also when the scan fails or is aborted.
 * Symlinks are followed for os-release only (/etc/os-release → ../usr/lib/os-release).
 */
import { extract, type Extract } from 'tar-stream';
import { PleacoError } from '../../../errors.js';
import { engineError, isEngineDown, type Engine } from '../../../runtime/engine.js';
import type { Inventory } from '../types.js';
import { GoBuildInfoScanner, OS_RELEASE_PATHS, fileKind, inventoryFromFiles, type GoBinary, type ImageFile } from './parsers.js';

/** Bodies kept in memory at most, per file (a dpkg status is ~1 MB, a big lockfile a few MB). */
const MAX_KEPT = 64 * 1024 * 1024;
/** Bound on all package files kept in memory for one image (an image with hundreds of big lockfiles). */
const MAX_KEPT_TOTAL = 512 * 1024 * 1024;
/** Executables larger than this are not searched for Go build info. */
const MAX_GO_BINARY = 64 * 1024 * 1024;

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

function socketOf(engine: Engine): string {
  return (engine.modem as { socketPath?: string } | undefined)?.socketPath ?? 'the configured socket';
}

function aborted(image: string): PleacoError {
  return new PleacoError('interrupted', `the scan of ${image} was aborted`);
}

/** The whole body of an entry (which must end, or close with an error). */
function readAll(entry: Entry): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    entry.on('data', (c) => parts.push(c as Buffer));
    entry.on('end', () => resolve(Buffer.concat(parts)));
    entry.on('close', () => reject(new Error('the export stream ended inside a file')));
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
    entry.on('close', () => reject(new Error('the export stream ended inside a file')));
  });
}

export async function inventoryImage(
  engine: Engine,
  image: string,
  o: InventoryOptions,
): Promise<{ inventory: Inventory; stats: InventoryStats }> {
  const t0 = Date.now();
  const say = o.onProgress ?? (() => undefined);
  const socket = socketOf(engine);
  if (o.signal?.aborted) throw aborted(image);

  let imageId: string;
  try {
    imageId = (await engine.getImage(image).inspect()).Id;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) {
      throw new PleacoError('not_found', `image ${image} is not on this node's Docker Engine (build it first; pleaco does not pull images to scan them)`, { cause: err });
    }
    throw engineError(err, socket);
  }

  const labels = { 'io.pleaco.managed': 'true', 'io.pleaco.role': 'scan', ...o.labels };
  let container: ReturnType<Engine['getContainer']> | undefined;
  let files = 0;
  let bytes = 0;
  try {
    // never started: the entrypoint only has to make creation valid for images without CMD
    container = await engine.createContainer({
      Image: imageId,
      Labels: labels,
      Entrypoint: ['/pleaco-scan-never-runs'],
      Cmd: [],
      NetworkDisabled: true,
      HostConfig: { NetworkMode: 'none' },
    });
    if (o.signal?.aborted) throw aborted(image);

    say(`inventory: reading the image's filesystem (${imageId.slice(7, 19)})`);
    const src = (await container.export()) as NodeJS.ReadableStream & { destroy(err?: Error): void };
    const tar = extract();
    const onAbort = (): void => {
      src.destroy();
      tar.destroy(aborted(image));
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    if (o.signal?.aborted) onAbort(); // aborted while the export was being requested
    src.on('data', (c: Buffer) => (bytes += c.length));
    src.on('error', (err: Error) => tar.destroy(err));
    src.pipe(tar as unknown as NodeJS.WritableStream);

    const kept: ImageFile[] = [];
    const goBinaries: GoBinary[] = [];
    const links = new Map<string, string>();
    try {
      let keptBytes = 0;
      for await (const entry of tar) {
        files++;
        const h = entry.header;
        const path = '/' + h.name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
        const size = h.size ?? 0;
        if (h.type === 'symlink') {
          if ((OS_RELEASE_PATHS as readonly string[]).includes(path) && h.linkname) links.set(path, h.linkname);
          entry.resume();
          continue;
        }
        if (h.type !== 'file' && h.type !== 'contiguous-file') {
          entry.resume();
          continue;
        }
        const kind = fileKind(path);
        if (kind && size <= MAX_KEPT && keptBytes + size <= MAX_KEPT_TOTAL) {
          keptBytes += size;
          kept.push({ kind, path, body: await readAll(entry) });
        } else if (kind && size <= MAX_KEPT) {
          say(`inventory: skipped ${path}: the package files read so far already take ${MAX_KEPT_TOTAL >> 20} MiB`);
          entry.resume();
        } else if (kind) {
          say(`inventory: skipped ${path}: ${size} bytes is more than a package database should be`);
          entry.resume();
        } else if (((h.mode ?? 0) & 0o111) !== 0 && size >= 64 && size <= MAX_GO_BINARY) {
          const info = (await scanGo(entry)).result();
          if (info) goBinaries.push({ path, info });
        } else {
          entry.resume();
        }
      }
    } catch (err) {
      src.destroy(); // stop the Engine sending the rest
      if (o.signal?.aborted) throw aborted(image);
      throw engineError(err, socket);
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
    }
    if (o.signal?.aborted) throw aborted(image);

    const inventory = inventoryFromFiles(kept, goBinaries, links);
    const ms = Date.now() - t0;
    const counts = new Map<string, number>();
    for (const p of inventory.packages) counts.set(p.type, (counts.get(p.type) ?? 0) + 1);
    const summary = [...counts].map(([t, n]) => `${t} ${n}`).join(', ') || 'none';
    say(`inventory: ${inventory.packages.length} packages (${summary}) from ${files} files, ${(bytes / 1e6).toFixed(1)} MB in ${ms} ms`);
    return { inventory, stats: { files, bytes, ms } };
  } catch (err) {
    if (err instanceof PleacoError) throw err;
    if (isEngineDown(err)) throw engineError(err, socket);
    if ((err as { statusCode?: number }).statusCode === 404) throw new PleacoError('not_found', `image ${image} was removed while it was being scanned`, { cause: err });
    throw new PleacoError('internal', `reading the filesystem of ${image} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    if (container) await container.remove({ force: true }).catch(() => undefined);
  }
}
