/**
 * pleaco-builder: works the build queue (fetch, build, test, scan, release) and polls repositories. Entry point of
 * the systemd unit and of `make up`'s launcher (`node dist/src/main/builder.js`); the one place where the
 * builder's real adapters are wired. SIGTERM/SIGINT: stop taking builds, abort the running one (recorded as
 * failed 'interrupted'), exit 0 within 10 s.
 */
import { join } from 'node:path';
import { BuildWorker, BUILDER_PREFIXES, DockerBuilder, KanikoBuilder, type Builder } from '../builder/index.js';
import { whenReady } from '../link/index.js';
import { ImageCache, imagesRoot } from '../runtime/index.js';
import { DockerEngine, scaledDeadlines } from '../runtime/docker/index.js';
import { AdvisoryStore, LayerInventoryCache, scanDbRoot, scanLayersRoot } from '../scan/index.js';
import { GitMirror, Poller } from '../source/index.js';
import { readVersion } from './node.js';
import { runSubsystem } from './subsystem.js';

runSubsystem({
  proc: 'builder',
  nice: 10,
  prefixes: () => BUILDER_PREFIXES,
  start: async ({ config, nodeId, view, members, link, log }) => {
    const engine = DockerEngine.connect(config.docker.socketPath, { deadlines: scaledDeadlines(config.docker.deadlineScale) });
    const builder: Builder =
      config.build.backend === 'kaniko'
        ? new KanikoBuilder(engine, { image: config.build.kanikoImage, nodeId, pids: config.build.pidsLimit, workDir: join(config.stateDir, 'tmp') })
        : new DockerBuilder(engine);
    const ready = await builder.available();
    if (!ready.ok) log.warn('build backend not available yet; builds fail until it is', { backend: builder.name, reason: ready.reason });
    const ping = await engine.ping();
    if (!ping.ok) log.warn('Docker Engine not reachable; builds fail with docker_unavailable until it is', { socket: config.docker.socketPath });

    const git = new GitMirror({ root: join(config.stateDir, 'git'), log: log.child({ subsystem: 'source' }) });
    // The agent of this node installs the advisory database there (scan/replicator.ts); the builder only reads it.
    const advisories = new AdvisoryStore(scanDbRoot(config));
    // Images are inventoried layer by layer, each layer's record cached by diffID; the agent's image-part cache is read
    // when it holds a layer and filled by one export when the engine's layer store cannot hand a layer out.
    const layers = { cache: new LayerInventoryCache(scanLayersRoot(config), config.scan.layerCacheMaxBytes), images: new ImageCache(imagesRoot(config), config.images.cacheMaxBytes), minFreeBytes: config.disk.minFreeBytes };
    // A node back from an absence takes and recovers builds only once its state caught up (no stale record rewritten).
    await whenReady(members, () => log.info('waiting for a full state sync with a peer before taking builds'));
    const worker = new BuildWorker({ view, link, git, builder, engine, nodeId, config, log, advisories, layers, version: readVersion() });
    await worker.start();
    const poller = new Poller({
      intervalMs: config.source.pollIntervalMs,
      allowLocal: config.source.allowLocal,
      list: () => worker.pollTargets(),
      lsRemote: (url, branch) => git.lsRemoteHead(url, branch),
      trigger: (app, commit) => worker.triggerPoll(app, commit),
      log: log.child({ subsystem: 'poller' }),
    });
    poller.start();
    log.info('builder ready', { backend: builder.name, pollIntervalMs: config.source.pollIntervalMs, docker: config.docker.socketPath });
    return async () => {
      await Promise.allSettled([poller.stop(), worker.stop(8000)]);
    };
  },
});
