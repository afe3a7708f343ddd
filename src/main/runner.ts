/**
 * pleaco-runner: this node's containers on Docker Engine, reconciled from state. Entry point of the
 * systemd unit and of `make up`'s launcher (`node dist/src/main/runner.js`); the one place where the
 * runner's real adapters are wired. SIGTERM/SIGINT stop reconciling and exit 0; the containers keep
 * running, and the next start adopts them.
 */
import { imageHook, Runner, runnerPrefixes } from '../runtime/index.js';
import { connectDocker, DockerEngine, DockerRuntime, scaledDeadlines } from '../runtime/docker/index.js';
import { readVersion } from './node.js';
import { runSubsystem } from './subsystem.js';

runSubsystem({
  proc: 'runner',
  prefixes: runnerPrefixes,
  stopNote: 'runner stopping; containers keep running',
  start: async ({ config, nodeId, view, members, link, log }) => {
    const version = readVersion();
    const docker = connectDocker(config.docker.socketPath);
    const deadlines = scaledDeadlines(config.docker.deadlineScale);
    const runtime = new DockerRuntime({ engine: docker, nodeId, bindHost: config.runtime.bindHost, socketPath: config.docker.socketPath, deadlines });
    // A slot's image missing here is fetched by the agent from a member that has it.
    const ensureImage = imageHook(new DockerEngine(docker, { deadlines }), (id, app) => link.ensureImage(id, app), log);
    const runner = new Runner({ view, members, link, runtime, nodeId, config, log, version, ensureImage });
    await runner.start();
    log.info('runner ready', { node: nodeId, version, bindHost: config.runtime.bindHost, docker: config.docker.socketPath });
    return () => runner.stop();
  },
});
