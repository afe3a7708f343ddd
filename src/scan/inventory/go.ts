/**
 * Go modules from the build info the Go linker embeds in every binary: a 32-byte header that starts with
 * the magic "\xff Go buildinf:" (16-byte aligned; byte 14 the pointer size, byte 15 flags, 0x2 = Go >= 1.18
 * inline strings), then two uvarint-length-prefixed strings: the Go version and the module info, whose lines
 * are tab separated: `path` (main package), `mod` (main module), `dep` (a dependency), `=>` (replaces the line
 * before it), `build` (settings). Older binaries (pointer format) are not read.
 *
 * The scanner is streaming and cheap: from the ELF program headers at the start of the file it knows the
 * data segment, the only part it keeps (at most 8 MiB); a 60 MB binary is never held in memory.
 *
 * Packages: the main module (when built as a module), each dependency (a replacement's path and version
 * when it has one; a replacement by a local directory has no version and is skipped) and `stdlib` at the
 * Go version, the name OSV's Go ecosystem files standard library advisories under. Versions keep Go's
 * form, with a leading v (v1.2.3; stdlib v1.19.8), as Go's purls do: a matcher strips it for OSV.
 */
import { goToSemver } from '../versions/index.js';
import type { Package } from '../../model/index.js';
import { purl } from './purl.js';

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const HEADER = 32;
/** Longest module info read (big binaries have ~100 KB). */
const MAX_INFO = 4 * 1024 * 1024;
/** Bytes of the data segment kept at most (Go's own reader looks at its first 64 KiB). */
const MAX_WINDOW = 8 * 1024 * 1024;
/** Where the ELF program headers must end. */
const MAX_HEAD = 64 * 1024;

export interface GoBuildInfo {
  goVersion: string;
  modInfo: string;
}

/** Reads a uvarint at `off`: [value, next offset], or undefined when the buffer ends first. */
function uvarint(b: Buffer, off: number): [number, number] | undefined {
  let x = 0;
  let mul = 1;
  for (let i = off; i < b.length && i < off + 10; i++) {
    const c = b[i]!;
    x += (c & 0x7f) * mul;
    if (c < 0x80) return [x, i + 1];
    mul *= 128;
  }
  return undefined;
}

/** Parses bytes that start with the magic: the info, 'more' when they end too soon, 'invalid' when they are not build info. */
function parseAt(b: Buffer): GoBuildInfo | 'more' | 'invalid' {
  if (b.length < HEADER) return 'more';
  const ptrSize = b[14];
  const flags = b[15]!;
  if ((ptrSize !== 4 && ptrSize !== 8) || (flags & 0x2) === 0) return 'invalid';
  const strings: string[] = [];
  let off = HEADER;
  for (let i = 0; i < 2; i++) {
    const n = uvarint(b, off);
    if (!n) return 'more';
    const [len, start] = n;
    if (len > MAX_INFO) return 'invalid';
    if (start + len > b.length) return 'more';
    strings.push(b.toString('utf8', start, start + len));
    off = start + len;
  }
  const [goVersion, mod] = strings as [string, string];
  if (!/^(?:go\d|devel )/.test(goVersion)) return 'invalid';
  // the module info is wrapped in 16-byte sentinels
  const modInfo = mod.length >= 33 && mod[mod.length - 17] === '\n' ? mod.slice(16, -16) : mod;
  return { goVersion, modInfo };
}

/**
 * The file range where the build info lives, from the ELF program headers at the start of the file: the
 * first loadable segment that is writable and not executable (where Go's own reader looks when there are
 * no section headers) without its RELRO part (the next such segment when it is all RELRO), capped at
 * MAX_WINDOW. 'more' when `head` does not hold the program headers yet; undefined when there is none.
 */
export function elfDataRange(head: Buffer): { start: number; end: number } | 'more' | undefined {
  if (head.length < 64) return 'more';
  if (!isElf(head)) return undefined;
  const is64 = head[4] === 2;
  const le = head[5] !== 2;
  const u16 = (o: number): number => (le ? head.readUInt16LE(o) : head.readUInt16BE(o));
  const u32 = (o: number): number => (le ? head.readUInt32LE(o) : head.readUInt32BE(o));
  const u64 = (o: number): number => Number(le ? head.readBigUInt64LE(o) : head.readBigUInt64BE(o));
  const phoff = is64 ? u64(0x20) : u32(0x1c);
  const phentsize = u16(is64 ? 0x36 : 0x2a);
  const phnum = u16(is64 ? 0x38 : 0x2c);
  const need = phoff + phentsize * phnum;
  if (phentsize < (is64 ? 56 : 32) || need > MAX_HEAD) return undefined;
  if (head.length < need) return 'more';
  const ph = (i: number): { type: number; flags: number; offset: number; size: number } => {
    const o = phoff + i * phentsize;
    return is64
      ? { type: u32(o), flags: u32(o + 4), offset: u64(o + 8), size: u64(o + 32) }
      : { type: u32(o), flags: u32(o + 24), offset: u32(o + 4), size: u32(o + 16) };
  };
  for (let i = 0; i < phnum; i++) {
    const load = ph(i);
    if (load.type !== 1 || (load.flags & 0x3) !== 0x2) continue; // PT_LOAD, PF_W without PF_X
    let start = load.offset;
    const end = load.offset + load.size;
    // a PIE's data segment starts with relocated read-only data (GNU_RELRO, often MBs): the build info follows it
    for (let j = 0; j < phnum; j++) {
      const relro = ph(j);
      if (relro.type === 0x6474e552 && relro.offset >= start && relro.offset < end) start = Math.max(start, relro.offset + relro.size);
    }
    if (start < end) return { start, end: Math.min(end, start + MAX_WINDOW) }; // else all RELRO: the next one
  }
  return undefined;
}

