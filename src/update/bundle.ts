/**
 * A host update bundle: one file, written by `make release`, read by every node.
 *
 *   "PLEACO-BUNDLE\n"                 14 bytes, the magic
 *   u32 big-endian                    length of the header (at most MAX_HEADER_BYTES)
 *   header, JSON                      { manifest: "<manifest JSON text>", signatures: [{ keyId, sig }] }
 *   parts                             their bytes one after the other, in the manifest's order
 *
 * The manifest (format, version, created, parts: name, size, sha256, encoding) is kept as the exact text that was
 * signed, so that nothing has to be canonicalised: the signatures are ed25519 over its UTF-8 bytes, and each part is
 * checked against its digest as it is read. A bundle's id is the SHA-256 of the manifest text. Why this and not a tar
 * or RAUC's squashfs + CMS: docs/decisions.md, "Host updates".
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PleacoError } from '../errors.js';
import { refused, signManifest, MAX_SIGNATURES, type BundleSignature, type TrustedKeys } from './trust.js';
import { compareVersions, isHostVersion } from '../model/index.js';

export const MAGIC = Buffer.from('PLEACO-BUNDLE\n');
export const MAX_HEADER_BYTES = 256 * 1024;
const SHA256_HEX_RE = /^[0-9a-f]{64}$/;

/** A bundle id (the SHA-256 of its manifest, hex), as the API, the peers and the file names carry it. */
export function isBundleId(v: unknown): v is string {
  return typeof v === 'string' && SHA256_HEX_RE.test(v);
}
const MAX_PARTS = 8;
const MAX_PART_BYTES = 16 * 1024 ** 3;
const PART_NAME_RE = /^[a-z][a-z0-9-]{0,31}$/;
/** The parts a host bundle carries: the new root slot's kernel, initrd and root filesystem (an ext4 image, gzip). */
export const HOST_PARTS = ['kernel', 'initrd', 'rootfs'] as const;

export interface BundlePart {
  name: string;
  size: number;
  sha256: string;
  /** How the bytes are packed: 'gzip' for the root filesystem, absent for files as they are. */
  encoding?: 'gzip';
}

export interface Manifest {
  format: 1;
  version: string;
  created: string;
  parts: BundlePart[];
}

export interface BundleHeader {
  path: string;
  manifest: Manifest;
  manifestText: string;
  signatures: BundleSignature[];
  /** SHA-256 of the manifest text (hex). */
  id: string;
  /** Where each part starts in the file. */
  offsets: Map<string, number>;
  size: number;
}

export interface VerifiedBundle extends BundleHeader {
  /** The trusted key whose signature verified. */
  keyId: string;
}

export interface PackOptions {
  version: string;
  parts: { name: string; file: string; encoding?: 'gzip' }[];
  /** PEM private keys; each adds a signature. None: an unsigned bundle (every node refuses it). */
  signWith: string[];
  created?: Date;
}

