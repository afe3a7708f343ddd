/**
 * pleaco-builder: works the build queue (fetch, build, test, release) and polls repositories. Entry point of
 * the systemd unit and of `make up`'s launcher (`node dist/src/main/builder.js`); the one place where the
 * builder's real adapters are wired. SIGTERM/SIGINT: stop taking builds, abort the running one (recorded as
 * failed 'interrupted'), exit 0 within 10 s.
 */
import { join } from 'node:path';
import { BuildWorker, BUILDER_PREFIXES, DockerBuilder, KanikoBuilder, type Builder } from '../build/index.js';
import { loadConfig } from '../config/index.js';
import { createLogger, setLogLevel } from '../log.js';
import { connectEngine, pingEngine } from '../runtime/engine.js';
import { GitMirror, Poller } from '../source/index.js';
import { StateMirror } from '../state/index.js';
import { connectToAgent, ensureNodeId } from './node.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  setLogLevel(config.logLevel);
  let log = createLogger({ proc: 'builder' });

  let stopping = false;
  let worker: BuildWorker | null = null;
  let poller: Poller | null = null;
  let mirror: StateMirror | null = null;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('builder stopping', { signal });
    const hard = setTimeout(() => process.exit(0), 9500);
    hard.unref();
    await Promise.allSettled([poller?.stop(), worker?.stop(8000)]);
    mirror?.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  // The agent owns the token and the node id: wait for it (token file + socket) before reading either.
  const client = await connectToAgent(config, 30_000, 60_000);
  if (stopping) return;
  const nodeId = ensureNodeId(config);
  log = log.child({ node: nodeId });

  mirror = new StateMirror(client, BUILDER_PREFIXES);
  mirror.on('disconnected', (err: unknown) => log.debug('state watch disconnected; reconnecting', { error: err }));
  await mirror.start();
  if (stopping) return;

  const engine = connectEngine(config.docker.socketPath);
  const builder: Builder =
    config.build.backend === 'kaniko'
      ? new KanikoBuilder(engine, { image: config.build.kanikoImage, socketPath: config.docker.socketPath, nodeId, workDir: join(config.stateDir, 'tmp') })
      : new DockerBuilder(engine, config.docker.socketPath);
  const ready = await builder.available();
  if (!ready.ok) log.warn('build backend not available yet; builds fail until it is', { backend: builder.name, reason: ready.reason });
  const ping = await pingEngine(engine);
  if (!ping.ok) log.warn('Docker Engine not reachable; builds fail with docker_unavailable until it is', { socket: config.docker.socketPath });

  const git = new GitMirror({ root: join(config.stateDir, 'git'), log: log.child({ subsystem: 'source' }) });
  const w = new BuildWorker({ mirror, client, git, builder, engine, nodeId, config, log });
  worker = w;
  await w.start();
  if (stopping) return;

  poller = new Poller({
    intervalMs: config.source.pollIntervalMs,
    list: () => w.pollTargets(),
    lsRemote: (url, branch) => git.lsRemoteHead(url, branch),
    trigger: (app, commit) => w.triggerPoll(app, commit),
    log: log.child({ subsystem: 'poller' }),
  });
  poller.start();
  log.info('builder ready', { backend: builder.name, pollIntervalMs: config.source.pollIntervalMs, docker: config.docker.socketPath });
}

main().catch((err: unknown) => {
  createLogger({ proc: 'builder' }).error('builder failed to start', { error: err });
  process.exit(1);
});
