/**
 * pleaco-runner: this node's containers on Docker Engine, reconciled from state. Entry point of the
 * systemd unit and of `make up`'s launcher (`node dist/src/main/runner.js`); the one place where the
 * runner's real adapters are wired. SIGTERM/SIGINT stop reconciling and exit 0; the containers keep
 * running, and the next start adopts them.
 */
import { connectEngine, DockerRuntime, Runner, runnerPrefixes } from '../runtime/index.js';
import { readVersion } from './node.js';
import { runSubsystem } from './subsystem.js';

runSubsystem({
  proc: 'runner',
  prefixes: runnerPrefixes,
  stopNote: 'runner stopping; containers keep running',
  start: async ({ config, client, nodeId, mirror, log }) => {
    const version = readVersion();
    const engine = connectEngine(config.docker.socketPath);
    const runtime = new DockerRuntime({ engine, nodeId, bindHost: config.runtime.bindHost, socketPath: config.docker.socketPath });
    const failRelease = (app: string, release: number, report: object): Promise<unknown> =>
      client.request('POST', `/v1/internal/apps/${encodeURIComponent(app)}/releases/${release}/fail`, { body: report });
    const runner = new Runner({ mirror, runtime, nodeId, config, log, version, failRelease });
    await runner.start();
    log.info('runner ready', { node: nodeId, version, bindHost: config.runtime.bindHost, docker: config.docker.socketPath });
    return () => runner.stop();
  },
});
