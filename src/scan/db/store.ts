/**
 * The advisory store: imported advisories kept in one canonical form, content-addressed.
 *   <root>/<hex>/advisories.jsonl.gz   records sorted by id, one JSON per line, gzip with fixed settings, so the
 *                                      same advisories always give the same bytes; <hex> = sha256 of those bytes
 *   <root>/<hex>/meta.json             DbMeta (counts, the first 100 load errors, redacted source, time)
 *   <root>/current                     the hex of the database in use
 * Every write goes to a temp dir (`.tmp-<pid>-…`), is fsynced, then renamed into place; `current` is replaced the
 * same way, last, so a crash or an abort at any point leaves the previous database in use and intact.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { constants as Z, createGzip } from 'node:zlib';
import { PleacoError } from '../../errors.js';
import type { OsvRecord } from '../../model/index.js';
import { AdvisoryDb, readJsonl } from './advisorydb.js';
import { pidAlive } from '../../runtime/index.js';
import { fsyncPath, hasher, writeDurable } from './durable.js';
import { redactSource } from '../../model/index.js';
import { download } from './fetch.js';
import { MAX_TOTAL_BYTES, loadAdvisories, type LoadError } from './load.js';

export interface DbMeta {
  digest: string; // sha256:<hex of the .gz bytes>
  records: number;
  byEcosystem: Record<string, number>;
  /** The first 100 malformed files/records; `errorCount` counts them all. */
  errors: LoadError[];
  errorCount: number;
  source: string;
  loadedAt: string;
}

export interface ImportOptions {
  signal?: AbortSignal;
  onProgress?(line: string): void;
  /** Limit for a download and for the advisory JSON read (default MAX_TOTAL_BYTES, 512 MiB). */
  maxBytes?: number;
}

export const DB_FILE = 'advisories.jsonl.gz';
const GZIP = { level: 6, memLevel: 8, windowBits: 15, strategy: Z.Z_DEFAULT_STRATEGY } as const;
const HEX_RE = /^[0-9a-f]{64}$/;
const MAX_ERRORS = 100;

/** `sha256:<hex>` (or bare hex) → hex; anything else is refused, so a digest can never name another path. */
export function digestHex(digest: string): string {
  const hex = digest.startsWith('sha256:') ? digest.slice(7) : digest;
  if (!HEX_RE.test(hex)) throw new PleacoError('bad_request', `invalid advisory database digest ${JSON.stringify(digest.slice(0, 80))}`);
  return hex;
}

/** One record per id (a repeated id keeps the newest `modified`, then the larger text), sorted by id. */
function canonical(records: OsvRecord[]): { lines: string[]; records: OsvRecord[] } {
  const best = new Map<string, { rec: OsvRecord; line: string }>();
  for (const rec of records) {
    const line = JSON.stringify(rec);
    const had = best.get(rec.id);
    const newer = !had || (rec.modified ?? '') > (had.rec.modified ?? '') || ((rec.modified ?? '') === (had.rec.modified ?? '') && line > had.line);
    if (newer) best.set(rec.id, { rec, line });
  }
  const ids = [...best.keys()].sort();
  return { lines: ids.map((id) => best.get(id)!.line), records: ids.map((id) => best.get(id)!.rec) };
}

