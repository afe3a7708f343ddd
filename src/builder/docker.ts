/**
 * DockerBuilder: the node's ContainerEngine builds the image (on Docker Engine: its own build API, the classic
 * builder). The labels go into one LABEL step of a copy of the Dockerfile (tarlabel.ts), not one step each.
 */
import { PleacoError } from '../errors.js';
import type { ContainerEngine } from '../runtime/index.js';
import type { BuildRequest, Builder } from './builder.js';
import { DockerfileLabeler, LABELLED_DOCKERFILE } from './tarlabel.js';
import { LABELS } from '../model/index.js';

const STAGE_LABELS: string[] = [LABELS.managed, LABELS.app, LABELS.node];

export class DockerBuilder implements Builder {
  readonly name = 'docker' as const;

  constructor(private readonly engine: ContainerEngine) {}

  async available(): Promise<{ ok: boolean; reason?: string }> {
    const ping = await this.engine.ping();
    return ping.ok ? { ok: true } : { ok: false, reason: `Docker Engine is not reachable at ${this.engine.where}: ${ping.error}` };
  }

  async build(req: BuildRequest): Promise<{ imageId: string }> {
    req.signal?.throwIfAborted();
    // One signal for the request: the caller's abort, or the context stream failing (a git archive error
    // would otherwise leave the Engine waiting for the rest of the tar).
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(req.signal?.reason);
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const onContextError = (err: Error): void => ac.abort(new PleacoError('build_failed', `could not read the build context: ${err.message}`, { cause: err }));
    req.context.on('error', onContextError);
    try {
      // Every step's image carries the stable labels (managed, app, node), so a failed build's layers can be found.
      const stable = Object.fromEntries(Object.entries(req.labels).filter(([k]) => STAGE_LABELS.includes(k)));
      const context = req.context.pipe(new DockerfileLabeler(req.labels, stable));
      req.context.on('error', (err: Error) => context.destroy(err));
      return await this.engine.buildImage({
        context,
        dockerfile: LABELLED_DOCKERFILE,
        tag: req.tag,
        memoryBytes: req.memoryBytes,
        cpuShares: req.cpuShares,
        onLog: req.onLog,
        signal: ac.signal,
      });
    } finally {
      req.signal?.removeEventListener('abort', onAbort);
      req.context.removeListener('error', onContextError);
      req.context.on('error', () => undefined); // a late error of an abandoned context must not crash the process
    }
  }
}
