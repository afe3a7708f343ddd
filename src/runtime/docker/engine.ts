/**
 * ContainerEngine on Docker Engine (dockerode): images, job containers, an image's files. Only runtime/docker/
 * speaks Docker's API. Everything created carries the io.pleaco.* labels; listings filter on
 * io.pleaco.managed=true; removals refuse anything without it. An unreachable Engine, or one that does not answer
 * in time (deadline.ts), is `docker_unavailable`.
 */
import Docker from 'dockerode';
import { PleacoError } from '../../errors.js';
import { LABELS } from '../../model/index.js';
import { engineUnavailable, isEngineDown, type ContainerEngine, type ContainerSummary, type EngineStatus, type ImageBuildRequest, type ImageInfo, type JobResult, type JobSpec, type LayerSink } from '../engine.js';
import { buildImage } from './build.js';
import { bounded, deadlinesOf, getJson, getStream, liveness, pingDocker, withSignal, type EngineDeadlines } from './deadline.js';
import { readImageFiles, runJob } from './job.js';
import { readStoredLayer, type LayerStore } from './layers.js';

/** A dockerode client on the Engine's unix socket (for DockerEngine and DockerRuntime). */
export function connectDocker(socketPath: string): Docker {
  return new Docker({ socketPath });
}

/** Where a dockerode client points, for messages. */
function whereOf(docker: Docker): string {
  return String((docker.modem as { socketPath?: string } | undefined)?.socketPath ?? 'the Docker socket');
}

/** Wraps an Engine error: unreachable → docker_unavailable (503), everything else passes through. */
export function engineError(err: unknown, where: string): unknown {
  if (err instanceof PleacoError || !isEngineDown(err)) return err;
  return engineUnavailable(where, err);
}

export function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number } | undefined)?.statusCode;
}

function labelFilter(labels: Record<string, string | true>): string {
  const out = [`${LABELS.managed}=true`];
  for (const [k, v] of Object.entries(labels)) out.push(v === true ? k : `${k}=${v}`);
  return JSON.stringify({ label: out });
}

export class DockerEngine implements ContainerEngine {
  readonly where: string;
  private info: Promise<{ root: string | null; driver: string | null }> | undefined;
  private readonly d: EngineDeadlines;

  constructor(
    readonly docker: Docker,
    opts: { deadlines?: Partial<EngineDeadlines> } = {},
  ) {
    this.where = whereOf(docker);
    this.d = deadlinesOf(opts.deadlines);
  }

  static connect(socketPath: string, opts: { deadlines?: Partial<EngineDeadlines> } = {}): DockerEngine {
    return new DockerEngine(connectDocker(socketPath), opts);
  }

  private wrap(err: unknown): unknown {
    return engineError(err, this.where);
  }