function countEcosystems(records: OsvRecord[]): Record<string, number> {
  const n = new Map<string, number>();
  for (const r of records) {
    for (const eco of new Set((r.affected ?? []).flatMap((a) => (a.package ? [a.package.ecosystem] : [])))) n.set(eco, (n.get(eco) ?? 0) + 1);
  }
  return Object.fromEntries([...n.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
}

function* chunks(lines: string[]): Generator<Buffer> {
  let batch: string[] = [];
  let size = 0;
  for (const line of lines) {
    batch.push(line, '\n');
    size += line.length + 1;
    if (size >= 256 * 1024) {
      yield Buffer.from(batch.join(''));
      batch = [];
      size = 0;
    }
  }
  if (batch.length) yield Buffer.from(batch.join(''));
}

const cancelled = (err: unknown, signal?: AbortSignal): unknown =>
  signal?.aborted && !(err instanceof PleacoError) ? new PleacoError('interrupted', 'advisory import was cancelled; the database in use is unchanged', { cause: err }) : err;

export class AdvisoryStore {
  private cached: AdvisoryDb | null = null;
  private loading: { digest: string; db: Promise<AdvisoryDb> } | null = null;
  private readonly active = new Set<string>();

  constructor(readonly root: string) {}

  blobPath(digest: string): string {
    return join(this.root, digestHex(digest), DB_FILE);
  }

  /** Imports advisories from a directory, .zip or .json path, a file:// URL or an http(s) URL, and makes them current. */
  async importFrom(source: string, o: ImportOptions = {}): Promise<DbMeta> {
    const shown = redactSource(source);
    return this.inTemp(o.signal, async (tmp) => {
      // A URL the parsers reject (port out of range, a file:// host, bad escapes) is the caller's mistake: a 400.
      const asUrl = <T>(f: () => T): T => {
        try {
          return f();
        } catch (err) {
          if (err instanceof TypeError || err instanceof URIError) throw new PleacoError('bad_request', `invalid advisory source ${shown}: ${err.message}`);
          throw err;
        }
      };
      let local: string;
      if (/^https?:\/\//i.test(source)) {
        const name = (asUrl(() => new URL(source)).pathname.split('/').pop() ?? '').replace(/[^A-Za-z0-9._-]/g, '') || 'download';
        local = join(tmp, 'dl', name);
        await mkdir(join(tmp, 'dl'));
        await download(source, local, { signal: o.signal, onProgress: o.onProgress, maxBytes: o.maxBytes ?? MAX_TOTAL_BYTES });
      } else if (/^file:\/\//i.test(source)) local = asUrl(() => fileURLToPath(source.replace(/[?#].*$/, '')));
      else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) throw new PleacoError('bad_request', `unsupported advisory source ${shown}: use a path, file://, http:// or https://`);
      else local = resolve(source);

      const loaded = await loadAdvisories(local, { signal: o.signal, onProgress: o.onProgress, maxTotalBytes: o.maxBytes });
      if (loaded.records.length === 0) {
        const first = loaded.errors[0];
        throw new PleacoError('bad_request', `no advisories could be read from ${shown}${first ? ` (${first.file}: ${first.error})` : ''}`, {
          details: { errors: loaded.errors.slice(0, MAX_ERRORS) },
        });
      }
      const { lines, records } = canonical(loaded.records);
      o.onProgress?.(`writing ${lines.length} advisories`);
      const gz = join(tmp, 'db', DB_FILE);
      const tap = hasher();
      await pipeline(Readable.from(chunks(lines)), createGzip(GZIP), tap, createWriteStream(gz), { signal: o.signal });
      const hex = tap.hex();
      const meta: DbMeta = {
        digest: `sha256:${hex}`,
        records: lines.length,
        byEcosystem: countEcosystems(records),
        errors: loaded.errors.slice(0, MAX_ERRORS),
        errorCount: loaded.errors.length,
        source: /^[a-z][a-z0-9+.-]*:\/\//i.test(source) ? shown : local,
        loadedAt: new Date().toISOString(),
      };
      return this.install(tmp, meta, o);
    });
  }

  /** Installs a database replicated from a peer: the bytes must hash to `digest`, else nothing is installed. */
  async installBlob(digest: string, data: NodeJS.ReadableStream, o: ImportOptions = {}): Promise<DbMeta> {
    const want = digestHex(digest);
    return this.inTemp(o.signal, async (tmp) => {
      const gz = join(tmp, 'db', DB_FILE);
      const tap = hasher();
      let got = 0;
      const max = o.maxBytes ?? MAX_TOTAL_BYTES;
      const meter = new Transform({
        transform: (c: Buffer, _e, cb) => ((got += c.length) > max ? cb(new PleacoError('payload_too_large', `advisory database blob is larger than ${max} bytes`)) : cb(null, c)),
      });
      await pipeline(data as Readable, meter, tap, createWriteStream(gz), { signal: o.signal });
      const hex = tap.hex();
      if (hex !== want) {
        throw new PleacoError('digest_mismatch', `advisory database digest mismatch: expected sha256:${want}, the bytes hash to sha256:${hex}`, {
          details: { reason: 'digest_mismatch', expected: `sha256:${want}`, actual: `sha256:${hex}` },
        });
      }
      const records = await readJsonl(gz, o.signal);
      const meta: DbMeta = { digest: `sha256:${hex}`, records: records.length, byEcosystem: countEcosystems(records), errors: [], errorCount: 0, source: `replica sha256:${hex}`, loadedAt: new Date().toISOString() };
      return this.install(tmp, meta, o);
    });
  }

  /** The database in use, or null before the first import. */
  async current(): Promise<DbMeta | null> {
    const hex = (await readFile(join(this.root, 'current'), 'utf8').catch(() => '')).trim();
    if (!HEX_RE.test(hex)) return null;
    const text = await readFile(join(this.root, hex, 'meta.json'), 'utf8').catch(() => null);
    return text ? (JSON.parse(text) as DbMeta) : null;
  }

  /** Opens (and indexes) a stored database, the current one by default; the last one opened is kept. */
  async open(digest?: string): Promise<AdvisoryDb> {
    const d = digest ? `sha256:${digestHex(digest)}` : (await this.current())?.digest;
    if (!d) throw new PleacoError('not_found', 'no advisory database has been imported yet');
    if (this.cached?.digest === d) return this.cached;
    if (this.loading?.digest === d) return this.loading.db;
    const path = this.blobPath(d);
    if (!(await stat(path).catch(() => null))) throw new PleacoError('not_found', `advisory database ${d} is not stored here`);
    const db = AdvisoryDb.read(d, path);
    this.loading = { digest: d, db };
    try {
      this.cached = await db;
      return this.cached;
    } finally {
      if (this.loading?.db === db) this.loading = null;
    }
  }

  /** Removes stored databases other than `keep` and the current one, and temp dirs left by crashed imports. */
  async prune(keep: string[]): Promise<string[]> {
    const keepHex = new Set(keep.map(digestHex));
    const cur = await this.current();
    if (cur) keepHex.add(digestHex(cur.digest));
    const removed: string[] = [];
    for (const name of await readdir(this.root).catch(() => [] as string[])) {
      const p = join(this.root, name);
      if (HEX_RE.test(name) && !keepHex.has(name)) {
        await rm(p, { recursive: true, force: true });
        removed.push(`sha256:${name}`);
        if (this.cached?.digest === `sha256:${name}`) this.cached = null;
      } else if (name.startsWith('.tmp-') && !this.active.has(p) && !pidAlive(Number(name.split('-')[1]))) {
        await rm(p, { recursive: true, force: true });
      }
    }
    return removed;
  }

  /** Runs `fn` with a fresh temp dir (holding an empty `db/`) under the root, removed afterwards whatever happens. */
  private async inTemp<T>(signal: AbortSignal | undefined, fn: (tmp: string) => Promise<T>): Promise<T> {
    await mkdir(this.root, { recursive: true });
    const tmp = join(this.root, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    this.active.add(tmp);
    try {
      signal?.throwIfAborted();
      await mkdir(join(tmp, 'db'), { recursive: true });
      return await fn(tmp);
    } catch (err) {
      throw cancelled(err, signal);
    } finally {
      await rm(tmp, { recursive: true, force: true });
      this.active.delete(tmp);
    }
  }

  /** Moves `tmp/db` to `<root>/<hex>` (fsynced) and then points `current` at it. */
  private async install(tmp: string, meta: DbMeta, o: ImportOptions): Promise<DbMeta> {
    const hex = digestHex(meta.digest);
    const staged = join(tmp, 'db');
    await writeFile(join(staged, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
    await fsyncPath(join(staged, DB_FILE));
    await fsyncPath(join(staged, 'meta.json'));
    await fsyncPath(staged);
    o.signal?.throwIfAborted();
    const final = join(this.root, hex);
    const exists = await stat(join(final, DB_FILE)).catch(() => null);
    if (exists) await writeDurable(join(final, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
    else {
      await rename(staged, final).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err; // a concurrent import of the same content won
      });
      await fsyncPath(this.root);
    }
    o.signal?.throwIfAborted();
    await writeDurable(join(this.root, 'current'), `${hex}\n`);
    o.onProgress?.(`advisory database ${meta.digest} in use (${meta.records} advisories)`);
    return meta;
  }
}