/** The build info in `window` (file bytes from offset `base`): the first 16-byte aligned magic that parses. */
function findIn(window: Buffer, base: number): GoBuildInfo | undefined {
  for (let i = window.indexOf(MAGIC); i >= 0; i = window.indexOf(MAGIC, i + 1)) {
    if ((base + i) % 16 !== 0) continue;
    const res = parseAt(window.subarray(i));
    if (typeof res === 'object') return res;
  }
  return undefined;
}

/**
 * Finds Go build info in a file fed chunk by chunk from its first byte (push): reads the ELF program
 * headers, keeps only the bytes of the data segment window, and ignores the rest of the file.
 */
export class GoBuildInfoScanner {
  private pos = 0; // file offset of the next pushed byte
  private head: Buffer | null = Buffer.alloc(0);
  private range: { start: number; end: number } | undefined;
  private parts: Buffer[] = [];
  private info: GoBuildInfo | undefined;
  /** True once the answer is known: no more bytes need to be pushed. */
  done = false;

  push(chunk: Buffer): void {
    if (this.done) return;
    const at = this.pos;
    this.pos += chunk.length;
    if (this.head) {
      this.head = Buffer.concat([this.head, chunk]);
      const r = elfDataRange(this.head);
      if (r === 'more') return;
      const head = this.head;
      this.head = null;
      if (!r || r.end <= r.start) return this.finish();
      this.range = r;
      return this.take(head, 0);
    }
    this.take(chunk, at);
  }

  /** Keeps the part of `chunk` (at file offset `at`) inside the range; parses once the range is complete. */
  private take(chunk: Buffer, at: number): void {
    const { start, end } = this.range!;
    const from = Math.max(start, at);
    const to = Math.min(end, at + chunk.length);
    if (to > from) this.parts.push(Buffer.from(chunk.subarray(from - at, to - at)));
    if (at + chunk.length >= end) this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.range && this.parts.length) this.info = findIn(Buffer.concat(this.parts), this.range.start);
    this.parts = [];
  }

  /** The build info, once the whole file (or the whole range) was pushed. */
  result(): GoBuildInfo | undefined {
    if (!this.done && this.range) this.finish(); // a file shorter than its headers say: use what there is
    return this.info;
  }
}

/** Build info of a whole file in memory (tests, small files). */
export function readGoBuildInfo(file: Buffer): GoBuildInfo | undefined {
  const s = new GoBuildInfoScanner();
  s.push(file);
  return s.result();
}

function goPackage(path: string, version: string, location: string): Package {
  const slash = path.lastIndexOf('/');
  const ns = slash > 0 ? path.slice(0, slash) : undefined;
  return { type: 'golang', ecosystem: 'Go', name: path, version, purl: purl('golang', ns, path.slice(slash + 1), version), locations: [location] };
}

/** The packages of one binary's build info; `location` is the binary's path. */
export function goPackages(info: GoBuildInfo, location: string): Package[] {
  const mods: Array<{ path: string; version: string }> = [];
  for (const line of info.modInfo.split('\n')) {
    const [kind, path, version] = line.split('\t');
    if ((kind === 'mod' || kind === 'dep') && path) mods.push({ path, version: version ?? '' });
    else if (kind === '=>' && path && mods.length) mods[mods.length - 1] = { path, version: version ?? '' };
  }
  const out = mods.filter((m) => m.version !== '').map((m) => goPackage(m.path, m.version, location));
  // The toolchain as a semver the Go advisories compare with: go1.20 → v1.20.0, go1.22rc2 → v1.22.0-rc.2.
  const go = /^go\d+\.\d+(?:\.\d+)?(?:(?:rc|beta)\d+)?/.exec(info.goVersion);
  if (go) out.push(goPackage('stdlib', `v${goToSemver(go[0])}`, location));
  return out;
}

/** ELF executables only: the first bytes of a file. */
export function isElf(head: Buffer): boolean {
  return head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
}