  /** One call answered as a whole, within the call deadline. */
  private call<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return bounded(this.where, this.d.callMs, fn);
  }

  ping(): Promise<EngineStatus> {
    return pingDocker(this.docker, this.where, this.d.pingMs);
  }

  async inspectImage(ref: string): Promise<ImageInfo | null> {
    try {
      const path = `/images/${ref}/json`; // as dockerode sends it
      const i = await this.call((signal) => getJson<Docker.ImageInspectInfo>(this.docker, path, { 200: true, 404: 'no such image', 500: 'server error' }, signal));
      const tags = (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
      const layers = i.RootFS?.Layers ?? [];
      return { id: i.Id, tags, labels: i.Config?.Labels ?? {}, exposedPorts: Object.keys(i.Config?.ExposedPorts ?? {}), createdAt: Date.parse(i.Created), layers };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw this.wrap(err);
    }
  }

  async listImages(labels: Record<string, string | true>): Promise<ImageInfo[]> {
    try {
      const rows = await this.call((signal) => this.docker.listImages(withSignal({ filters: labelFilter(labels) }, signal)));
      return rows
        .filter((r) => r.Labels?.[LABELS.managed] === 'true')
        .map((r) => ({ id: r.Id, tags: (r.RepoTags ?? []).filter((t) => t !== '<none>:<none>'), labels: r.Labels ?? {}, exposedPorts: [], createdAt: r.Created * 1000 }));
    } catch (err) {
      throw this.wrap(err);
    }
  }

  async removeImage(ref: string): Promise<void> {
    const info = await this.inspectImage(ref);
    if (!info) return;
    if (info.labels[LABELS.managed] !== 'true') throw new PleacoError('forbidden', `image ${ref} is not managed by pleaco`);
    try {
      await this.call((signal) => this.docker.getImage(ref).remove(withSignal({ force: false }, signal)));
    } catch (err) {
      if (statusOf(err) === 404) return;
      if (statusOf(err) === 409) throw new PleacoError('conflict', `image ${ref} is in use by a container`, { cause: err });
      throw this.wrap(err);
    }
  }

  async tagImage(id: string, ref: string): Promise<void> {
    const i = ref.lastIndexOf(':');
    try {
      await this.call((signal) => this.docker.getImage(id).tag(withSignal({ repo: ref.slice(0, i), tag: ref.slice(i + 1) }, signal)));
    } catch (err) {
      throw this.wrap(err);
    }
  }

  /** Its length is the tarball's: bounded by the Engine's liveness, not by a total deadline. */
  async loadImage(tar: NodeJS.ReadableStream): Promise<string> {
    let text = '';
    const live = liveness(this.docker, this.where, this.d);
    try {
      const res = await this.docker.loadImage(tar, withSignal({ quiet: true }, live.signal));
      for await (const chunk of res as AsyncIterable<Buffer>) text += chunk.toString('utf8');
    } catch (err) {
      throw live.signal.aborted ? live.signal.reason : this.wrap(err);
    } finally {
      live.stop();
    }
    let loaded: string | null = null;
    for (const raw of text.split('\n')) {
      if (!raw.trim()) continue;
      const ev = JSON.parse(raw) as { stream?: string; error?: string; errorDetail?: { message?: string } };
      if (ev.error || ev.errorDetail) throw new PleacoError('build_failed', `docker load: ${ev.errorDetail?.message ?? ev.error}`);
      const m = /Loaded image(?: ID)?: (\S+)/.exec(ev.stream ?? '');
      if (m?.[1]) loaded = m[1];
    }
    if (!loaded) throw new PleacoError('build_failed', 'docker load did not report the loaded image');
    return loaded;
  }

  /** `docker save` of one managed image, read by `consume` under the Engine's liveness watch. */
  async exportImage<T>(id: string, consume: (tar: NodeJS.ReadableStream) => Promise<T>): Promise<T> {
    const info = await this.inspectImage(id);
    if (!info) throw new PleacoError('not_found', `image ${id} is not on this node`);
    if (info.labels[LABELS.managed] !== 'true') throw new PleacoError('forbidden', `image ${id} is not managed by pleaco`);
    const live = liveness(this.docker, this.where, this.d);
    try {
      const tar = await bounded(this.where, this.d.firstByteMs, (signal) => getStream(this.docker, `/images/${info.id}/get`, { 200: true, 404: 'no such image', 500: 'server error' }, AbortSignal.any([signal, live.signal])));
      return await consume(tar);
    } catch (err) {
      if (live.signal.aborted) throw live.signal.reason;
      if (statusOf(err) === 404) throw new PleacoError('not_found', `image ${id} is not on this node (removed while it was being exported?)`, { cause: err });
      throw this.wrap(err);
    } finally {
      live.stop();
    }
  }

  async allImageIds(): Promise<string[]> {
    try {
      return (await this.call((signal) => this.docker.listImages(withSignal({}, signal)))).map((r) => r.Id);
    } catch (err) {
      throw this.wrap(err);
    }
  }

  buildImage(req: ImageBuildRequest): Promise<{ imageId: string }> {
    return buildImage(this.docker, this.where, req, this.d);
  }

  runJob(spec: JobSpec): Promise<JobResult> {
    return runJob(this.docker, this.where, spec, this.d);
  }

  readImageFiles<T>(image: string, labels: Record<string, string>, consume: (tar: NodeJS.ReadableStream) => Promise<T>): Promise<T> {
    return readImageFiles(this.docker, this.where, { image, labels, consume }, this.d);
  }

  async listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    try {
      const rows = await this.call((signal) => this.docker.listContainers(withSignal({ all: true, filters: labelFilter(labels) }, signal)));
      return rows.filter((c) => c.Labels?.[LABELS.managed] === 'true').map((c) => ({ id: c.Id, imageId: c.ImageID, labels: c.Labels ?? {} }));
    } catch (err) {
      throw this.wrap(err);
    }
  }

  async removeContainer(id: string): Promise<void> {
    const c = this.docker.getContainer(id);
    try {
      const info = await this.call((signal) => c.inspect(withSignal({}, signal)));
      if (info.Config?.Labels?.[LABELS.managed] !== 'true') throw new PleacoError('forbidden', `container ${id.slice(0, 12)} is not managed by pleaco`);
      await this.call((signal) => c.remove(withSignal({ force: true, v: true }, signal)));
    } catch (err) {
      if (statusOf(err) === 404 || statusOf(err) === 409) return; // gone, or its removal is already under way
      throw this.wrap(err);
    }
  }

  async pruneDangling(labels: Record<string, string>, olderThanMs = 0): Promise<{ removed: number; bytes: number }> {
    const label = [`${LABELS.managed}=true`, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)];
    const until = olderThanMs > 0 ? { until: [`${Math.round(olderThanMs / 1000)}s`] } : {};
    try {
      const r = await this.call((signal) => this.docker.pruneImages(withSignal({ filters: JSON.stringify({ dangling: ['true'], label, ...until }) }, signal)));
      return { removed: (r.ImagesDeleted ?? []).filter((d) => d.Deleted).length, bytes: r.SpaceReclaimed ?? 0 };
    } catch (err) {
      throw this.wrap(err);
    }
  }

  /** The Engine's data root and storage driver, asked once (again after a failure). */
  private storage(): Promise<{ root: string | null; driver: string | null }> {
    this.info ??= this.call((signal) => getJson<{ DockerRootDir?: string; Driver?: string }>(this.docker, '/info', { 200: true, 500: 'server error' }, signal)).then(
      (i) => ({ root: i.DockerRootDir ?? null, driver: i.Driver ?? null }),
      (err: unknown) => {
        this.info = undefined; // ask again next time
        throw this.wrap(err);
      },
    );
    return this.info;
  }

  async dataRoot(): Promise<string | null> {
    return (await this.storage()).root;
  }

  /** From the layer store (layers.ts); false when it cannot be read from this process. */
  async readLayer(chain: readonly string[], sink: LayerSink, signal?: AbortSignal): Promise<boolean> {
    const { root, driver } = await this.storage();
    const store: LayerStore | null = root && driver ? { root, driver } : null;
    return readStoredLayer(store, chain, sink, signal);
  }

  async imagesInUse(): Promise<Set<string>> {
    try {
      return new Set((await this.call((signal) => this.docker.listContainers(withSignal({ all: true }, signal)))).map((c) => c.ImageID));
    } catch (err) {
      throw this.wrap(err);
    }
  }
}
