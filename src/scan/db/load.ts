/**
 * Reads OSV advisories (https://ossf.github.io/osv-schema/) from a local source: a directory (walked recursively for
 * *.json records and *.zip exports), one .zip (the per-ecosystem OSV export: one JSON record per entry, read with
 * yauzl), or one .json file (a record or an array of records). Each record is checked minimally; a file or record that
 * is malformed is collected as `{ file, error }` and skipped, never thrown. Sizes are bounded: one entry over
 * `maxEntryBytes` or a source over `maxTotalBytes` stops the load with a `payload_too_large` PleacoError.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { PleacoError } from '../../errors.js';
import { isAdvisoryId, type OsvRecord } from '../../model/index.js';

export const MAX_ENTRY_BYTES = 16 * 1024 * 1024;
/**
 * Bound on the JSON of one load. Records are parsed and held in the agent's memory while the canonical file is
 * written (3-5× the JSON), so this stays well inside the heap: load per-ecosystem exports, not the all-in-one.
 */
export const MAX_TOTAL_BYTES = 512 * 1024 * 1024;
const ZIP_MAGIC = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

export interface LoadError {
  /** The file (relative to the source; `export.zip!entry.json` inside a zip; `file.json[3]` in an array). */
  file: string;
  error: string;
}

export interface LoadOptions {
  signal?: AbortSignal;
  onProgress?(line: string): void;
  maxEntryBytes?: number;
  maxTotalBytes?: number;
}

export interface LoadResult {
  records: OsvRecord[];
  errors: LoadError[];
  /** Bytes of advisory JSON read (uncompressed). */
  bytes: number;
}

const MiB = (n: number): string => `${Math.round((n / (1024 * 1024)) * 10) / 10} MiB`;

/** Returns why `x` is not a usable OSV record, or null when it is. */
export function validateRecord(x: unknown): string | null {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return 'not a JSON object';
  const r = x as Record<string, unknown>;
  if (!isAdvisoryId(r.id)) return `invalid id ${JSON.stringify(r.id)?.slice(0, 80)}`;
  if (r.affected === undefined) return null;
  if (!Array.isArray(r.affected)) return `${r.id}: affected is not an array`;
  for (const [i, a] of r.affected.entries()) {
    const where = `${r.id}: affected[${i}]`;
    if (typeof a !== 'object' || a === null || Array.isArray(a)) return `${where} is not an object`;
    const { package: pkg, ranges, versions } = a as Record<string, unknown>;
    if (pkg !== undefined) {
      const p = pkg as Record<string, unknown> | null;
      if (typeof p !== 'object' || p === null || typeof p.ecosystem !== 'string' || !p.ecosystem || typeof p.name !== 'string' || !p.name) {
        return `${where}.package needs ecosystem and name strings`;
      }
    }
    if (ranges !== undefined) {
      if (!Array.isArray(ranges)) return `${where}.ranges is not an array`;
      for (const [j, rg] of ranges.entries()) {
        const g = rg as Record<string, unknown> | null;
        if (typeof g !== 'object' || g === null || typeof g.type !== 'string' || !Array.isArray(g.events)) {
          return `${where}.ranges[${j}] needs a type and an events array`;
        }
        if (!g.events.every((e) => typeof e === 'object' && e !== null && !Array.isArray(e))) return `${where}.ranges[${j}].events holds a non-object`;
      }
    }
    if (versions !== undefined && !(Array.isArray(versions) && versions.every((v) => typeof v === 'string'))) {
      return `${where}.versions is not an array of strings`;
    }
  }
  return null;
}

class Loader {
  readonly records: OsvRecord[] = [];
  readonly errors: LoadError[] = [];
  bytes = 0;
  private readonly maxEntry: number;
  private readonly maxTotal: number;

  constructor(private readonly o: LoadOptions) {
    this.maxEntry = o.maxEntryBytes ?? MAX_ENTRY_BYTES;
    this.maxTotal = o.maxTotalBytes ?? MAX_TOTAL_BYTES;
  }

  check(): void {
    this.o.signal?.throwIfAborted();
  }

  say(line: string): void {
    this.o.onProgress?.(line);
  }

  /** Counts `n` more bytes against the limits. */
  account(file: string, entryBytes: number, n: number): void {
    if (entryBytes > this.maxEntry) {
      throw new PleacoError('payload_too_large', `advisory entry ${file} is larger than ${MiB(this.maxEntry)}`, { details: { file } });
    }
    this.bytes += n;
    if (this.bytes > this.maxTotal) {
      throw new PleacoError('payload_too_large', `advisory source is larger than ${MiB(this.maxTotal)} (stopped at ${file})`, { details: { file } });
    }
  }

