/**
 * Images between nodes: what identifies an image and its layers, and what a transfer reports. An image is named by
 * its image ID (`sha256:` + the hash of its config JSON, which lists its layers' diffIDs: the hashes of their
 * uncompressed tars); every digest from a peer is checked against DIGEST_RE before it is used, also as a file name.
 */

/** `sha256:` and 64 lowercase hex digits: an image ID, a diffID, a chain ID. */
export const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export function isDigest(v: unknown): v is string {
  return typeof v === 'string' && DIGEST_RE.test(v);
}

/** One image transfer from a peer: what crossed the wire and what was found locally. */
export interface ImageTransfer {
  imageId: string;
  app: string;
  /** The member the image came from. */
  from: string;
  /** Layers of the image, and of those: fetched (missing here), and present here already (not sent). */
  layers: number;
  layersFetched: number;
  layersReused: number;
  /** Bytes of config and layers received (as verified), and their encoded size on the wire (base64, maybe deflated). */
  bytes: number;
  wireBytes: number;
  /** The sum of all layer sizes: what a transfer of the whole image would have sent. */
  imageBytes: number;
  ms: number;
  at: string;
}

/** The answer of `POST /v1/internal/images/ensure`: the image is present on this node. */
export interface ImageEnsureResult {
  imageId: string;
  /** null: it was present already; otherwise the transfer that brought it (shared by concurrent asks). */
  transfer: ImageTransfer | null;
}

/** The agent's image-transfer counters (`GET /v1/internal/images`). */
export interface ImageCounters {
  transfers: number;
  failures: number;
  /** Transfers refused because a config or a layer did not hash to its digest. */
  digestMismatches: number;
  bytes: number;
  wireBytes: number;
  layersFetched: number;
  layersReused: number;
  /** What this node served to peers. */
  served: { requests: number; bytes: number; wireBytes: number; prepares: number };
}
