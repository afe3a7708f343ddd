/**
 * createAgent: the one place the agent is wired — the store, the services, the cluster member, the advisory
 * database replicator, the Docker adapters and the API servers. pleaco-agent (agent.ts) runs it; the tests'
 * agent (test/helpers/agent.ts) runs the same wiring with a temp state dir, so what they test is what runs.
 */
import { join } from 'node:path';
import { AppService, BuildLogs, DomainService, ScanService } from '../agent/index.js';
import { createApi, serveApi, type ApiServers } from '../api/index.js';
import type { ClusterNode } from '../cluster/index.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import { keys } from '../model/index.js';
import { connectDocker, DockerEngine, DockerRuntime } from '../runtime/docker/index.js';
import { EngineMonitor } from '../runtime/index.js';
import { ScanDbReplicator, scanDbRoot } from '../scan/index.js';
import { SoftState, Store, type Entry, type Replica } from '../state/index.js';
import { startCluster } from './cluster.js';

export interface AgentOptions {
  config: Config;
  nodeId: string;
  token: string;
  version: string;
  log: Logger;
  /** How long a deploy's event stream waits for the release's containers to run (ms). */
  rolloutTimeoutMs?: number;
}

export interface Agent {
  store: Store;
  apps: AppService;
  domains: DomainService;
  scan: ScanService;
  softState: SoftState;
  scanDb: ScanDbReplicator;
  /** This node's cluster member; null when the cluster port is off. */
  cluster: { node: ClusterNode; replica: Replica } | null;
  servers: ApiServers;
  /** Stops serving, leaves the cluster, closes the store. */
  close(): Promise<void>;
}

/** The `scan/db` record for the replicator: read from the store, written by the ScanService, watched by key. */
function scanDbRecord(store: Store, scan: ScanService): ConstructorParameters<typeof ScanDbReplicator>[0]['record'] {
  return {
    current: () => scan.db(),
    publish: (record) => scan.setDb(record),
    watch: (fn) => {
      const onChange = (e: Entry): void => {
        if (e.key === keys.scanDb) fn();
      };
      store.on('change', onChange);
      return () => void store.off('change', onChange);
    },
  };
}

export async function createAgent(o: AgentOptions): Promise<Agent> {
  const { config, nodeId, log } = o;
  const store = Store.open({ dir: join(config.stateDir, 'state'), nodeId, tombstoneTtlMs: config.store.tombstoneTtlMs, compactAfterEntries: config.store.compactAfterEntries });
  if (store.skippedOnLoad > 0) log.warn('state log had unreadable lines (a torn write from a crash is expected)', { skipped: store.skippedOnLoad });
  const docker = connectDocker(config.docker.socketPath);
  const runtime = new DockerRuntime({ engine: docker, nodeId, bindHost: config.runtime.bindHost, socketPath: config.docker.socketPath });
  const engine = new DockerEngine(docker);
  // What health and the deploy route know of the engine, kept fresh in the background: they never wait on it.
  const engineMonitor = new EngineMonitor({ where: engine.where, ping: () => engine.ping(), log: log.child({ component: 'engine' }) });
  await engineMonitor.start();
  const apps = new AppService({ store, allowLocalRepos: config.source.allowLocal });
  const domains = new DomainService({ store, apps, domain: config.proxy.domain });
  const scan = new ScanService({ store, apps });
  const softState = new SoftState();
  // The cluster member before the API: a node answers for the cluster once it has its replica running.
  const cluster = await startCluster({ config, store, nodeId, version: o.version, log });
  const scanDb = new ScanDbReplicator({ root: scanDbRoot(config), nodeId, record: scanDbRecord(store, scan), cluster: cluster?.node ?? null, log: log.child({ component: 'scan-db' }) });
  const { app } = createApi({
    config, nodeId, version: o.version, token: o.token, store, apps, domains, scan, scanDb, softState, log,
    buildLogs: new BuildLogs(join(config.stateDir, 'builds')),
    engine: engineMonitor,
    appLogs: runtime.appLogs,
    cluster: cluster?.node ?? null,
    ...(o.rolloutTimeoutMs !== undefined ? { rolloutTimeoutMs: o.rolloutTimeoutMs } : {}),
  });
  const servers = await serveApi(app, { host: config.api.host, port: config.api.port, socketPath: config.socketPath });
  return {
    store, apps, domains, scan, softState, scanDb, cluster, servers,
    close: async () => {
      await servers.close();
      await engineMonitor.stop();
      await scanDb.close();
      await cluster?.node.leave().catch(() => undefined);
      cluster?.replica.close();
      store.close();
    },
  };
}