  /** Parses one file's text: a record, or an array of records. */
  parse(file: string, text: string): void {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      this.errors.push({ file, error: `invalid JSON: ${(err as Error).message}` });
      return;
    }
    const list = Array.isArray(doc) ? doc : [doc];
    list.forEach((rec, i) => {
      const bad = validateRecord(rec);
      if (bad) this.errors.push({ file: Array.isArray(doc) ? `${file}[${i}]` : file, error: bad });
      else this.records.push(rec as OsvRecord);
    });
  }

  async jsonFile(path: string, name: string): Promise<void> {
    const size = (await stat(path)).size;
    this.account(name, size, 0);
    const buf = await readFile(path);
    this.account(name, buf.length, buf.length);
    this.parse(name, buf.toString('utf8'));
  }

  async zipFile(path: string, name: string): Promise<void> {
    this.check();
    this.say(`reading ${name}`);
    const before = this.records.length;
    const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
      yauzl.open(path, { lazyEntries: true, autoClose: true, validateEntrySizes: true }, (err, z) => (err ? reject(err) : resolve(z))),
    ).catch((err: Error) => {
      this.errors.push({ file: name, error: `unreadable zip: ${err.message}` });
      return null;
    });
    if (!zip) return;
    try {
      await new Promise<void>((resolve, reject) => {
        zip.on('error', (err: Error) => {
          this.errors.push({ file: name, error: `unreadable zip: ${err.message}` });
          resolve();
        });
        zip.on('end', () => resolve());
        zip.on('entry', (entry: yauzl.Entry) => {
          const file = `${name}!${entry.fileName}`;
          if (entry.fileName.endsWith('/') || !entry.fileName.toLowerCase().endsWith('.json')) return zip.readEntry();
          this.zipEntry(zip, entry, file).then(() => zip.readEntry(), (err) => {
            zip.close();
            reject(err);
          });
        });
        zip.readEntry();
      });
    } finally {
      if (zip.isOpen) zip.close();
    }
    this.say(`${name}: ${this.records.length - before} advisories`);
  }

  private async zipEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, file: string): Promise<void> {
    this.check();
    this.account(file, entry.uncompressedSize, 0);
    let stream: Readable;
    try {
      stream = await new Promise<Readable>((resolve, reject) => zip.openReadStream(entry, (err, s) => (err ? reject(err) : resolve(s))));
    } catch (err) {
      this.errors.push({ file, error: `unreadable entry: ${(err as Error).message}` });
      return;
    }
    const parts: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        size += chunk.length;
        this.account(file, size, chunk.length); // never trust the declared size alone
        parts.push(chunk);
      }
    } catch (err) {
      stream.destroy();
      if (err instanceof PleacoError) throw err;
      this.errors.push({ file, error: `unreadable entry: ${(err as Error).message}` });
      return;
    }
    this.parse(file, Buffer.concat(parts).toString('utf8'));
  }

  async dir(root: string): Promise<void> {
    const files: string[] = [];
    const walk = async (d: string): Promise<void> => {
      this.check();
      const entries = await readdir(d, { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of entries) {
        const p = join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile() && /\.(json|zip)$/i.test(e.name)) files.push(p); // symlinks are not followed
      }
    };
    await walk(root);
    this.say(`reading ${files.length} files under ${basename(root)}`);
    let n = 0;
    for (const p of files) {
      this.check();
      const name = relative(root, p);
      if (/\.zip$/i.test(p)) await this.zipFile(p, name);
      else await this.jsonFile(p, name);
      if (++n % 5000 === 0) this.say(`read ${n} of ${files.length} files`);
    }
  }
}

/** True when the file starts with a zip local-file header. */
export async function isZip(path: string): Promise<boolean> {
  const head = await new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    createReadStream(path, { start: 0, end: 3 }).on('data', (c) => parts.push(c as Buffer)).on('end', () => resolve(Buffer.concat(parts))).on('error', reject);
  });
  return head.equals(ZIP_MAGIC);
}

/** Loads every advisory under `path` (a directory, a .zip, or a .json file; a file is sniffed for the zip signature). */
export async function loadAdvisories(path: string, o: LoadOptions = {}): Promise<LoadResult> {
  const l = new Loader(o);
  l.check();
  const st = await stat(path).catch(() => null);
  if (!st) throw new PleacoError('not_found', `advisory source ${path} does not exist`);
  if (st.isDirectory()) await l.dir(path);
  else if (await isZip(path)) await l.zipFile(path, basename(path));
  else {
    l.say(`reading ${basename(path)}`);
    await l.jsonFile(path, basename(path));
  }
  l.check();
  l.say(`loaded ${l.records.length} advisories (${l.errors.length} malformed)`);
  return { records: l.records, errors: l.errors, bytes: l.bytes };
}
