/**
 * ContainerEngine: what the builder, the test runner and the scanner need of a node's container engine — images
 * (build, inspect, tag, load, list, remove), one-off job containers (a test run, a kaniko executor) and an image's
 * files. runtime/docker/ implements it on Docker Engine; image distribution between nodes plugs in here too.
 * Invariants every adapter keeps: everything it creates carries `io.pleaco.managed=true`, every listing filters on
 * it, and nothing without it is stopped, removed or changed. An unreachable engine is `docker_unavailable` (503).
 */
import { PleacoError } from '../errors.js';

export type EngineStatus = { ok: true; version: string } | { ok: false; error: string };

export interface ImageInfo {
  id: string;
  tags: string[];
  labels: Record<string, string>;
  /** The image's EXPOSE'd ports, like `8080/tcp`. */
  exposedPorts: string[];
  /** Epoch ms. */
  createdAt: number;
  /** The diffIDs of its layers, base first (from an inspect; absent in listings). */
  layers?: string[];
}

/** An image build from a tar of the build context. */
export interface ImageBuildRequest {
  context: NodeJS.ReadableStream;
  /** The Dockerfile's path inside the context (default `Dockerfile`). */
  dockerfile?: string;
  tag: string;
  memoryBytes: number;
  cpuShares: number;
  /** Each line of build output, without its newline. */
  onLog: (line: string) => void;
  signal?: AbortSignal;
}

/** A one-off container run to its end: a test command, a kaniko executor. */
export interface JobSpec {
  image: string;
  /** `[]` clears the image's ENTRYPOINT so `cmd` runs as given. Absent: the image's own. */
  entrypoint?: string[];
  cmd: string[];
  /** Passed in the create call's Env only: never argv, never logged. */
  env?: Record<string, string>;
  /** Must include `io.pleaco.managed=true` (added when missing) and a role. */
  labels: Record<string, string>;
  memoryBytes: number;
  cpuShares?: number;
  /** Most processes and threads. */
  pids?: number;
  mounts?: Array<{ source: string; target: string; readOnly?: boolean }>;
  /** Killed after this long (`timedOut`). */
  timeoutMs?: number;
  /** Killed when it aborts; runJob then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Each output line (stdout and stderr), without its newline. */
  onLine: (line: string) => void;
}

export interface JobResult {
  exitCode: number;
  timedOut: boolean;
  oomKilled: boolean;
  durationMs: number;
}

/** A managed container as listed (any role). */
export interface ContainerSummary {
  id: string;
  imageId: string;
  labels: Record<string, string>;
}

/**
 * Receives a layer's bytes in order (readLayer). A chunk is valid only during the call: copy what is kept. A throw ends
 * the read and is passed on as it is.
 */
export type LayerSink = (chunk: Buffer) => void;

export interface ContainerEngine {
  /** Where the engine is, for messages (its socket path). */
  readonly where: string;
  ping(): Promise<EngineStatus>;
  /** null when there is no such image. */
  inspectImage(ref: string): Promise<ImageInfo | null>;
  /** Managed images carrying every given label (a value of `true`: the label is present with any value). */
  listImages(labels: Record<string, string | true>): Promise<ImageInfo[]>;
  /** Removes one tag (or an untagged image) of a managed image, never forced: `conflict` while a container uses it. */
  removeImage(ref: string): Promise<void>;
  tagImage(id: string, ref: string): Promise<void>;
  /** Loads an image tarball (`docker save` format); resolves with the loaded reference. */
  loadImage(tar: NodeJS.ReadableStream): Promise<string>;
  /**
   * Hands `consume` a managed image as a `docker save` tarball (manifest, config, each layer's uncompressed tar); the
   * export is watched by the engine's liveness while consume reads it. An image without the managed label is refused.
   */
  exportImage<T>(id: string, consume: (tar: NodeJS.ReadableStream) => Promise<T>): Promise<T>;
  /**
   * The ids of every image on the engine, managed or not: read only, to know which layers are present here (an
   * image transfer leaves out the layers a local image already has, the base image's among them).
   */
  allImageIds(): Promise<string[]>;
  buildImage(req: ImageBuildRequest): Promise<{ imageId: string }>;
  /** Creates, runs and always removes a job container; resolves with how it ended. */
  runJob(spec: JobSpec): Promise<JobResult>;
  /**
   * Hands `consume` the image's merged filesystem as a tar stream (from a container created, never started, with
   * `labels` and no network), and removes that container afterwards, also when consume fails. To stop early,
   * consume destroys the stream.
   */
  readImageFiles<T>(image: string, labels: Record<string, string>, consume: (tar: NodeJS.ReadableStream) => Promise<T>): Promise<T>;
  /**
   * One layer's uncompressed tar straight from the engine's layer store, without exporting the image: `chain` is the
   * diffIDs of an image's layers from its base up to and including the wanted one (a stored layer is named by its
   * chain). Resolves false, before any byte, when this process cannot read the store (another storage driver, an
   * engine on another machine or in another mount namespace, no permission): the caller exports the image instead.
   * Read only; the bytes are not checked here: the caller hashes them against the diffID.
   */
  readLayer(chain: readonly string[], sink: LayerSink, signal?: AbortSignal): Promise<boolean>;
  /** Managed containers carrying every given label. */
  listContainers(labels: Record<string, string>): Promise<ContainerSummary[]>;
  /** Removes (forcefully) a managed container; a container without the managed label is refused. */
  removeContainer(id: string): Promise<void>;
  /** Ids of the images any container (managed or not, running or not) is made from: those must stay. */
  imagesInUse(): Promise<Set<string>>;
  /**
   * Removes dangling (untagged, childless) managed images carrying every given label and older than `olderThanMs`
   * (0: any age); how many and the bytes freed.
   */
  pruneDangling(labels: Record<string, string>, olderThanMs?: number): Promise<{ removed: number; bytes: number }>;
  /** Where the engine keeps images and containers (Docker's data root), for the disk watch; null when unknown. */
  dataRoot(): Promise<string | null>;
}

const DOWN = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EACCES']);

/** True when the error (or its cause) means the engine is not reachable, as opposed to an error it answered. */
export function isEngineDown(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof PleacoError && e.code === 'docker_unavailable') return true;
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && DOWN.has(code)) return true;
  }
  return false;
}

/** An unreachable engine as the one error every caller shows: `docker_unavailable` (503). */
export function engineUnavailable(where: string, cause: unknown): PleacoError {
  return new PleacoError('docker_unavailable', `Docker Engine is not reachable at ${where}; start dockerd and try again`, { cause });
}
