/**
 * pleaco-runner: this node's containers on Docker Engine, reconciled from state. Entry point of the
 * systemd unit and of `make up`'s launcher (`node dist/src/main/runner.js`); the one place where the
 * runner's real adapters are wired. SIGTERM/SIGINT stop reconciling and exit 0; the containers keep
 * running, and the next start adopts them.
 */
import { loadConfig } from '../config/index.js';
import { createLogger, setLogLevel } from '../log.js';
import { connectEngine, DockerRuntime, Runner, runnerPrefixes } from '../runtime/index.js';
import { StateMirror } from '../state/index.js';
import { connectToAgent, ensureNodeId, readVersion } from './node.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  setLogLevel(config.logLevel);
  let log = createLogger({ proc: 'runner' });

  let stopping = false;
  let runner: Runner | null = null;
  let mirror: StateMirror | null = null;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('runner stopping; containers keep running', { signal });
    await runner?.stop();
    mirror?.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  // The agent owns the token and the node id: wait for it before reading either.
  const client = await connectToAgent(config, 30_000, 60_000);
  if (stopping) return;
  const nodeId = ensureNodeId(config);
  log = log.child({ node: nodeId });
  const version = readVersion();

  mirror = new StateMirror(client, runnerPrefixes(nodeId));
  mirror.on('disconnected', (err: unknown) => log.debug('state watch disconnected; reconnecting', { error: err }));
  await mirror.start();
  if (stopping) return;

  const engine = connectEngine(config.docker.socketPath);
  const runtime = new DockerRuntime({ engine, nodeId, bindHost: config.runtime.bindHost, socketPath: config.docker.socketPath });
  runner = new Runner({ mirror, runtime, nodeId, config, log, version });
  await runner.start();
  log.info('runner ready', { node: nodeId, version, bindHost: config.runtime.bindHost, docker: config.docker.socketPath });
}

main().catch((err: unknown) => {
  createLogger({ proc: 'runner' }).error('runner failed to start', { error: err });
  process.exit(1);
});
