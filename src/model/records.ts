/**
 * The domain model and where each record lives in the replicated state.
 *
 * Desired state (LWW registers, any node may write):
 *   apps/<app>                 AppSpec
 *   env/<app>/<KEY>            string           (one key per variable, so concurrent config:set of different keys both win)
 *   scale/<app>                ScaleSpec
 *   current/<app>              CurrentRelease   (which release should run)
 *   releases/<app>/<n>         Release          (immutable once written)
 *   builds/<app>/<id>          Build            (the build queue and its history)
 *   domains/<host>             DomainRecord     (one key per host, so who owns a host is a single LWW register;
 *                                                the implicit <app>.<cluster domain> is never stored)
 *   health/<app>               HealthCheck      (absent: DEFAULT_HEALTHCHECK)
 *   scan/policy/<app>          ScanPolicy       (absent: the cluster default)
 *   scan/policy-default        ScanPolicy       (absent: DEFAULT_SCAN_POLICY)
 *   scan/db                    ScanDbRecord     (the advisory database every node should hold; fetched by digest)
 *   nodes/<node>               NodeSpec         (what an operator decided about a node: drained or not)
 *   update/desired             DesiredHost      (host.ts: the host version the cluster should run)
 *   update/bad/<version>       BadVersion       (host.ts: a host version a node could not become healthy on)
 *   scans/<app>/<build>        ScanReport       (immutable: what the builder found, allowed and blocked)
 *   sboms/<app>/<build>        StoredSbom       (immutable: the CycloneDX SBOM, gzipped)
 * Observed state (one writer: the node named in the key):
 *   obs/<node>/slots/<app>#<i> SlotStatus
 *   obs/<node>/node            NodeStatus
 *   obs/<node>/proxy           ProxyStatus      (written by that node's pleaco-proxy)
 *   obs/<node>/proxy-draining  ProxyDraining    (that node's pleaco-proxy: servers still draining; on change)
 *   obs/<node>/host            HostStatus       (host.ts: that node's agent: slot, host version, update state)
 * Free-form (any writer; what POST /v1/internal/state admits is model/schema.ts):
 *   bench/<name>               anything         (benchmarks and cluster tests; read by nothing of pleaco)
 * Soft state (the agent's memory only, with a TTL; POST /v1/internal/soft):
 *   metrics/<node>/<app>       AppMetrics       (posted by the proxy of <node> every ~2 s)
 */

import type { Resources } from './resources.js';
import type { ScanSummary } from './scan.js';


export interface AppSpec {
  name: string;
  repo: string;
  branch: string;
  /** HMAC secret for GitHub webhooks (X-Hub-Signature-256). Never logged. */
  webhookSecret: string;
  createdAt: string;
  /** Overrides for what the repository's pleaco.json/yaml says. */
  port?: number;
  testCommand?: string;
  /** Poll interval override in ms; 0 disables polling for this app. */
  pollIntervalMs?: number;
  /** Container limits set with `resources:set` (absent fields: the node's defaults). */
  resources?: Resources;
}

export interface ScaleSpec {
  replicas: number;
}

export interface CurrentRelease {
  release: number;
}

export type BuildStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'superseded';
export type BuildStage = 'queued' | 'fetch' | 'build' | 'test' | 'scan' | 'release' | 'done';

export interface TestResult {
  command: string | null;
  /** Set when there was no test command: the release was not gated, and says so. */
  skipped?: string;
  exitCode?: number;
  timedOut?: boolean;
  durationMs?: number;
  /** The last part of the output (the full output is in the build log). */
  output?: string;
}

export interface Build {
  id: string;
  app: string;
  /** What the user asked for: a branch, tag or commit. */
  ref: string;
  status: BuildStatus;
  stage: BuildStage;
  trigger: 'api' | 'webhook' | 'poll' | 'up';
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  node?: string;
  commit?: string;
  image?: string;
  imageId?: string;
  /** The port the image's app listens on (resolved after the image build): what its release will run with. */
  port?: number;
  builder?: string;
  test?: TestResult;
  release?: number;
  error?: { code: string; message: string };
  durations?: Partial<Record<'fetch' | 'build' | 'test' | 'scan', number>>;
  /** The scan's outcome (also for a build the scan blocked; the report: scans/<app>/<id>). */
  scan?: ScanSummary;
  /** Re-queued once after the builder working on it was lost (a crash, or its node left the cluster). */
  retried?: boolean;
}

