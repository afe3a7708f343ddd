/**
 * createAgent: the one place the agent is wired — the store, the services, the cluster member, the advisory
 * database replicator, images between nodes, the Docker adapters and the API servers. pleaco-agent (agent.ts) runs it; the tests'
 * agent (test/helpers/agent.ts) runs the same wiring with a temp state dir, so what they test is what runs.
 */
import { join } from 'node:path';
import { AppService, Autoscaler, DECIDE_EVERY_MS, BuildLogs, BuildRetention, DomainService, NodeService, OwnedAppService, OwnerGate, ScanService, takeOverBuilds, watchReleases, type TakeoverOptions } from '../agent/index.js';
import { createApi, serveApi, type ApiServers } from '../api/index.js';
import type { ClusterNode } from '../cluster/index.js';
import type { Config } from '../config/index.js';
import { Reconciler } from '../link/index.js';
import type { Logger } from '../log.js';
import { keys, liveMemberIds, type Build } from '../model/index.js';
import { connectDocker, DockerEngine, DockerRuntime, scaledDeadlines } from '../runtime/docker/index.js';
import { EngineMonitor, ImageService, imagesRoot } from '../runtime/index.js';
import { startUpdater } from './wire-update.js';
import { ScanDbReplicator, scanDbRoot } from '../scan/index.js';
import { SoftState, Store, type Entry } from '../state/index.js';
import type { ClusterParts } from './cluster.js';
import { startCore, type Core } from './core.js';

export interface AgentOptions {
  config: Config;
  nodeId: string;
  token: string;
  version: string;
  log: Logger;
  /** How long a deploy's event stream waits for the release's containers to run (ms). */
  rolloutTimeoutMs?: number;
  /** The store and cluster member, when started already (agent.ts: startCore before loading this module). */
  core?: Core;
}

