/**
 * The receiver's side of an image transfer: asks one peer for an image's config and for the layers this node lacks,
 * chunk by chunk over the cluster's sealed stream, and checks everything before it is used: the config must hash to
 * the image ID, each layer to its diffID, sizes stay within their bounds and as announced, a chunk inflates to at
 * most what was asked for, and a peer still exporting (`preparing`) is polled only until the deadline.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { inflateRaw as inflateRawCb } from 'node:zlib';
import { PleacoError } from '../../errors.js';
import { digester } from './cache.js';
import { MAX_CONFIG_BYTES, parseImageConfig, refuseLabels, sha256, type ImageConfig } from './digest.js';
import { CHUNK } from './source.js';

const inflateRaw = promisify(inflateRawCb);
const POLL_MS = 500;
/** The cluster request kind of image transfers. */
export const IMAGE_KIND = 'image';

/** The cluster's sealed request stream between agents (ClusterNode satisfies it). */
export interface ImagePeers {
  serve(kind: string, handler: (req: Record<string, unknown>, from: string) => Promise<Record<string, unknown>>): void;
  ask(peer: string, kind: string, req: Record<string, unknown>): Promise<Record<string, unknown>>;
  members(): Array<{ id: string; state: string }>;
}

export interface FetchContext {
  cluster: Pick<ImagePeers, 'ask'>;
  peer: string;
  imageId: string;
  signal: AbortSignal;
  /** Epoch ms after which the transfer fails. */
  deadline: number;
  maxLayerBytes: number;
  /** Told the bytes of each verified piece and their size on the wire. */
  onBytes(bytes: number, wire: number): void;
}

export function mismatch(what: string, want: string, got: string): PleacoError {
  return new PleacoError('digest_mismatch', `${what} does not hash to ${want} (it hashes to ${got}): refused`, { details: { expected: want, actual: got } });
}

/** One request, repeated while the peer answers `preparing`, until the deadline. */
async function askReady(c: FetchContext, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  for (;;) {
    c.signal.throwIfAborted();
    if (Date.now() > c.deadline) throw new PleacoError('unavailable', `image ${c.imageId}: the transfer from ${c.peer} did not finish in time`);
    const res = await c.cluster.ask(c.peer, IMAGE_KIND, { ...body, image: c.imageId });
    if (res.found === false) throw new PleacoError('not_found', `${c.peer} does not hold image ${c.imageId}`);
    if (res.state !== 'preparing') return res;
    await sleep(POLL_MS, undefined, { signal: c.signal });
  }
}

/** The image's config from the peer, checked against the image ID and refused unless it is `app`'s pleaco image. */
export async function fetchConfig(c: FetchContext, app: string): Promise<{ bytes: Buffer; config: ImageConfig; sizes: Array<number | null> }> {
  const res = await askReady(c, { op: 'config' });
  if (typeof res.config !== 'string' || res.config.length > (MAX_CONFIG_BYTES * 4) / 3 + 4) throw new PleacoError('peer_error', `${c.peer} sent no usable config for ${c.imageId}`);
  const bytes = Buffer.from(res.config, 'base64');
  const got = sha256(bytes);
  if (got !== c.imageId) throw mismatch(`the config of ${c.imageId} from ${c.peer}`, c.imageId, got);
  c.onBytes(bytes.length, res.config.length);
  const config = parseImageConfig(bytes);
  const refused = refuseLabels(config.labels, app);
  if (refused) throw new PleacoError('forbidden', `image ${c.imageId} is not loaded here: ${refused}`);
  const raw = Array.isArray(res.sizes) ? (res.sizes as unknown[]) : [];
  const sizes = config.diffIds.map((_, i) => {
    const s = raw[i];
    return typeof s === 'number' && Number.isSafeInteger(s) && s >= 0 && s <= c.maxLayerBytes ? s : null; // a hint: each layer's real size is checked as it comes
  });
  return { bytes, config, sizes };
}

/** One chunk's bytes: base64, maybe deflated (inflated to at most what was asked for). */
async function chunkBytes(c: FetchContext, res: Record<string, unknown>, asked: number): Promise<Buffer> {
  if (typeof res.data !== 'string' || res.data.length > (asked * 4) / 3 + 8) throw new PleacoError('peer_error', `${c.peer} sent a malformed layer chunk`);
  const raw = Buffer.from(res.data, 'base64');
  if (res.enc === 'raw') return raw;
  if (res.enc !== 'deflate') throw new PleacoError('peer_error', `${c.peer} sent a chunk in an unknown encoding`);
  try {
    return await inflateRaw(raw, { maxOutputLength: asked });
  } catch (err) {
    throw new PleacoError('peer_error', `${c.peer} sent a chunk that does not inflate within ${asked} bytes`, { cause: err });
  }
}

/** Fetches one layer into `file`; resolves once its bytes hash to `diffId` and its size is the announced one. */
export async function fetchLayer(c: FetchContext, diffId: string, file: string): Promise<number> {
  const tap = digester(c.maxLayerBytes, `layer ${diffId}`);
  const written = pipeline(tap, createWriteStream(file, { mode: 0o600 }));
  written.catch(() => undefined); // awaited below; a failure meanwhile ends the loop through the race
  let size = -1;
  let offset = 0;
  try {
    for (;;) {
      const asked = size < 0 ? CHUNK : Math.min(CHUNK, size - offset);
      const res = await askReady(c, { op: 'layer', diffId, offset, length: asked });
      if (typeof res.size !== 'number' || !Number.isSafeInteger(res.size) || res.size < 0 || (size >= 0 && res.size !== size)) throw new PleacoError('peer_error', `${c.peer} announced a bad size for layer ${diffId}`);
      if (res.size > c.maxLayerBytes) throw new PleacoError('payload_too_large', `layer ${diffId} is ${res.size} bytes, more than the ${c.maxLayerBytes} accepted`);
      size = res.size;
      const data = await chunkBytes(c, res, asked);
      if (offset + data.length > size || (data.length === 0 && offset < size)) throw new PleacoError('peer_error', `${c.peer} sent a chunk that does not fit layer ${diffId}`);
      if (!tap.write(data)) await Promise.race([once(tap, 'drain'), written]);
      offset += data.length;
      c.onBytes(data.length, (res.data as string).length);
      if (offset >= size) break;
    }
    tap.end();
    await written;
  } catch (err) {
    tap.destroy();
    throw err;
  }
  const got = tap.digest();
  if (got !== diffId) throw mismatch(`layer ${diffId} from ${c.peer}`, diffId, got);
  return size;
}
