/**
 * The node's image-part cache, content-addressed under the state dir:
 *   <root>/configs/<hex>.json   an image config, <hex> = its image ID (sha256 of these bytes)
 *   <root>/layers/<hex>.tar     a layer's uncompressed tar, <hex> = its diffID (sha256 of these bytes)
 *   <root>/received/<hex>       a mark: this node loaded image <hex> from a peer (its collection may remove it)
 *   <root>/tmp/<pid>-<rand>/    work dirs (a `docker save` being split, a transfer being received)
 * Nothing enters unverified: a file is hashed while it is written and renamed into place only under the digest it
 * hashed to. It is what a node serves to its peers (filled by splitting a `docker save`, and by what it received),
 * bounded by `maxBytes` (least recently served first) and emptied of images the engine no longer holds.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { PleacoError } from '../../errors.js';
import { DIGEST_RE } from '../../model/index.js';
import { hexOf, MAX_CONFIG_BYTES, parseImageConfig, sha256 } from './digest.js';

const HEX_FILE_RE = /^([0-9a-f]{64})\.(json|tar)$/;
/** Entries of a `docker save` tarball read at most (a few per layer, plus manifest, config, index). */
const MAX_SAVE_ENTRIES = 4096;

/** A tee that hashes and counts what passes through, and refuses more than `max` bytes. */
export function digester(max: number, what: string): Transform & { digest(): string; bytes: number } {
  const h = createHash('sha256');
  const t = new Transform({
    transform(c: Buffer, _e, cb) {
      t.bytes += c.length;
      if (t.bytes > max) return cb(new PleacoError('payload_too_large', `${what} is larger than ${max} bytes`));
      h.update(c);
      cb(null, c);
    },
  }) as Transform & { digest(): string; bytes: number };
  t.bytes = 0;
  t.digest = () => `sha256:${h.digest('hex')}`;
  return t;
}

/** The diffIDs a cached config lists; null when it does not parse. */
function diffIdsOf(bytes: Buffer): string[] | null {
  try {
    return parseImageConfig(bytes).diffIds;
  } catch {
    return null;
  }
}

