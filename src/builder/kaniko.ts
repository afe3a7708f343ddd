/**
 * KanikoBuilder: runs the kaniko executor image as a labelled job container (role=build) on this node's
 * ContainerEngine. The context tar is extracted into a temp dir bind-mounted read-only at /workspace; the executor
 * writes the image as a tarball to /out (--no-push --tar-path), which is then `docker load`ed and tagged.
 * kaniko fetches FROM images from a registry itself (it cannot see the Engine's local images), so here,
 * without a registry, it works only with a registry mirror or a FROM that kaniko can reach.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PleacoError, isPleacoError } from '../errors.js';
import { LABELS } from '../model/index.js';
import { engineUnavailable, isEngineDown, type ContainerEngine } from '../runtime/index.js';
import type { BuildRequest, Builder } from './builder.js';

export interface KanikoOptions {
  image: string;
  /** Labels the executor container with io.pleaco.node, so a crashed builder's leftovers are found. */
  nodeId?: string;
  /** Most processes and threads in the executor container. */
  pids?: number;
  /** Where temp dirs are made; must be a path the Engine can bind-mount (same host). */
  workDir?: string;
}

/** The executor's argv (flags as documented by kaniko: --context, --dockerfile, --no-push, --tar-path, --destination, --label). */
export function kanikoArgs(tag: string, labels: Record<string, string>): string[] {
  const args = ['--context=dir:///workspace', '--dockerfile=/workspace/Dockerfile', '--no-push', '--tar-path=/out/image.tar', `--destination=${tag}`];
  for (const [k, v] of Object.entries(labels)) args.push(`--label=${k}=${v}`);
  return args;
}

/** Extracts a tar stream into dir with GNU tar (argv only; members with .. or absolute paths are refused by tar). */
function extract(context: NodeJS.ReadableStream, dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', ['-x', '-f', '-', '-C', dir, '--no-same-owner'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    context.on('error', (err: Error) => {
      child.kill();
      reject(new PleacoError('build_failed', `could not read the build context: ${err.message}`, { cause: err }));
    });
    child.stdin.on('error', () => undefined);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new PleacoError('build_failed', `could not unpack the build context: ${stderr.trim() || `tar exited ${code}`}`))));
    context.pipe(child.stdin);
  });
}

export class KanikoBuilder implements Builder {
  readonly name = 'kaniko' as const;

  constructor(
    private readonly engine: ContainerEngine,
    private readonly opts: KanikoOptions,
  ) {}

  async available(): Promise<{ ok: boolean; reason?: string }> {
    try {
      if (await this.engine.inspectImage(this.opts.image)) return { ok: true };
      return { ok: false, reason: `executor image ${this.opts.image} not present (no registry here; load it with docker load)` };
    } catch (err) {
      if (isEngineDown(err)) return { ok: false, reason: `Docker Engine is not reachable at ${this.engine.where}` };
      return { ok: false, reason: (err as Error).message };
    }
  }

  async build(req: BuildRequest): Promise<{ imageId: string }> {
    req.signal?.throwIfAborted();
    let contextError: Error | null = null;
    const onContextError = (err: Error): void => void (contextError = err);
    req.context.on('error', onContextError); // from now on: a failing context must not crash the process
    const av = await this.available();
    if (!av.ok) throw new PleacoError(av.reason?.startsWith('Docker Engine') ? 'docker_unavailable' : 'build_failed', av.reason ?? 'kaniko unavailable');
    if (this.opts.workDir) await mkdir(this.opts.workDir, { recursive: true });
    const root = await mkdtemp(join(this.opts.workDir ?? tmpdir(), 'pleaco-kaniko-'));
    const ctx = join(root, 'context');
    const out = join(root, 'out');
    try {
      await Promise.all([mkdir(ctx), mkdir(out)]);
      if (contextError) throw new PleacoError('build_failed', `could not read the build context: ${(contextError as Error).message}`);
      await extract(req.context, ctx);
      const exists = await stat(join(ctx, 'Dockerfile')).then(() => true, () => false);
      if (!exists) throw new PleacoError('no_dockerfile', 'no Dockerfile at the root of the build context');
      await this.execute(req, ctx, out);
      return { imageId: await this.load(join(out, 'image.tar'), req) };
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason ?? err;
      if (isPleacoError(err)) throw err;
      if (isEngineDown(err)) throw engineUnavailable(this.engine.where, err);
      throw new PleacoError('build_failed', `kaniko build failed: ${(err as Error).message}`, { cause: err });
    } finally {
      await rm(root, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** Runs the executor over the unpacked context; fails with its last error line (or the OOM kill). */
  private async execute(req: BuildRequest, ctx: string, out: string): Promise<void> {
    const lines: string[] = [];
    const r = await this.engine.runJob({
      image: this.opts.image,
      cmd: kanikoArgs(req.tag, req.labels),
      labels: { ...req.labels, [LABELS.managed]: 'true', [LABELS.role]: 'build', ...(this.opts.nodeId ? { [LABELS.node]: this.opts.nodeId } : {}) },
      mounts: [{ source: ctx, target: '/workspace', readOnly: true }, { source: out, target: '/out' }],
      memoryBytes: req.memoryBytes,
      cpuShares: req.cpuShares,
      ...(this.opts.pids ? { pids: this.opts.pids } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
      onLine: (line) => {
        lines.push(line);
        if (lines.length > 50) lines.shift();
        req.onLog(line);
      },
    });
    req.signal?.throwIfAborted();
    if (r.exitCode === 0) return;
    const last = [...lines].reverse().find((l) => /error/i.test(l));
    throw new PleacoError('build_failed', r.oomKilled ? `kaniko was killed: out of memory (limit ${Math.round(req.memoryBytes / 1024 ** 2)} MiB)` : (last ?? `kaniko executor exited with code ${r.exitCode}`));
  }

  /** Loads the executor's tarball; tags the result with req.tag and returns its id. */
  private async load(tarPath: string, req: BuildRequest): Promise<string> {
    const loaded = await this.engine.loadImage(createReadStream(tarPath));
    const id = (await this.engine.inspectImage(loaded))?.id;
    if (!id) throw new PleacoError('build_failed', `the loaded image ${loaded} is not there`);
    if (loaded !== req.tag) await this.engine.tagImage(id, req.tag);
    req.onLog(`Loaded image ${req.tag} (${id})`);
    return id;
  }
}
