/**
 * A push tar reader for layers: bytes in, one call per entry out, and no stream per entry (tar-stream makes a Readable
 * for each entry; over a layer of 26,000 entries that cost more than reading the files). It reads what tar-stream
 * reads — ustar (with its name prefix), GNU (long names `L` and `K`), PAX headers (`x`, over the global `g` ones, as
 * tar-stream merges them), base-256 sizes, old directories named with a trailing slash — and decodes names the same
 * way, so the per-layer inventory and the merged one (tar-stream over an export) see the same paths.
 * Bounds: `maxEntries` headers per tar, long names and PAX headers ≤ 1 MiB each; a header with a wrong checksum or of
 * an unknown format ends the walk (`bad_request`, like a truncated tar).
 */
import { PleacoError } from '../../errors.js';

export type TarType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo' | 'contiguous-file';

export interface TarHeader {
  name: string;
  /** null: a type flag no tar reader here knows (its body is skipped). */
  type: TarType | null;
  mode: number;
  size: number;
  linkname: string | null;
}

/** Where an entry's body goes: each chunk in order (valid during the call only), then end. */
export interface TarBody {
  data(chunk: Buffer): void;
  end(): void;
}

const MAX_LONG_HEADER = 1024 * 1024;
const TYPES: Record<number, TarType> = { 0: 'file', 1: 'link', 2: 'symlink', 3: 'character-device', 4: 'block-device', 5: 'directory', 6: 'fifo', 7: 'contiguous-file' };
const LONG = { 27: 'gnu-long-link-path', 28: 'gnu-long-path', 30: 'gnu-long-path', 55: 'pax-global-header', 72: 'pax-header' } as const;
type LongKind = (typeof LONG)[keyof typeof LONG];
const USTAR = Buffer.from('ustar\x0000', 'latin1');
const GNU = Buffer.from('ustar  \x00', 'latin1');

const bad = (why: string): PleacoError => new PleacoError('bad_request', `not a valid layer tar: ${why}`);

