/**
 * KanikoBuilder: runs the kaniko executor image as a labelled container (role=build) on this node's
 * Engine. The context tar is extracted into a temp dir bind-mounted read-only at /workspace; the executor
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
import { LABELS } from '../core/model.js';
import { engineError, isEngineDown, type Engine } from '../runtime/engine.js';
import type { BuildRequest, Builder } from './builder.js';
import { Demuxer, LineSplitter } from './streams.js';

export interface KanikoOptions {
  image: string;
  socketPath: string;
  /** Labels the executor container with io.pleaco.node, so a crashed builder's leftovers are found. */
  nodeId?: string;
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
    private readonly engine: Engine,
    private readonly opts: KanikoOptions,
  ) {}

  async available(): Promise<{ ok: boolean; reason?: string }> {
    try {
      await this.engine.getImage(this.opts.image).inspect();
      return { ok: true };
    } catch (err) {
      if (isEngineDown(err)) return { ok: false, reason: `Docker Engine is not reachable at ${this.opts.socketPath}` };
      if ((err as { statusCode?: number }).statusCode === 404) {
        return { ok: false, reason: `executor image ${this.opts.image} not present (no registry here; load it with docker load)` };
      }
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
    let container: ReturnType<Engine['getContainer']> | null = null;
    try {
      await Promise.all([mkdir(ctx), mkdir(out)]);
      if (contextError) throw new PleacoError('build_failed', `could not read the build context: ${(contextError as Error).message}`);
      await extract(req.context, ctx);
      const exists = await stat(join(ctx, 'Dockerfile')).then(() => true, () => false);
      if (!exists) throw new PleacoError('no_dockerfile', 'no Dockerfile at the root of the build context');
      container = await this.engine.createContainer({
        Image: this.opts.image,
        Cmd: kanikoArgs(req.tag, req.labels),
        Labels: { ...req.labels, [LABELS.managed]: 'true', [LABELS.role]: 'build', ...(this.opts.nodeId ? { [LABELS.node]: this.opts.nodeId } : {}) },
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
        HostConfig: {
          Binds: [`${ctx}:/workspace:ro`, `${out}:/out`],
          Memory: req.memoryBytes,
          MemorySwap: req.memoryBytes,
          CpuShares: req.cpuShares,
        },
      });
      const c = container;
      const lines: string[] = [];
      const onLine = (line: string): void => {
        lines.push(line);
        if (lines.length > 50) lines.shift();
        req.onLog(line);
      };
      const splitOut = new LineSplitter(onLine);
      const splitErr = new LineSplitter(onLine);
      const demux = new Demuxer((kind, data) => (kind === 'stderr' ? splitErr : splitOut).push(data));
      const stream = await c.attach({ stream: true, stdout: true, stderr: true });
      const ended = new Promise<void>((r) => {
        stream.on('data', (d: Buffer) => demux.push(d));
        stream.on('end', r);
        stream.on('close', r);
        stream.on('error', () => r());
      });
      await c.start();
      const onAbort = (): void => void c.kill({ signal: 'SIGKILL' }).catch(() => undefined);
      req.signal?.addEventListener('abort', onAbort, { once: true });
      if (req.signal?.aborted) onAbort();
      let code: number;
      try {
        code = ((await c.wait()) as { StatusCode: number }).StatusCode;
      } finally {
        req.signal?.removeEventListener('abort', onAbort);
      }
      await Promise.race([ended, new Promise((r) => setTimeout(r, 2000))]);
      splitOut.end();
      splitErr.end();
      req.signal?.throwIfAborted();
      if (code !== 0) {
        const oom = Boolean((await c.inspect()).State?.OOMKilled);
        const last = [...lines].reverse().find((l) => /error/i.test(l));
        throw new PleacoError('build_failed', oom ? `kaniko was killed: out of memory (limit ${Math.round(req.memoryBytes / 1024 ** 2)} MiB)` : (last ?? `kaniko executor exited with code ${code}`));
      }
      return { imageId: await this.load(join(out, 'image.tar'), req) };
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason ?? err;
      if (isPleacoError(err)) throw err;
      if (isEngineDown(err)) throw engineError(err, this.opts.socketPath);
      throw new PleacoError('build_failed', `kaniko build failed: ${(err as Error).message}`, { cause: err });
    } finally {
      if (container) await container.remove({ force: true, v: true }).catch(() => undefined);
      await rm(root, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** docker load of the executor's tarball; tags the result with req.tag and returns its id. */
  private async load(tarPath: string, req: BuildRequest): Promise<string> {
    const res = await this.engine.loadImage(createReadStream(tarPath), { quiet: true } as object);
    let text = '';
    for await (const chunk of res as AsyncIterable<Buffer>) text += chunk.toString('utf8');
    let loaded: string | null = null;
    for (const raw of text.split('\n')) {
      if (!raw.trim()) continue;
      const ev = JSON.parse(raw) as { stream?: string; error?: string; errorDetail?: { message?: string } };
      if (ev.error || ev.errorDetail) throw new PleacoError('build_failed', `docker load: ${ev.errorDetail?.message ?? ev.error}`);
      const m = /Loaded image(?: ID)?: (\S+)/.exec(ev.stream ?? '');
      if (m?.[1]) loaded = m[1];
    }
    if (!loaded) throw new PleacoError('build_failed', 'docker load did not report the loaded image');
    const id = (await this.engine.getImage(loaded).inspect()).Id;
    if (loaded !== req.tag) {
      const i = req.tag.lastIndexOf(':');
      await this.engine.getImage(id).tag({ repo: req.tag.slice(0, i), tag: req.tag.slice(i + 1) });
    }
    req.onLog(`Loaded image ${req.tag} (${id})`);
    return id;
  }
}