/**
 * Whether another process with this pid still runs: a temp or work dir named after it is not removed (this process
 * tracks its own). Also the advisory database's store (scan/db).
 */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class ImageCache {
  private readonly active = new Set<string>();

  constructor(readonly root: string, readonly maxBytes: number) {}

  configPath(imageId: string): string {
    return join(this.root, 'configs', `${hexOf(imageId)}.json`);
  }

  layerPath(diffId: string): string {
    return join(this.root, 'layers', `${hexOf(diffId)}.tar`);
  }

  /** A fresh work dir (same file system as the cache: its files are renamed in); removed by `release`. */
  async workDir(): Promise<string> {
    const dir = join(this.root, 'tmp', `${process.pid}-${randomBytes(6).toString('hex')}`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    this.active.add(dir);
    return dir;
  }

  async release(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
    this.active.delete(dir);
  }

  /** The cached config bytes of an image (checked against its ID again), or null. */
  async config(imageId: string): Promise<Buffer | null> {
    const bytes = await readFile(this.configPath(imageId)).catch(() => null);
    if (!bytes || bytes.length > MAX_CONFIG_BYTES || sha256(bytes) !== imageId) return null;
    return bytes;
  }

  async layerSize(diffId: string): Promise<number | null> {
    const s = await stat(this.layerPath(diffId)).catch(() => null);
    return s?.isFile() ? s.size : null;
  }

  /** Up to `length` bytes of a cached layer from `offset`, with its size; null when it is not cached. */
  async readChunk(diffId: string, offset: number, length: number): Promise<{ size: number; data: Buffer } | null> {
    const path = this.layerPath(diffId);
    const fh = await open(path, 'r').catch(() => null);
    if (!fh) return null;
    try {
      const { size } = await fh.stat();
      const data = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
      if (data.length) await fh.read(data, 0, data.length, offset);
      if (offset === 0) await utimes(path, new Date(), new Date()).catch(() => undefined); // recently served: evicted last
      return { size, data };
    } finally {
      await fh.close();
    }
  }

  /** Stores config bytes whose hash the caller checked. */
  async putConfig(imageId: string, bytes: Buffer, work: string): Promise<void> {
    if (sha256(bytes) !== imageId) throw new PleacoError('digest_mismatch', `image config does not hash to ${imageId}`);
    const tmp = join(work, `config-${randomBytes(4).toString('hex')}`);
    await writeFile(tmp, bytes);
    await mkdir(join(this.root, 'configs'), { recursive: true });
    await rename(tmp, this.configPath(imageId));
  }

  /** Moves a verified layer file (in a work dir of this cache) into place. */
  async putLayer(diffId: string, file: string): Promise<void> {
    await mkdir(join(this.root, 'layers'), { recursive: true });
    await rename(file, this.layerPath(diffId));
  }

  /**
   * Splits a `docker save` tarball of `imageId` into the cache: every regular file is hashed as it is written to the
   * work dir, and kept when it hashes to the image ID (the config) or to one of `diffIds` (a layer). Format-agnostic:
   * the legacy layout (`<id>/layer.tar`, `<hex>.json`) and the OCI one (`blobs/sha256/<hex>`) both work, and no
   * name in the tarball is trusted or used as a path. Resolves with what it stored.
   */
  async ingestSave(tar: NodeJS.ReadableStream, imageId: string, diffIds: readonly string[], maxLayerBytes: number): Promise<{ config: boolean; layers: number }> {
    const wanted = new Set(diffIds);
    const work = await this.workDir();
    const src = tar as NodeJS.ReadableStream & { destroy?(err?: Error): void };
    const ex = extract();
    src.on('error', (err: Error) => ex.destroy(err));
    src.pipe(ex);
    let entries = 0;
    const got = { config: false, layers: 0 };
    try {
      for await (const entry of ex) {
        if (++entries > MAX_SAVE_ENTRIES) throw new PleacoError('payload_too_large', `the export of ${imageId} has more than ${MAX_SAVE_ENTRIES} entries`);
        if (entry.header.type !== 'file') {
          entry.resume();
          continue;
        }
        const file = join(work, `e${entries}`);
        const tap = digester(maxLayerBytes, `a file in the export of ${imageId}`);
        const written = pipeline(tap, createWriteStream(file));
        written.catch(() => undefined); // awaited below; a failure meanwhile ends the copy through the race
        for await (const chunk of entry) if (!tap.write(chunk)) await Promise.race([once(tap, 'drain'), written]);
        tap.end();
        await written;
        const d = tap.digest();
        if (d === imageId && tap.bytes <= MAX_CONFIG_BYTES) {
          await mkdir(join(this.root, 'configs'), { recursive: true });
          await rename(file, this.configPath(imageId));
          got.config = true;
        } else if (wanted.has(d)) {
          await this.putLayer(d, file);
          wanted.delete(d);
          got.layers++;
        } else await rm(file, { force: true });
      }
      return got;
    } finally {
      src.destroy?.(); // a refused export: the engine stops sending the rest
      ex.destroy();
      await this.release(work);
    }
  }

  /** Marks an image as received here (loaded from a peer): the node's collection removes it once nothing keeps it. */
  async markReceived(imageId: string): Promise<void> {
    await mkdir(join(this.root, 'received'), { recursive: true });
    await writeFile(join(this.root, 'received', hexOf(imageId)), '');
  }

  async unmarkReceived(imageId: string): Promise<void> {
    await rm(join(this.root, 'received', hexOf(imageId)), { force: true });
  }

  /** The images this node received, with when (epoch ms). */
  async received(): Promise<Array<{ imageId: string; at: number }>> {
    const out = [];
    for (const name of await readdir(join(this.root, 'received')).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue;
      const s = await stat(join(this.root, 'received', name)).catch(() => null);
      if (s) out.push({ imageId: `sha256:${name}`, at: s.mtimeMs });
    }
    return out;
  }

  /** Image IDs of the cached configs. */
  async images(): Promise<string[]> {
    const names = await readdir(join(this.root, 'configs')).catch(() => [] as string[]);
    return names.map((n) => HEX_FILE_RE.exec(n)).filter((m): m is RegExpExecArray => m?.[2] === 'json').map((m) => `sha256:${m[1]}`);
  }

  /**
   * Removes the configs of images `keep` says no to (the engine no longer holds them), then the layers no remaining
   * config lists, then, while the cache is over maxBytes, the least recently served layers of images not `pinned`
   * (being exported or served now); and work dirs of processes that are gone. Resolves with what it removed.
   */
  async collect(keep: (imageId: string) => Promise<boolean>, pinned: ReadonlySet<string> = new Set()): Promise<{ files: number; bytes: number }> {
    const out = { files: 0, bytes: 0 };
    const drop = async (path: string, size: number): Promise<void> => {
      await rm(path, { force: true });
      out.files++;
      out.bytes += size;
    };
    const referenced = new Set<string>();
    const held = new Set<string>();
    for (const id of await this.images()) {
      const bytes = await this.config(id);
      const layers = bytes ? diffIdsOf(bytes) : null;
      if (pinned.has(id) || (layers && (await keep(id)))) {
        for (const d of layers ?? []) (pinned.has(id) ? held : referenced).add(d);
        continue;
      }
      await drop(this.configPath(id), bytes?.length ?? 0);
    }
    const files = await this.files();
    const live = files.filter((f) => f.kind === 'json' || referenced.has(f.digest) || held.has(f.digest));
    for (const f of files) if (!live.includes(f)) await drop(f.path, f.size);
    let total = live.reduce((s, f) => s + f.size, 0);
    for (const f of live.filter((x) => x.kind === 'tar' && !held.has(x.digest)).sort((a, b) => a.mtimeMs - b.mtimeMs)) {
      if (total <= this.maxBytes) break;
      await drop(f.path, f.size);
      total -= f.size;
    }
    await this.sweepWorkDirs();
    return out;
  }

  private async files(): Promise<Array<{ kind: 'json' | 'tar'; digest: string; path: string; size: number; mtimeMs: number }>> {
    const out = [];
    for (const [dir, kind] of [['configs', 'json'], ['layers', 'tar']] as const) {
      for (const name of await readdir(join(this.root, dir)).catch(() => [] as string[])) {
        const m = HEX_FILE_RE.exec(name);
        if (!m || m[2] !== kind) continue;
        const path = join(this.root, dir, name);
        const s = await stat(path).catch(() => null);
        if (s?.isFile() && DIGEST_RE.test(`sha256:${m[1]}`)) out.push({ kind, digest: `sha256:${m[1]!}`, path, size: s.size, mtimeMs: s.mtimeMs });
      }
    }
    return out;
  }

  private async sweepWorkDirs(): Promise<void> {
    const tmp = join(this.root, 'tmp');
    for (const name of await readdir(tmp).catch(() => [] as string[])) {
      const p = join(tmp, name);
      if (!this.active.has(p) && !pidAlive(Number(name.split('-')[0]))) await rm(p, { recursive: true, force: true }); // ours untracked, or a dead process's
    }
  }
}