/**
 * What becomes of a build whose builder was lost (crashed, or its node left the cluster): re-queued once (most
 * losses are transient: an OOM kill, a reboot), or failed 'interrupted' when it was retried already or a newer build
 * of the app overtook it, so a build that kills its builder cannot loop forever.
 */
export function recoveredBuild(b: Build, newer: boolean, message: string, now: Date): Build {
  if (b.retried || newer) return { ...b, status: 'failed', finishedAt: now.toISOString(), error: { code: 'interrupted', message } };
  const { node: _n, startedAt: _s, ...rest } = b;
  return { ...rest, status: 'queued', stage: 'queued', retried: true };
}

export interface Release {
  app: string;
  number: number;
  kind: 'deploy' | 'rollback' | 'config';
  description: string;
  commit: string | null;
  image: string | null;
  imageId: string | null;
  build: string | null;
  test: TestResult | null;
  /** Container port the app listens on. */
  port: number;
  /** Environment at the time of the release (immutable). */
  config: Record<string, string>;
  createdAt: string;
  /** For rollbacks: the release whose image and config were used. */
  from?: number;
  /** What the scan found (the full report: scans/<app>/<build>). Absent for releases made before scanning. */
  scan?: ScanSummary;
  /** Set when the release's replicas never got healthy in its rollout (the release itself stays as it was). */
  failure?: ReleaseFailure;
  /** The app's container limits when the release was made (absent: the node's defaults). */
  resources?: Resources;
  /**
   * Numbered vN on one side of a partition while the other side numbered its own vN too: the release written last
   * kept vN (and current), this one was given the next free number after the heal (agent/releaseguard.ts).
   */
  renumberedFrom?: number;
  /** The `createdAt` of the app spec it was made for: which app it belongs to when one name was made twice (a merge). */
  appCreatedAt?: string;
}

/**
 * One app name made separately on two sides that then merged (two clusters that found each other, or a partition
 * long enough for an app to be deleted and made again): LWW kept the spec written last; the other app's releases are
 * not kept under its name (`clashes/<app>`, written by the app's owner, shown by `pleaco apps` and `pleaco info`).
 */
export interface AppClash {
  app: string;
  kept: { createdAt: string; repo: string; branch: string };
  dropped: { createdAt: string; repo: string; branch: string };
  /** Set when `current` pointed at a release of the dropped app: the release it points at now (null: none). */
  current?: number | null;
  at: string;
}

/** What a builder hands the agent to make a tested, scanned build the new current release. */
export interface ReleaseInput {
  build: string;
  commit: string;
  image: string;
  imageId: string;
  test: TestResult | null;
  scan?: ScanSummary;
  port: number;
  description?: string;
}

/** What a runner reports about a release it gives up (the agent gives the release up). */
export interface FailureReport {
  reason: string;
  node: string;
  slot: string;
  lastLog?: string;
  /** The release the failing slot still serves; null when there is none. */
  rollbackTo: number | null;
}

/** Why a release was given up (see AppService.failRelease). */
export interface ReleaseFailure {
  at: string;
  /** Human-readable: what the runner saw (never healthy within the deadline, crashed N times). */
  reason: string;
  node: string;
  slot: string;
  /** Last lines of the failing container's log. */
  lastLog?: string;
  /** The release made current again, or null when there was none to go back to. */
  rolledBackTo: number | null;
}

/** `lost` only in API views: the node that ran the slot is not a live member (its record stays until it returns). */
export type SlotState = 'starting' | 'running' | 'crashed' | 'backoff' | 'stopping' | 'failed' | 'lost';

export interface SlotStatus {
  app: string;
  slot: string;
  node: string;
  release: number;
  containerId: string;
  state: SlotState;
  /** Host address the container's port is published on. */
  host: string;
  hostPort: number | null;
  /**
   * The container's own address on its bridge and the app's port there: the proxy of the same node connects to it
   * directly (no userland proxy hop); other nodes use host:hostPort.
   */
  ip?: string;
  port?: number;
  /**
   * The app's accept queue on its port (the backlog of its listen(), as the kernel holds it): the proxies together
   * open at most this many connections to a replica whose queue is small (proxy/fromstate.ts).
   */
  backlog?: number;
  restarts: number;
  /** When the slot entered its current state (ISO). */
  since: string;
  lastExitCode?: number;
  /** The last crash was the kernel killing it for memory (its limit: `resources`). */
  oomKilled?: boolean;
  /** Last lines of the container log when it crashed. */
  lastLog?: string;
  nextRetryAt?: string;
  /** During a rollout: the new release's container, while this record's (old) container still serves. */
  next?: PendingSlot;
  /**
   * During a rollout: the old container this record's (new) container replaced. It still runs, so the slot
   * can switch back to it if the new one exits; removed once the new one has served for the runner's
   * rolloutStableMs, and then this field goes away.
   */
  fallback?: { containerId: string; release: number };
}

