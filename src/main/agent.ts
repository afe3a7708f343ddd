/**
 * pleaco-agent: the node's replicated state and admin API. Entry point of the systemd unit and of
 * `make up`'s launcher. The one place where the agent's real adapters are wired.
 */
import { join } from 'node:path';
import { createApi, serveApi } from '../api/index.js';
import { loadConfig } from '../config/index.js';
import { AppService, BuildLogs, DomainService, ScanService } from '../core/index.js';
import { createLogger, setLogLevel } from '../log.js';
import { connectEngine, tailLogs } from '../runtime/index.js';
import { SoftState, Store } from '../state/index.js';
import { startCluster } from './cluster.js';
import { ScanDbReplicator } from './scandb.js';
import { ensureNodeId, ensureStateDir, ensureToken, readVersion } from './node.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  setLogLevel(config.logLevel);
  ensureStateDir(config);
  const nodeId = ensureNodeId(config);
  const log = createLogger({ proc: 'agent', node: nodeId });
  const token = ensureToken(config);
  const version = readVersion();
  const store = Store.open({ dir: join(config.stateDir, 'state'), nodeId, tombstoneTtlMs: config.store.tombstoneTtlMs, compactAfterEntries: config.store.compactAfterEntries });
  if (store.skippedOnLoad > 0) log.warn('state log had unreadable lines (a torn write from a crash is expected)', { skipped: store.skippedOnLoad });
  const engine = connectEngine(config.docker.socketPath);
  const apps = new AppService({ store, allowLocalRepos: config.source.allowLocal });
  const domains = new DomainService({ store, apps, domain: config.proxy.domain });
  const buildLogs = new BuildLogs(join(config.stateDir, 'builds'));
  // The cluster member before the API: a node answers for the cluster once it has its replica running.
  const cluster = await startCluster({ config, store, nodeId, version, log });
  const scan = new ScanService({ store, apps });
  const scanDb = new ScanDbReplicator({ config, store, scan, nodeId, cluster: cluster?.node ?? null, log: log.child({ component: 'scan-db' }) });
  const { app } = createApi({
    config, nodeId, version, token, store, apps, domains, scan, scanDb, softState: new SoftState(), buildLogs, engine, log, cluster: cluster?.node ?? null,
    appLogs: (name, opts, onLine) => tailLogs(engine, nodeId, name, opts, onLine),
  });
  const servers = await serveApi(app, { host: config.api.host, port: config.api.port, socketPath: config.socketPath });
  log.info('agent ready', { api: `http://${config.api.host}:${servers.port}`, socket: config.socketPath, version, entries: store.allEntries().length, cluster: cluster?.node.addr ?? 'off' });

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('agent stopping', { signal });
    await servers.close();
    scanDb.close();
    await cluster?.node.leave().catch(() => undefined);
    cluster?.replica.close();
    store.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  createLogger({ proc: 'agent' }).error('agent failed to start', { err });
  process.exit(1);
});