async function sha256File(file: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

/** Writes a bundle to `out` (through `out.part`, renamed at the end). Returns its header as read back. */
export async function packBundle(out: string, o: PackOptions): Promise<BundleHeader> {
  if (!isHostVersion(o.version)) throw new PleacoError('bad_request', `${JSON.stringify(o.version)} is not a host version`);
  const parts: BundlePart[] = [];
  for (const p of o.parts) parts.push({ name: p.name, ...(await sha256File(p.file)), ...(p.encoding ? { encoding: p.encoding } : {}) });
  const manifest: Manifest = { format: 1, version: o.version, created: (o.created ?? new Date()).toISOString(), parts };
  const manifestText = JSON.stringify(manifest);
  const signatures = o.signWith.map((pem) => signManifest(Buffer.from(manifestText), pem));
  const header = Buffer.from(JSON.stringify({ manifest: manifestText, signatures }));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length);
  const tmp = `${out}.part`;
  const w = createWriteStream(tmp);
  try {
    w.write(Buffer.concat([MAGIC, len, header]));
    for (const p of o.parts) await pipeline(createReadStream(p.file), w, { end: false });
    await new Promise<void>((resolve, reject) => w.end((err?: Error | null) => (err ? reject(err) : resolve())));
    await rename(tmp, out);
  } catch (err) {
    w.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
  return readHeader(out);
}

function validManifest(m: unknown): m is Manifest {
  if (typeof m !== 'object' || m === null) return false;
  const x = m as Record<string, unknown>;
  if (x.format !== 1 || !isHostVersion(x.version) || typeof x.created !== 'string' || !Array.isArray(x.parts) || x.parts.length > MAX_PARTS) return false;
  const names = new Set<string>();
  for (const p of x.parts as unknown[]) {
    const q = p as Record<string, unknown>;
    if (typeof q !== 'object' || q === null || typeof q.name !== 'string' || !PART_NAME_RE.test(q.name) || names.has(q.name)) return false;
    if (!Number.isSafeInteger(q.size) || (q.size as number) < 0 || (q.size as number) > MAX_PART_BYTES) return false;
    if (typeof q.sha256 !== 'string' || !SHA256_HEX_RE.test(q.sha256) || (q.encoding !== undefined && q.encoding !== 'gzip')) return false;
    names.add(q.name);
  }
  return true;
}

function validSignatures(s: unknown): s is BundleSignature[] {
  return Array.isArray(s) && s.length <= MAX_SIGNATURES && s.every((x) => typeof x === 'object' && x !== null && typeof x.keyId === 'string' && /^[0-9a-f]{16}$/.test(x.keyId) && typeof x.sig === 'string' && x.sig.length <= 128);
}

/** Reads and checks a bundle's header and length (not yet its signature or its parts' digests). */
export async function readHeader(path: string): Promise<BundleHeader> {
  const fh = await open(path, 'r').catch((err: unknown) => {
    throw new PleacoError('not_found', `cannot read ${path}: ${(err as Error).message}`);
  });
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(MAGIC.length + 4);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    if (bytesRead < MAGIC.length || !head.subarray(0, MAGIC.length).equals(MAGIC)) throw refused('it is not a pleaco update bundle (no PLEACO-BUNDLE magic)');
    if (bytesRead < head.length) throw refused('it is truncated: it ends inside its header');
    const hlen = head.readUInt32BE(MAGIC.length);
    if (hlen > MAX_HEADER_BYTES) throw refused(`its header claims ${hlen} bytes (at most ${MAX_HEADER_BYTES})`);
    const hbuf = Buffer.alloc(hlen);
    const r = await fh.read(hbuf, 0, hlen, head.length);
    if (r.bytesRead < hlen) throw refused('it is truncated: it ends inside its header');
    let header: { manifest?: unknown; signatures?: unknown };
    let manifest: unknown;
    try {
      header = JSON.parse(hbuf.toString('utf8')) as typeof header;
      manifest = typeof header.manifest === 'string' ? JSON.parse(header.manifest) : null;
    } catch {
      throw refused('its header is not valid JSON');
    }
    if (!validManifest(manifest)) throw refused('its manifest is malformed');
    if (!validSignatures(header.signatures)) throw refused('its signature list is malformed');
    const offsets = new Map<string, number>();
    let at = head.length + hlen;
    for (const p of manifest.parts) {
      offsets.set(p.name, at);
      at += p.size;
    }
    if (size < at) throw refused(`it is truncated: ${size} bytes of ${at}`);
    if (size > at) throw refused(`it has ${size - at} bytes after its last part`);
    const manifestText = header.manifest as string;
    return { path, manifest, manifestText, signatures: header.signatures, id: createHash('sha256').update(manifestText).digest('hex'), offsets, size };
  } finally {
    await fh.close();
  }
}

/** A transform that passes bytes through and fails at the end unless they hash to `sha256` and count `size`. */
export function digestCheck(part: BundlePart): Transform {
  const h = createHash('sha256');
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      n += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      const got = h.digest('hex');
      if (n !== part.size || got !== part.sha256) cb(refused(`its part ${part.name} does not match its digest (sha256 ${got.slice(0, 12)}…, expected ${part.sha256.slice(0, 12)}…): it was tampered with or damaged`));
      else cb();
    },
  });
}

/** One part's bytes as stored, checked against the manifest's digest as they are read. */
export function partStream(b: BundleHeader, name: string): Readable {
  const part = b.manifest.parts.find((p) => p.name === name);
  const start = b.offsets.get(name);
  if (!part || start === undefined) throw refused(`it has no part named ${name}`);
  const src = createReadStream(b.path, { start, end: start + part.size - 1 });
  const check = digestCheck(part);
  src.on('error', (err) => check.destroy(err));
  return part.size === 0 ? (src.destroy(), emptyChecked(check)) : src.pipe(check);
}

function emptyChecked(check: Transform): Readable {
  check.end();
  return check;
}

/**
 * The checks that need no pass over the parts: header and length, a signature by a trusted key, a version newer than
 * `running`, the host parts present. The parts' digests are then checked as they are read (partStream): pleaco-host
 * writes a slot in the same pass, and marks it staged only when every part matched.
 */
export async function checkBundle(path: string, trusted: TrustedKeys, o: { running?: string | null } = {}): Promise<VerifiedBundle> {
  const b = await readHeader(path);
  const keyId = trusted.check(Buffer.from(b.manifestText), b.signatures);
  if (o.running && compareVersions(b.manifest.version, o.running) <= 0) throw refused(`its version ${b.manifest.version} is not newer than the running ${o.running} (a downgrade)`);
  for (const name of HOST_PARTS) if (!b.offsets.has(name)) throw refused(`it has no ${name} part`);
  return { ...b, keyId };
}

/**
 * The whole check of a bundle before a node uses it: header and length, a signature by a trusted key, a version
 * newer than `running` (no downgrade, no reinstall), the host parts present, and every part's digest.
 */
export async function verifyBundle(path: string, trusted: TrustedKeys, o: { running?: string | null } = {}): Promise<VerifiedBundle> {
  const b = await checkBundle(path, trusted, o);
  for (const p of b.manifest.parts) {
    const s = partStream(b, p.name);
    for await (const chunk of s) void chunk;
  }
  return b;
}

/** Size of a file, or null when it does not exist. */
export async function sizeOf(path: string): Promise<number | null> {
  return stat(path).then((s) => s.size, () => null);
}
