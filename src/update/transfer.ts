/**
 * Bundles between nodes and from a URL. A node serves the bundles it holds (`<stateDir>/host/bundles/<id>.bundle`) to
 * its peers over the cluster's sealed request stream, chunk by chunk (kind `host-bundle`); a node fetching one asks
 * for its size, then its chunks, into a temporary file, which the updater verifies (signature, version, digests)
 * before it keeps it. A URL is read with fetch(), bounded in bytes and time.
 */
import { createWriteStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PleacoError } from '../errors.js';
import { isBundleId } from './bundle.js';
import { bundlePath } from './requests.js';

export const BUNDLE_KIND = 'host-bundle';
const CHUNK = 4 * 1024 * 1024;
/** The largest bundle a node takes from a peer or a URL. */
export const MAX_BUNDLE_BYTES = 8 * 1024 ** 3;

export interface BundlePeers {
  serve(kind: string, handler: (req: Record<string, unknown>, from: string) => Promise<Record<string, unknown>>): void;
  ask(peer: string, kind: string, req: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** Serves this node's bundles: `{op:'size', id}` → `{size}`; `{op:'chunk', id, offset}` → `{data}` (base64). */
export function serveBundles(peers: BundlePeers, stateDir: string): void {
  peers.serve(BUNDLE_KIND, async (req) => {
    const id = isBundleId(req.id) ? req.id : null;
    if (!id) throw new PleacoError('bad_request', 'host-bundle: id must be a bundle id');
    const path = bundlePath(stateDir, id);
    const size = await stat(path).then((s) => s.size, () => null);
    if (size === null) throw new PleacoError('not_found', `this node does not hold bundle ${id.slice(0, 12)}`);
    if (req.op === 'size') return { size };
    const offset = req.offset;
    if (req.op !== 'chunk' || !Number.isSafeInteger(offset) || (offset as number) < 0 || (offset as number) >= size) throw new PleacoError('bad_request', 'host-bundle: op must be size, or chunk with an offset inside the bundle');
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(Math.min(CHUNK, size - (offset as number)));
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset as number);
      return { data: buf.subarray(0, bytesRead).toString('base64') };
    } finally {
      await fh.close();
    }
  });
}

/** Fetches bundle `id` from `peer` into `dest`; `progress` gets the bytes so far. */
export async function fetchFromPeer(peers: BundlePeers, peer: string, id: string, dest: string, signal: AbortSignal, progress?: (bytes: number, size: number) => void): Promise<void> {
  const head = await peers.ask(peer, BUNDLE_KIND, { op: 'size', id });
  const size = head.size;
  if (!Number.isSafeInteger(size) || (size as number) <= 0 || (size as number) > MAX_BUNDLE_BYTES) throw new PleacoError('peer_error', `${peer} gave a bundle size out of bounds`);
  const fh = await open(dest, 'w');
  try {
    for (let offset = 0; offset < (size as number); ) {
      if (signal.aborted) throw new PleacoError('interrupted', 'the bundle transfer was stopped');
      const res = await peers.ask(peer, BUNDLE_KIND, { op: 'chunk', id, offset });
      if (typeof res.data !== 'string' || res.data.length > (CHUNK * 4) / 3 + 8) throw new PleacoError('peer_error', `${peer} sent a malformed bundle chunk`);
      const data = Buffer.from(res.data, 'base64');
      if (data.length === 0 || offset + data.length > (size as number)) throw new PleacoError('peer_error', `${peer} sent a chunk of ${data.length} bytes at ${offset} of ${size}`);
      await fh.write(data, 0, data.length, offset);
      offset += data.length;
      progress?.(offset, size as number);
    }
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(dest, { force: true });
    throw err;
  }
  await fh.close();
}

/** Fetches a bundle from an http(s) URL into `dest`, at most MAX_BUNDLE_BYTES, within `timeoutMs`. */
export async function fetchFromUrl(url: string, dest: string, signal: AbortSignal, timeoutMs: number): Promise<void> {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new PleacoError('bad_request', 'a bundle URL must be http:// or https://');
  const shown = `${u.protocol}//${u.host}${u.pathname}`; // never a query (it may hold a token)
  const res = await fetch(u, { signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]), redirect: 'follow' }).catch((err: unknown) => {
    throw new PleacoError('unavailable', `cannot fetch ${shown}: ${(err as Error).message}`);
  });
  if (!res.ok || !res.body) throw new PleacoError('unavailable', `${shown} answered HTTP ${res.status}`);
  const length = Number(res.headers.get('content-length') ?? '0');
  if (length > MAX_BUNDLE_BYTES) throw new PleacoError('payload_too_large', `${shown} is ${length} bytes; a bundle is at most ${MAX_BUNDLE_BYTES}`);
  let n = 0;
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (c: Buffer) => {
    n += c.length;
    if (n > MAX_BUNDLE_BYTES) body.destroy(new PleacoError('payload_too_large', `${shown} sent more than ${MAX_BUNDLE_BYTES} bytes`));
  });
  try {
    await pipeline(body, createWriteStream(dest));
  } catch (err) {
    await rm(dest, { force: true });
    throw err instanceof PleacoError ? err : new PleacoError('unavailable', `fetching ${shown} failed: ${(err as Error).message}`);
  }
}
