/** What the routes are given: the core and the adapters main/ wired in. Routes never build their own. */
import type { ClusterHealth, MemberView } from '../cluster/index.js';
import type { Config } from '../config/index.js';
import type { AppService, BuildLogs, DomainService, NodeService, ScanService } from '../agent/index.js';
import type { DiscoveryStatus } from '../discovery/index.js';
import type { ImageCounters, ImageEnsureResult, ImageTransfer, ScanDbRecord, Seed } from '../model/index.js';
import type { Logger } from '../log.js';
import type { AppLogReader, EngineHealth } from '../runtime/index.js';
import type { SoftState, Store } from '../state/index.js';
import type { VerifiedBundle } from '../update/index.js';

/** What the API shows of the cluster member (ClusterNode satisfies it). */
export interface ClusterView {
  members(): MemberView[];
  health(): ClusterHealth;
  on(event: 'member', listener: () => void): unknown;
  off(event: 'member', listener: () => void): unknown;
}

/** How this node finds its cluster (discovery/): what it knows and `pleaco join`. */
export interface DiscoveryControl {
  status(): DiscoveryStatus;
  addSeeds(raw: string[]): Seed[];
}

/** Loads a new advisory database on this node and says which copy it holds. */
export interface ScanDbControl {
  load(source: string, o: { signal: AbortSignal; onProgress: (line: string) => void }): Promise<ScanDbRecord>;
  installed(): Promise<{ digest: string; records: number; loadedAt: string } | null>;
}

/** Images between nodes (runtime/images' ImageService): the runner's ensure and the transfer counters. */
export interface ImageControl {
  ensure(imageId: string, app: string): Promise<ImageEnsureResult>;
  counters(): ImageCounters;
  recent(): ImageTransfer[];
}

/** What the update routes use of the agent's host updater (update/updater.ts). */
export interface UpdateControl {
  /** The running host, null off the golden image. */
  host: { slot: 'a' | 'b'; version: string } | null;
  keep(tmp: string): Promise<VerifiedBundle>;
  /** The bundle of that id when this node holds it, verified; null otherwise. */
  held(id: string): Promise<VerifiedBundle | null>;
  gate(): { ok: boolean; why: string };
}

export interface ApiDeps {
  config: Config;
  nodeId: string;
  version: string;
  token: string;
  store: Store;
  apps: AppService;
  domains: DomainService;
  scan: ScanService;
  nodes: NodeService;
  /** This node's copy of the advisory database (scan/replicator.ts); absent: the node keeps none. */
  scanDb?: ScanDbControl;
  /** Values with a TTL, in this agent's memory only (the proxy's metrics: `metrics/<node>/<app>`). */
  softState: SoftState;
  buildLogs: BuildLogs;
  /**
   * This node's container engine as last checked in the background (its reachability is part of health and of every
   * deploy): read, never waited on, so a wedged engine cannot hang a request.
   */
  engine: EngineHealth;
  appLogs: AppLogReader;
  log: Logger;
  /** Brings images this node's runner needs from peers; absent: none are moved (a test agent without Docker). */
  images?: ImageControl;
  /** This node's cluster member (membership + replication); null when the node runs on its own. */
  cluster?: ClusterView | null;
  /** Discovery of the cluster member; null when the node runs on its own. */
  discovery?: DiscoveryControl | null;
  /** This node's host updater (update/updater.ts); absent: no host updates here (a test agent, `make up`). */
  update?: UpdateControl;
  /** How long a deploy's event stream waits for the release's containers to run (ms). */
  rolloutTimeoutMs?: number;
}