export interface Agent {
  store: Store;
  apps: AppService;
  domains: DomainService;
  scan: ScanService;
  softState: SoftState;
  scanDb: ScanDbReplicator;
  /** Images between nodes: serves this node's images to peers, fetches those its runner needs. */
  images: ImageService;
  /** This node's cluster member; null when the cluster port is off. */
  cluster: ClusterParts | null;
  servers: ApiServers;
  /** Runs a build-retention pass now (or right after the one in flight); resolves when it is done. */
  pruneBuilds(): Promise<void>;
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

/** How often build retention runs without a new build to trigger it, and its first pass after start. */
const RETENTION_TICK_MS = 10 * 60_000;
const RETENTION_FIRST_MS = 60_000;

/**
 * Build retention as a Reconciler: kicked (debounced) by every newly queued build, here or from a peer, and
 * ticked as a safety net. Every agent runs it; concurrent passes on two nodes tombstone the same keys.
 */
function startRetention(store: Store, buildLogs: BuildLogs, keepBuilds: number, log: Logger): Reconciler {
  const retention = new BuildRetention({ store, logs: buildLogs, keepBuilds });
  const loop = new Reconciler({
    pass: async () => {
      const r = await retention.prune();
      if (r.keys > 0 || r.logs > 0) log.info('old builds pruned', { ...r, keepBuilds });
    },
    debounceMs: 2000,
    tickMs: RETENTION_TICK_MS,
    onError: (err) => log.warn('build retention failed', { error: err instanceof Error ? err.message : String(err) }),
  });
  store.on('change', (e: Entry) => {
    if (e.key.startsWith('builds/') && (e.value as Build | null)?.status === 'queued') loop.kick();
  });
  void loop.start(false);
  loop.kick(RETENTION_FIRST_MS); // not during start-up: a minute after it
  return loop;
}

/** The autoscaler's pass every DECIDE_EVERY_MS: metrics to the owners, decisions for the apps this node owns. */
function startAutoscaler(autoscaler: Autoscaler, log: Logger): Reconciler {
  const loop = new Reconciler({ pass: () => autoscaler.pass(), tickMs: DECIDE_EVERY_MS, debounceMs: 200, onError: (err) => log.warn('autoscaling pass failed', { error: err instanceof Error ? err.message : String(err) }) });
  void loop.start(false);
  return loop;
}

/** The owner's take-over of builds on nodes that left: kicked by membership changes, ticked as a safety net. */
function startTakeover(node: ClusterNode, gate: OwnerGate, o: Pick<TakeoverOptions, 'store' | 'apps' | 'self' | 'log'>): Reconciler {
  const loop = new Reconciler({
    pass: async () => void (await takeOverBuilds({ ...o, members: () => node.members(), owner: (app) => gate.owner(app) })),
    debounceMs: 1000,
    tickMs: 30_000,
    onError: (err) => o.log.warn('build take-over failed', { error: err instanceof Error ? err.message : String(err) }),
  });
  node.on('member', () => loop.kick());
  // A build claimed for a node that is gone already (a claim that raced the node's death) is looked at too.
  o.store.on('change', (e: Entry) => {
    if (e.key.startsWith('builds/') && (e.value as Build | null)?.status === 'running') loop.kick();
  });
  void loop.start(false);
  return loop;
}

/**
 * An image this node built is exported for the peers as soon as its tests start: the other runners start the release
 * ahead (warm) while the gates run, and their first ask then finds the layers ready.
 */
function offerBuiltImages(store: Store, images: ImageService, self: string, hasPeers: () => boolean): void {
  const offered = new Set<string>();
  store.on('change', (e: Entry) => {
    const b = e.value as Build | null;
    if (!e.key.startsWith('builds/') || b?.node !== self || b.status !== 'running' || b.stage !== 'test' || typeof b.imageId !== 'string' || offered.has(b.imageId)) return;
    if (!hasPeers()) return; // on its own, nobody will ask: no export
    if (offered.size >= 64) offered.clear();
    offered.add(b.imageId);
    images.prepare(b.imageId).catch(() => undefined); // logged by the image source; a peer's ask tries again
  });
}

export async function createAgent(o: AgentOptions): Promise<Agent> {
  const { config, nodeId, log } = o;
  // The store and the cluster member first (agent.ts starts them before this module is even loaded).
  const { store, cluster } = o.core ?? (await startCore({ config, nodeId, version: o.version, log }));
  const docker = connectDocker(config.docker.socketPath);
  const deadlines = scaledDeadlines(config.docker.deadlineScale);
  const runtime = new DockerRuntime({ engine: docker, nodeId, bindHost: config.runtime.bindHost, socketPath: config.docker.socketPath, deadlines });
  const engine = new DockerEngine(docker, { deadlines });
  // What health and the deploy route know of the engine, kept fresh in the background: they never wait on it.
  const engineMonitor = new EngineMonitor({ where: engine.where, ping: () => engine.ping(), dataRoot: () => engine.dataRoot(), log: log.child({ component: 'engine' }) });
  await engineMonitor.start();
  const softState = new SoftState();
  // In a cluster, the decisions about an app are taken by its owner (agent/owner.ts); on its own, here.
  const appOpts = { store, allowLocalRepos: config.source.allowLocal };
  const gate = cluster ? new OwnerGate({ self: nodeId, peers: cluster.node, absorb: async (entries) => void (await store.applyRemote(entries)), log: log.child({ component: 'owner' }) }) : null;
  const apps = gate ? new OwnedAppService(appOpts, gate) : new AppService(appOpts);
  const domains = new DomainService({ store, apps, domain: config.proxy.domain });
  const scan = new ScanService({ store, apps });
  const nodes = new NodeService({ store, members: () => cluster?.node.members().map((m) => m.id) ?? [nodeId] });
  const buildLogs = new BuildLogs(join(config.stateDir, 'builds'));
  const scanDb = new ScanDbReplicator({ root: scanDbRoot(config), nodeId, record: scanDbRecord(store, scan), cluster: cluster?.node ?? null, log: log.child({ component: 'scan-db' }) });
  const images = new ImageService({ root: imagesRoot(config), nodeId, engine, state: store, cluster: cluster?.node ?? null, config, log: log.child({ component: 'images' }) });
  const updater = await startUpdater({ nodeId, stateDir: config.stateDir, store, cluster: cluster?.node ?? null, log, env: process.env });
  const { app } = createApi({
    config, nodeId, version: o.version, token: o.token, store, apps, domains, scan, nodes, scanDb, images, softState, log,
    ...(updater ? { update: updater } : {}),
    buildLogs,
    engine: engineMonitor,
    appLogs: runtime.appLogs,
    cluster: cluster?.node ?? null,
    discovery: cluster?.discovery ?? null,
    ...(o.rolloutTimeoutMs !== undefined ? { rolloutTimeoutMs: o.rolloutTimeoutMs } : {}),
  });
  const servers = await serveApi(app, { host: config.api.host, port: config.api.port, socketPath: config.socketPath });
  const retention = startRetention(store, buildLogs, config.retention.keepBuilds, log.child({ component: 'retention' }));
  const unwatchReleases = cluster ? watchReleases(store, apps, log.child({ component: 'releases' })) : null;
  if (cluster) offerBuiltImages(store, images, nodeId, () => liveMemberIds(cluster.node.members(), nodeId).size > 1);
  const takeover = cluster && gate ? startTakeover(cluster.node, gate, { store, apps, self: nodeId, log: log.child({ component: 'takeover' }) }) : null;
  let autoscaleLoop: Reconciler | null = null;
  const autoscaler = startAutoscaler(new Autoscaler({
    store, soft: softState, scaleTo: (app, from, to) => apps.autoscaleTo(app, from, to), peers: cluster?.node ?? null, self: nodeId, log: log.child({ component: 'autoscale' }),
    live: () => (cluster ? liveMemberIds(cluster.node.members(), nodeId) : new Set([nodeId])),
    owner: (app) => (gate ? gate.owner(app) : nodeId),
    onMetrics: () => autoscaleLoop?.kick(),
  }), log);
  autoscaleLoop = autoscaler;
  return {
    store, apps, domains, scan, softState, scanDb, images, cluster, servers,
    pruneBuilds: () => retention.run(),
    close: async () => {
      await servers.close();
      await updater?.stop();
      await retention.stop();
      await takeover?.stop();
      await autoscaler.stop();
      unwatchReleases?.();
      await engineMonitor.stop();
      await scanDb.close();
      await images.close();
      await cluster?.discovery.stop();
      await cluster?.node.leave().catch(() => undefined);
      cluster?.replica.close();
      store.close();
      await store.whenIdle();
    },
  };
}