function str(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

/** An octal field (leading spaces and NULs skipped, up to a space or NUL), or base-256 when its first byte has the high bit. */
function num(b: Buffer, off: number, len: number): number {
  if ((b[off]! & 0x80) !== 0) {
    if (b[off] !== 0x80) return -1; // negative or unknown: refused by the caller
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + b[i]!;
    return v;
  }
  let i = off;
  const end = off + len;
  while (i < end && b[i] === 0x20) i++;
  let stop = b.indexOf(0x20, i);
  if (stop < 0 || stop > end) stop = end;
  while (i < stop && b[i] === 0) i++;
  return i === stop ? 0 : parseInt(b.toString('latin1', i, stop), 8);
}

function checksum(b: Buffer): number {
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += b[i]!;
  for (let i = 156; i < 512; i++) sum += b[i]!;
  return sum;
}

/** PAX records `LEN key=value\n`, as tar-stream reads them (it stops at the first record it cannot read). */
function decodePax(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  while (buf.length) {
    const sp = buf.indexOf(0x20);
    const len = parseInt(buf.toString('utf8', 0, sp < 0 ? buf.length : sp), 10);
    if (!len || sp < 0) return out;
    const rec = buf.toString('utf8', sp + 1, len - 1);
    const eq = rec.indexOf('=');
    if (eq < 0) return out;
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    buf = buf.subarray(len);
  }
  return out;
}

export class TarWalker {
  /** Headers read (entries and long headers). */
  headers = 0;
  private readonly head = Buffer.alloc(512);
  private headLen = 0;
  /** Body bytes still to come, then padding to skip. */
  private missing = 0;
  private pad = 0;
  private body: TarBody | null = null;
  private long: { kind: LongKind; parts: Buffer[] } | null = null;
  private gnuPath: string | null = null;
  private gnuLink: string | null = null;
  private pax: Record<string, string> | null = null;
  private paxGlobal: Record<string, string> | null = null;

  constructor(
    private readonly onEntry: (h: TarHeader) => TarBody | null,
    private readonly maxEntries: number,
  ) {}

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.missing > 0) {
        const n = Math.min(this.missing, chunk.length - off);
        const part = chunk.subarray(off, off + n);
        if (this.body) this.body.data(part);
        else if (this.long) this.long.parts.push(Buffer.from(part));
        off += n;
        this.missing -= n;
        if (this.missing === 0) this.bodyDone();
      } else if (this.pad > 0) {
        const n = Math.min(this.pad, chunk.length - off);
        off += n;
        this.pad -= n;
      } else {
        const n = Math.min(512 - this.headLen, chunk.length - off);
        chunk.copy(this.head, this.headLen, off, off + n);
        this.headLen += n;
        off += n;
        if (this.headLen === 512) {
          this.headLen = 0;
          this.header();
        }
      }
    }
  }

  /** The tar ended: an entry cut short, or a header cut short that is not all zeros, is an error. */
  end(): void {
    if (this.missing > 0 || this.pad > 0 || this.long || (this.headLen > 0 && this.head.subarray(0, this.headLen).some((b) => b !== 0))) throw bad('it ends inside an entry');
  }

  private header(): void {
    const b = this.head;
    const sum = checksum(b);
    if (sum === 8 * 32) return; // an all-zero block: the end marker (tar-stream reads on past it too)
    if (sum !== num(b, 148, 8)) throw bad('a header checksum does not match');
    if (++this.headers > this.maxEntries) throw new PleacoError('payload_too_large', `a layer has more than ${this.maxEntries} entries`);
    const flag = b[156] === 0 ? 0 : b[156]! - 0x30;
    let name = str(b, 0, 100);
    if (b.compare(USTAR, 0, 8, 257, 265) === 0) {
      if (b[345]) name = `${str(b, 345, 155)}/${name}`;
    } else if (b.compare(GNU, 0, 8, 257, 265) !== 0) {
      throw bad('a header of an unknown format');
    }
    const size = num(b, 124, 12);
    const long = LONG[flag as keyof typeof LONG] as LongKind | undefined;
    if (long) {
      if (!(size >= 0) || size > MAX_LONG_HEADER) throw bad(`a ${long} of ${size} bytes`);
      this.long = { kind: long, parts: [] };
      return this.expect(size);
    }
    const h: TarHeader = { name, type: TYPES[flag] ?? null, mode: num(b, 100, 8), size, linkname: b[157] === 0 ? null : str(b, 157, 100) };
    if (h.type === 'file' && name.endsWith('/')) h.type = 'directory';
    this.applyLong(h);
    if (!(h.size >= 0) || !Number.isSafeInteger(h.size)) throw bad(`${JSON.stringify(h.name.slice(0, 200))} has no valid size`);
    this.body = this.onEntry(h);
    this.expect(h.type === 'directory' ? 0 : h.size);
  }

  private applyLong(h: TarHeader): void {
    if (this.gnuPath !== null) h.name = this.gnuPath;
    if (this.gnuLink !== null) h.linkname = this.gnuLink;
    if (this.pax) {
      if (this.pax.path) h.name = this.pax.path;
      if (this.pax.linkpath) h.linkname = this.pax.linkpath;
      if (this.pax.size) h.size = parseInt(this.pax.size, 10);
    }
    this.gnuPath = this.gnuLink = this.pax = null;
  }

  private expect(size: number): void {
    this.missing = size;
    this.pad = (512 - (size % 512)) % 512;
    if (size === 0) this.bodyDone();
  }

  private bodyDone(): void {
    if (this.body) {
      const body = this.body;
      this.body = null;
      body.end();
      return;
    }
    const long = this.long;
    if (!long) return;
    this.long = null;
    const buf = Buffer.concat(long.parts);
    if (long.kind === 'gnu-long-path') this.gnuPath = str(buf, 0, buf.length);
    else if (long.kind === 'gnu-long-link-path') this.gnuLink = str(buf, 0, buf.length);
    else if (long.kind === 'pax-global-header') this.paxGlobal = decodePax(buf);
    else this.pax = { ...(this.paxGlobal ?? {}), ...decodePax(buf) };
  }
}
