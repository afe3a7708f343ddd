/**
 * Digests of images and layers (pure). A layer is named by its diffID (the sha256 of its uncompressed tar); where it
 * sits in an image, by its chain ID, which names the layer together with everything below it:
 *   chainID(0) = diffID(0);  chainID(i) = sha256(chainID(i-1) + " " + diffID(i))
 * (the OCI image spec; Docker's layer store is keyed by it). A node has layer i of an image exactly when it has
 * chain ID i, whoever's image brought it there.
 */
import { createHash } from 'node:crypto';
import { PleacoError } from '../../errors.js';
import { DIGEST_RE, LABELS } from '../../model/index.js';

export function sha256(data: string | Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The hex of a checked digest: the only form that becomes a file name. */
export function hexOf(digest: string): string {
  if (!DIGEST_RE.test(digest)) throw new PleacoError('bad_request', `invalid digest ${JSON.stringify(String(digest).slice(0, 80))}`);
  return digest.slice(7);
}

export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]!} ${d}`));
  return out;
}

/** Most layers an image may list (Docker's overlay2 stops at 125; room for other drivers). */
export const MAX_LAYERS = 200;
/** Largest image config accepted (real ones are a few KB; history of a long Dockerfile stays far below). */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** What pleaco reads of an image config: its layers and its labels. */
export interface ImageConfig {
  diffIds: string[];
  labels: Record<string, string>;
}

/**
 * Parses an image config (bytes already checked against the image ID): `rootfs.diff_ids` must be a list of valid
 * digests within the bound, and the labels a string map. Throws `bad_request` naming what is wrong.
 */
export function parseImageConfig(bytes: Buffer): ImageConfig {
  const bad = (why: string): PleacoError => new PleacoError('bad_request', `image config: ${why}`);
  let cfg: unknown;
  try {
    cfg = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw bad('not JSON');
  }
  const c = cfg as { rootfs?: { type?: unknown; diff_ids?: unknown }; config?: { Labels?: unknown } } | null;
  if (!c || typeof c !== 'object' || c.rootfs?.type !== 'layers' || !Array.isArray(c.rootfs.diff_ids)) throw bad('no rootfs of type layers');
  const diffIds = c.rootfs.diff_ids as unknown[];
  if (diffIds.length === 0 || diffIds.length > MAX_LAYERS) throw bad(`${diffIds.length} layers (1 to ${MAX_LAYERS} are accepted)`);
  if (!diffIds.every((d): d is string => typeof d === 'string' && DIGEST_RE.test(d))) throw bad('a diff_id is not a sha256 digest');
  const raw = c.config?.Labels ?? {};
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw bad('labels are not a map');
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') labels[k] = v;
  return { diffIds: diffIds, labels };
}

/** Why an image may not be loaded for `app` here (null: it may): only pleaco's images of that app cross. */
export function refuseLabels(labels: Record<string, string>, app: string): string | null {
  if (labels[LABELS.managed] !== 'true') return `it does not carry ${LABELS.managed}=true`;
  if (labels[LABELS.app] !== app) return `its ${LABELS.app} label is ${JSON.stringify(labels[LABELS.app] ?? null)}, not ${JSON.stringify(app)}`;
  return null;
}
