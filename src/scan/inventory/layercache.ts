/**
 * Each layer's record (layer.ts) on disk, by diffID, so that an image sharing layers with one scanned before reads only
 * its new layers: `<root>/<code version>/<diffID hex>.json.gz`. The code version is a hash of the inventory's own code
 * (inventoryCodeVersion): a scanner that reads layers differently never uses a record an older one wrote, and the
 * directories of other versions are removed by `collect`.
 * Never trusted beyond its digest: a record is written only from bytes that hashed to its diffID (inventory.ts), and is
 * used only when its file names the same diffID and version inside and inflates and parses whole (gzip's CRC); anything
 * else is a miss and is removed. Files are written to a temporary name and renamed into place. Bounded by `maxBytes`
 * (least recently used first; a hit refreshes its time), a record ≤ 256 MiB.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzip as gunzipCb, gzip as gzipCb } from 'node:zlib';
import type { Config } from '../../config/index.js';
import { PleacoError } from '../../errors.js';
import { DIGEST_RE } from '../../model/index.js';
import type { LayerRecord } from './layer.js';
import type { FileKind } from './parsers.js';

const gzip = promisify(gzipCb);
const gunzip = promisify(gunzipCb);

const FORMAT = 1;
const MAX_RECORD_BYTES = 256 * 1024 * 1024;
const VERSION_RE = /^[0-9a-f]{16}$/;
const FILE_RE = /^[0-9a-f]{64}\.json\.gz$/;

let codeVersion: Promise<string> | undefined;

/** Where a node keeps its layer records (the builder writes them; nothing else reads them). */
export function scanLayersRoot(config: Config): string {
  return join(config.stateDir, 'scan-layers');
}

/**
 * A hash of the compiled inventory code (this folder's .js files): what decides what a layer record holds. Read once,
 * on first use (no I/O at import).
 */
export function inventoryCodeVersion(): Promise<string> {
  codeVersion ??= (async () => {
    const dir = dirname(fileURLToPath(import.meta.url));
    const h = createHash('sha256').update(`format ${FORMAT}\n`);
    for (const name of (await readdir(dir)).filter((n) => n.endsWith('.js')).sort()) {
      h.update(`${name}\n`).update(await readFile(join(dir, name)));
    }
    return h.digest('hex').slice(0, 16);
  })();
  return codeVersion;
}

interface StoredFile {
  kind: FileKind;
  path: string;
  body: string;
}

interface Stored {
  format: number;
  version: string;
  diffId: string;
  record: Omit<LayerRecord, 'files'> & { files: StoredFile[] };
}

function hexOf(diffId: string): string {
  if (!DIGEST_RE.test(diffId)) throw new PleacoError('bad_request', `invalid diffID ${JSON.stringify(String(diffId).slice(0, 80))}`);
  return diffId.slice(7);
}

const LISTS = ['files', 'go', 'links', 'hardlinks', 'dirs', 'others', 'deleted', 'opaque', 'notes'] as const;

function wellFormed(r: Stored['record'] | undefined): boolean {
  return Boolean(r && typeof r === 'object' && LISTS.every((k) => Array.isArray(r[k])) && r.files.every((f) => typeof f.body === 'string' && typeof f.path === 'string'));
}

/** A stored record, when it inflates and parses whole and names this diffID and version; else null. */
async function decode(gz: Buffer, diffId: string, version: string): Promise<LayerRecord | null> {
  if (gz.length > MAX_RECORD_BYTES) return null;
  try {
    const s = JSON.parse((await gunzip(gz, { maxOutputLength: MAX_RECORD_BYTES })).toString('utf8')) as Stored;
    if (s.format !== FORMAT || s.version !== version || s.diffId !== diffId || !wellFormed(s.record)) return null;
    return { ...s.record, files: s.record.files.map((f) => ({ kind: f.kind, path: f.path, body: Buffer.from(f.body, 'base64') })) };
  } catch {
    return null; // cut short, corrupt, not JSON
  }
}

export class LayerInventoryCache {
  constructor(
    readonly root: string,
    readonly maxBytes: number,
    /** Tests set it; otherwise the inventory code's hash. */
    private readonly fixedVersion?: string,
  ) {}

  private async dir(): Promise<string> {
    const v = this.fixedVersion ?? (await inventoryCodeVersion());
    if (!VERSION_RE.test(v)) throw new PleacoError('internal', 'invalid inventory cache version');
    return join(this.root, v);
  }

  /** The record of a layer, or null when there is none this code can use. */
  async get(diffId: string): Promise<LayerRecord | null> {
    const dir = await this.dir();
    const path = join(dir, `${hexOf(diffId)}.json.gz`);
    const gz = await readFile(path).catch(() => null);
    if (!gz) return null;
    const record = await decode(gz, diffId, dir.slice(dir.length - 16));
    if (!record) {
      await rm(path, { force: true });
      return null;
    }
    await utimes(path, new Date(), new Date()).catch(() => undefined); // used: evicted last
    return record;
  }

  /** Stores a record made from bytes that hashed to `diffId`; false when it is over the bound (not kept). */
  async put(diffId: string, record: LayerRecord): Promise<boolean> {
    const dir = await this.dir();
    const hex = hexOf(diffId);
    const stored: Stored = { format: FORMAT, version: dir.slice(dir.length - 16), diffId, record: { ...record, files: record.files.map((f) => ({ kind: f.kind, path: f.path, body: f.body.toString('base64') })) } };
    const gz = await gzip(JSON.stringify(stored), { level: 1 });
    if (gz.length > MAX_RECORD_BYTES) return false;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      await writeFile(tmp, gz, { mode: 0o600 });
      await rename(tmp, join(dir, `${hex}.json.gz`));
    } finally {
      await rm(tmp, { force: true });
    }
    return true;
  }

  /**
   * Removes the records of other code versions and leftovers of interrupted writes, then the least recently used
   * records while the rest is over maxBytes. Resolves with what it removed.
   */
  async collect(): Promise<{ files: number; bytes: number }> {
    const dir = await this.dir();
    const out = { files: 0, bytes: 0 };
    for (const name of await readdir(this.root).catch(() => [] as string[])) {
      if (join(this.root, name) !== dir && VERSION_RE.test(name)) await rm(join(this.root, name), { recursive: true, force: true });
    }
    const files: Array<{ path: string; size: number; at: number }> = [];
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const path = join(dir, name);
      const s = await stat(path).catch(() => null);
      if (!s) continue;
      if (FILE_RE.test(name)) files.push({ path, size: s.size, at: s.mtimeMs });
      else if (name.startsWith('.tmp-') && Date.now() - s.mtimeMs > 3600_000) await rm(path, { force: true });
    }
    let total = files.reduce((n, f) => n + f.size, 0);
    for (const f of files.sort((a, b) => a.at - b.at)) {
      if (total <= this.maxBytes) break;
      await rm(f.path, { force: true });
      total -= f.size;
      out.files++;
      out.bytes += f.size;
    }
    return out;
  }
}