/** One line of an app's container log, as the API streams it (ndjson) and the CLI prints it. */
export interface AppLogLine {
  slot: string;
  release: number;
  stream: 'stdout' | 'stderr';
  line: string;
}

/** The new-release container of a slot while the old one still serves. */
export interface PendingSlot {
  release: number;
  containerId: string;
  state: SlotState;
  since: string;
  restarts: number;
  lastExitCode?: number;
  oomKilled?: boolean;
  lastLog?: string;
  nextRetryAt?: string;
}

export interface NodeStatus {
  id: string;
  address: string;
  version: string;
  startedAt: string;
  docker: { ok: boolean; version?: string; error?: string };
  cpus: number;
  memoryBytes: number;
}

/** What an operator decided about a node (`nodes:drain`): a drained node wins no slots; its own stop after the new ones run. */
export interface NodeSpec {
  drain: boolean;
  /** When it was drained or undrained (ISO). */
  at: string;
}

/** A cluster member as this node's membership sees it (GET /v1/internal/members). */
export interface ClusterMember {
  id: string;
  state: 'alive' | 'suspect' | 'dead' | 'left';
}

/**
 * A live member: alive or suspected. A suspected node keeps its slots, decisions and routes until the suspicion
 * timeout declares it dead, so that a slow node does not make them move.
 */
export function isLiveMember(m: Pick<ClusterMember, 'state'>): boolean {
  return m.state === 'alive' || m.state === 'suspect';
}

/** The ids of the live members, plus `self` when given (a node is live to itself). */
export function liveMemberIds(members: readonly ClusterMember[], self?: string): Set<string> {
  const out = new Set(members.filter(isLiveMember).map((m) => m.id));
  if (self !== undefined) out.add(self);
  return out;
}

/** This node's view of the members, for the subsystems' placement (a node on its own: itself, alive). */
export interface MembersView {
  self: string;
  members: ClusterMember[];
  /**
   * The agent completed a full state exchange with a peer since it started (or has no live peer): until then its
   * state may be behind what happened while it was away, and its subsystems start and stop nothing on it.
   */
  ready: boolean;
}

/** Who owns an extra host name (`domains:add`). */
export interface DomainRecord {
  app: string;
  createdAt: string;
}


/** What a node's pleaco-proxy says about itself. `ok: false` when it is stopped or its last config failed. */
/**
 * The servers (container ids) a node's proxy has taken out of rotation but not yet cleared (in-flight
 * requests may still run on them). Written by the proxy when the set changes; the runner does not stop a
 * replaced container while a fresh record lists it.
 */
export interface ProxyDraining {
  ids: string[];
  /** When the record was written (ISO). */
  at: string;
}

export interface ProxyStatus {
  port: number;
  domain: string;
  ok: boolean;
  /** When this record was written (ISO). */
  at: string;
  error?: string;
  /**
   * Records of state this proxy leaves out of its routing because they are invalid (an `apps/` key that is no app
   * name, domain keys naming one host, ...), with why; the rest is routed. At most 20 are listed; `skippedCount`
   * says how many there are.
   */
  skipped?: { key: string; reason: string }[];
  skippedCount?: number;
}

export interface StatusCodeCounts {
  '1xx': number;
  '2xx': number;
  '3xx': number;
  '4xx': number;
  '5xx': number;
  other: number;
}

/** One proxy node's request metrics for one app (HAProxy's backend stats), kept as soft state. */
export interface AppMetrics {
  app: string;
  node: string;
  /** When the proxy read the stats (ISO). */
  at: string;
  /** Requests per second over the last second. */
  reqRate: number;
  /** Requests since the proxy (HAProxy process) started: a counter. */
  reqTotal: number;
  inFlight: number;
  /** Requests waiting for a free server. */
  queue: number;
  /** Responses by status class since the proxy started: counters. */
  codes: StatusCodeCounts;
  /** Averages over the last 1024 requests, ms. */
  avgResponseMs: number;
  avgTotalMs: number;
}

