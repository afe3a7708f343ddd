/**
 * pleaco-agent: the node's replicated state and admin API. Entry point of the systemd unit and of `make up`'s
 * launcher; the wiring itself is createAgent (wire-agent.ts), which the tests' agent runs too.
 */
import { loadConfig } from '../config/index.js';
import { createLogger, setLogLevel } from '../log.js';
import { startCore } from './core.js';
import { ensureNodeId, ensureStateDir, ensureToken, readVersion } from './node.js';
import { notifyReady, takeNotifySocket } from './notify.js';

async function main(): Promise<void> {
  takeNotifySocket();
  const config = loadConfig(process.env);
  setLogLevel(config.logLevel);
  ensureStateDir(config);
  const nodeId = ensureNodeId(config);
  const log = createLogger({ proc: 'agent', node: nodeId });
  const version = readVersion();
  // The store and the cluster member first, and its first round of joins (at most 2 s); then the rest of the agent
  // (API, Docker, scanner), which takes most of a start's CPU.
  const core = await startCore({ config, nodeId, version, log });
  await core.cluster?.discovery.firstRound();
  const { createAgent } = await import('./wire-agent.js');
  const agent = await createAgent({ config, nodeId, token: ensureToken(config), version, log, core });
  log.info('agent ready', { api: `http://${config.api.host}:${agent.servers.port}`, socket: config.socketPath, version, entries: agent.store.allEntries().length, cluster: agent.cluster?.node.addr ?? 'off' });
  notifyReady(log, `API on ${config.api.host}:${agent.servers.port}`);

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('agent stopping', { signal });
    await agent.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  createLogger({ proc: 'agent' }).error('agent failed to start', { err });
  process.exit(1);
});
