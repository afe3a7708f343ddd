/**
 * The tarball `docker load` takes for a received image: manifest.json (the config's file, the optional tag, one
 * layer path per diffID, base first), the config, and the tars of the layers this node lacked. The layers it has
 * are named in the manifest but not in the tarball: Docker's loader (moby image/tarexport/load.go) looks each
 * layer up by its chain ID first and opens the layer's file only when the chain is not in its layer store, so what
 * crossed the wire is all it needs. Names inside are derived from checked digests only.
 */
import { createReadStream } from 'node:fs';
import { PassThrough } from 'node:stream';
import { pack } from 'tar-stream';
import { hexOf } from './digest.js';

/** A Docker reference pleaco tags images with: `name:tag`, lowercase name, no registry port. */
const TAG_RE = /^[a-z0-9]+(?:[._/-][a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function isImageTag(v: unknown): v is string {
  return typeof v === 'string' && v.length <= 255 && TAG_RE.test(v);
}

export interface LoadTarball {
  imageId: string;
  config: Buffer;
  diffIds: readonly string[];
  /** The layers to include: diffID → a verified file of that layer. */
  files: ReadonlyMap<string, { path: string; size: number }>;
  tag: string | null;
}

const layerName = (diffId: string): string => `${hexOf(diffId)}/layer.tar`;

/** The tarball as a stream (written as it is read); an unreadable layer file fails the stream. */
export function loadTarball(t: LoadTarball): NodeJS.ReadableStream {
  const p = pack();
  const manifest = [{ Config: `${hexOf(t.imageId)}.json`, RepoTags: t.tag && isImageTag(t.tag) ? [t.tag] : null, Layers: t.diffIds.map(layerName) }];
  const write = async (): Promise<void> => {
    p.entry({ name: 'manifest.json' }, JSON.stringify(manifest));
    p.entry({ name: `${hexOf(t.imageId)}.json` }, t.config);
    for (const [diffId, f] of t.files) {
      await new Promise<void>((resolve, reject) => {
        // The callback comes once the entry is written whole (or with an error, e.g. a size other than announced).
        const entry = p.entry({ name: layerName(diffId), size: f.size }, (err) => (err ? reject(err) : resolve()));
        const src = createReadStream(f.path);
        src.on('error', (err) => {
          entry.destroy(err);
          reject(err);
        });
        src.pipe(entry);
      });
    }
    p.finalize();
  };
  // A Node stream for the engine's client (tar-stream's own is a streamx one); an error ends it with the error.
  const out = new PassThrough();
  p.on('error', (err: Error) => out.destroy(err));
  p.pipe(out);
  write().catch((err: unknown) => p.destroy(err as Error));
  return out;
}
