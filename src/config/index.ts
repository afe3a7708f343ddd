/**
 * Configuration is loaded and validated once, in `main/`, and passed down. Nothing else reads process.env.
 * Sources, later wins: built-in defaults, a JSON file (PLEACO_CONFIG, default /etc/pleaco/pleaco.json when present),
 * then PLEACO_* environment variables.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { DEFAULT_CLUSTER_PORT, isDnsName, parseSize } from '../model/index.js';
import { loadClusterConfig, type ClusterConfig } from './cluster.js';
import { PleacoError } from '../errors.js';
import type { Level } from '../log.js';

export type BuildBackend = 'docker' | 'kaniko';

export interface Config {
  stateDir: string;
  /** Unix socket of the agent's local API (subsystems and the CLI on this node). */
  socketPath: string;
  api: { host: string; port: number; bodyLimitBytes: number };
  /**
   * deadlineScale stretches every deadline of a call to the Engine (runtime/docker/deadline.ts: 3 s for a ping, 30 s
   * for a call) that many times, for hosts whose engine is slow by nature (VMs without hardware virtualisation).
   */
  docker: { socketPath: string; deadlineScale: number };
  source: { allowLocal: boolean; pollIntervalMs: number };
  build: { backend: BuildBackend; kanikoImage: string; memoryBytes: number; testTimeoutMs: number; cpuShares: number; pidsLimit: number; keepImages: number };
  /** Builds are refused while the state dir or Docker's data root has less free space than this (old images go first). */
  disk: { minFreeBytes: number };
  /**
   * Images between nodes: cacheMaxBytes bounds the parts a node keeps to serve its peers (configs and layer tars under
   * <stateDir>/images); transferTimeoutMs ends a transfer from peers that has not finished by then.
   */
  images: { cacheMaxBytes: number; transferTimeoutMs: number };
  /** The scanner's record of each image layer it read (by diffID, under <stateDir>/scan-layers) takes at most this. */
  scan: { layerCacheMaxBytes: number };
  /**
   * rolloutStableMs: how long a new container serves before the old one it replaced is removed. warmStart: the slots
   * of a build's release start, unrouted, while its tests and scan run (runtime/desired.ts warmSlots).
   */
  runtime: { bindHost: string; backoffBaseMs: number; backoffMaxMs: number; stableAfterMs: number; rolloutStableMs: number; defaultPort: number; warmStart: boolean };
  /** Default limits of an app's containers (`resources:set` overrides them per app); null: no limit. */
  app: { memoryBytes: number | null; cpus: number | null; pids: number };
  /**
   * maxClockDriftMs: how far ahead of this node's wall clock a stamp from a peer may be; further ahead it is
   * refused and counted (GET /v1/cluster `sync.skew`), and the clock never follows it.
   */
  store: { tombstoneTtlMs: number; compactAfterEntries: number; maxClockDriftMs: number };
  /**
   * keepBuilds: builds kept per app (the newest ones; queued and running builds and those of the current release and
   * of the rollback targets — the newest keepBuilds releases — are kept besides). Older builds, their scan reports,
   * SBOMs and log files are removed on every node.
   */
  retention: { keepBuilds: number };
  /**
   * The HTTP front door (pleaco-proxy): every app answers at `http://<app>.<domain>:<port>`; bindHost is the IP
   * address the proxy listens on.
   */
  proxy: { port: number; domain: string; bindHost: string; pdeathsig: boolean };
  /**
   * Membership and replication (pleaco-agent): UDP + TCP on `port` (null: this node runs alone, no cluster
   * sockets), bound on bindHost, announced as `advertise` (default bindHost; when that is unspecified, this host's
   * first interface address). How a node finds its cluster (src/discovery): `seeds` ("host[:port]", a DNS name may
   * give several addresses), mDNS (`mdns`, when the advertised address is not loopback), `pleaco join`. The key is
   * the cluster file's (`file`, /etc/pleaco/cluster.yaml: config/cluster.ts), else keyFile's (default
   * <stateDir>/cluster.key); a node with neither creates one only when `init` (it is the first: `pleaco init`).
   * `id`: the cluster id announced over mDNS (default: derived from the key). `labels`: this node's labels.
   * antiEntropyMs: period of the store's push-pull with a random member.
   */
  cluster: ClusterConfig;
  logLevel: Level;
}

export const DEFAULTS: Config = {
  stateDir: '/var/lib/pleaco',
  socketPath: '/var/lib/pleaco/agent.sock',
  api: { host: '127.0.0.1', port: 7070, bodyLimitBytes: 1024 * 1024 },
  docker: { socketPath: '/var/run/docker.sock', deadlineScale: 1 },
  source: { allowLocal: false, pollIntervalMs: 60_000 },
  build: {
    backend: 'docker',
    // The maintained fork of the archived upstream executor; override with PLEACO_KANIKO_IMAGE.
    kanikoImage: 'ghcr.io/chainguard-dev/kaniko/executor:latest',
    memoryBytes: 2 * 1024 ** 3,
    testTimeoutMs: 300_000,
    // Build, test and kaniko containers weigh 1/8 of an app container (1024) when the CPU is contended.
    cpuShares: 128,
    pidsLimit: 4096,
    keepImages: 5,
  },
  disk: { minFreeBytes: 2 * 1024 ** 3 },
  images: { cacheMaxBytes: 4 * 1024 ** 3, transferTimeoutMs: 10 * 60_000 },
  scan: { layerCacheMaxBytes: 256 * 1024 ** 2 },
  runtime: { bindHost: '127.0.0.1', backoffBaseMs: 1000, backoffMaxMs: 60_000, stableAfterMs: 30_000, rolloutStableMs: 3000, defaultPort: 5000, warmStart: true },
  app: { memoryBytes: 512 * 1024 ** 2, cpus: null, pids: 1024 },
  store: { tombstoneTtlMs: 7 * 24 * 3600_000, compactAfterEntries: 5000, maxClockDriftMs: 60_000 },
  retention: { keepBuilds: 50 },
  proxy: { port: 8080, domain: 'localhost', bindHost: '127.0.0.1', pdeathsig: true },
  cluster: { port: DEFAULT_CLUSTER_PORT, bindHost: '127.0.0.1', advertise: null, seeds: [], keyFile: null, file: null, id: null, labels: {}, mdns: true, init: false, antiEntropyMs: 30_000 },
  logLevel: 'info',
};

type Env = Record<string, string | undefined>;

function bad(message: string): PleacoError {
  return new PleacoError('invalid_config', message);
}

function int(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^-?\d+$/.test(raw.trim())) throw bad(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (n < min || n > max) throw bad(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(name: string, raw: string | undefined): boolean | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw bad(`${name} must be true or false, got ${JSON.stringify(raw)}`);
}

/** Parses sizes like `512m`, `2g`, `1048576` (the model's one size parser). */
export function parseBytes(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = parseSize(raw);
  if (n === null) throw bad(`${name} must be a size like 512m or 2g, got ${JSON.stringify(raw)}`);
  return n;
}

function merge<T extends object>(base: T, over: Partial<T> | undefined): T {
  return { ...base, ...(over ?? {}) };
}

/** Loads the JSON config file shape (same keys as Config, all optional). */
function fromFile(path: string | undefined): Partial<Config> {
  if (!path) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw bad(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text) as unknown;
  } catch (err) {
    throw bad(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad(`config file ${path} is not valid JSON: top level must be an object`);
  return v;
}

/** PLEACO_PROXY_PORT, PLEACO_DOMAIN (a DNS name, lowercased), PLEACO_PROXY_BIND (an IP address). */
function loadProxy(cfg: Config, env: Env): void {
  const p = cfg.proxy;
  p.port = int('PLEACO_PROXY_PORT', env.PLEACO_PROXY_PORT, 1, 65535) ?? p.port;
  if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw bad(`proxy.port must be between 1 and 65535, got ${JSON.stringify(p.port)}`);
  const domain = env.PLEACO_DOMAIN || p.domain;
  if (typeof domain !== 'string' || !isDnsName(domain.toLowerCase())) {
    throw bad(`PLEACO_DOMAIN must be a DNS name like localhost or apps.example.com, got ${JSON.stringify(domain)}`);
  }
  p.domain = domain.toLowerCase();
  const bind = env.PLEACO_PROXY_BIND || p.bindHost;
  if (typeof bind !== 'string' || isIP(bind) === 0) throw bad(`PLEACO_PROXY_BIND must be an IP address like 127.0.0.1 or 0.0.0.0, got ${JSON.stringify(bind)}`);
  p.bindHost = bind;
  p.pdeathsig = bool('PLEACO_PROXY_PDEATHSIG', env.PLEACO_PROXY_PDEATHSIG) ?? p.pdeathsig;
}

/**
 * Container limits: PLEACO_APP_MEMORY (a size, or `none`), PLEACO_APP_CPUS (a number, or `none`), PLEACO_APP_PIDS,
 * PLEACO_BUILD_PIDS (test and kaniko containers); what the builder keeps: PLEACO_KEEP_IMAGES (images of the last N
 * releases per app), PLEACO_MIN_FREE_DISK (below it, builds are refused).
 */
function loadLimits(cfg: Config, env: Env): void {
  const a = cfg.app;
  if (env.PLEACO_APP_MEMORY === 'none') a.memoryBytes = null;
  else a.memoryBytes = parseBytes('PLEACO_APP_MEMORY', env.PLEACO_APP_MEMORY) ?? a.memoryBytes;
  if (env.PLEACO_APP_CPUS === 'none') a.cpus = null;
  else if (env.PLEACO_APP_CPUS !== undefined && env.PLEACO_APP_CPUS !== '') {
    const cpus = Number(env.PLEACO_APP_CPUS);
    if (!Number.isFinite(cpus) || cpus < 0.01 || cpus > 1024) throw bad(`PLEACO_APP_CPUS must be a number of CPUs like 1 or 0.5, or none; got ${JSON.stringify(env.PLEACO_APP_CPUS)}`);
    a.cpus = cpus;
  }
  a.pids = int('PLEACO_APP_PIDS', env.PLEACO_APP_PIDS, 16, 4_194_304) ?? a.pids;
  cfg.build.pidsLimit = int('PLEACO_BUILD_PIDS', env.PLEACO_BUILD_PIDS, 16, 4_194_304) ?? cfg.build.pidsLimit;
  cfg.build.keepImages = int('PLEACO_KEEP_IMAGES', env.PLEACO_KEEP_IMAGES, 1, 1000) ?? cfg.build.keepImages;
  cfg.disk.minFreeBytes = parseBytes('PLEACO_MIN_FREE_DISK', env.PLEACO_MIN_FREE_DISK) ?? cfg.disk.minFreeBytes;
  if (a.memoryBytes !== null && a.memoryBytes < 16 * 1024 ** 2) throw bad('the app memory limit must be at least 16m (or none)');
}

/**
 * PLEACO_IMAGE_CACHE (a size: the parts kept to serve peers), PLEACO_IMAGE_TRANSFER_TIMEOUT (seconds), PLEACO_SCAN_CACHE
 * (a size: the scanner's layer records).
 */
function loadImages(cfg: Config, env: Env): void {
  cfg.scan.layerCacheMaxBytes = parseBytes('PLEACO_SCAN_CACHE', env.PLEACO_SCAN_CACHE) ?? cfg.scan.layerCacheMaxBytes;
  cfg.images.cacheMaxBytes = parseBytes('PLEACO_IMAGE_CACHE', env.PLEACO_IMAGE_CACHE) ?? cfg.images.cacheMaxBytes;
  const t = int('PLEACO_IMAGE_TRANSFER_TIMEOUT', env.PLEACO_IMAGE_TRANSFER_TIMEOUT, 10, 86_400);
  if (t !== undefined) cfg.images.transferTimeoutMs = t * 1000;
}

/** PLEACO_MAX_CLOCK_DRIFT_MS (100 ms .. 1 day), PLEACO_KEEP_BUILDS (1 .. 100,000). */
function loadStore(cfg: Config, env: Env): void {
  const drift = int('PLEACO_MAX_CLOCK_DRIFT_MS', env.PLEACO_MAX_CLOCK_DRIFT_MS, 100, 86_400_000) ?? cfg.store.maxClockDriftMs;
  if (!Number.isSafeInteger(drift) || drift < 100 || drift > 86_400_000) throw bad(`store.maxClockDriftMs must be an integer from 100 to 86400000, got ${JSON.stringify(drift)}`);
  cfg.store.maxClockDriftMs = drift;
  const keep = int('PLEACO_KEEP_BUILDS', env.PLEACO_KEEP_BUILDS, 1, 100_000) ?? cfg.retention.keepBuilds;
  if (!Number.isSafeInteger(keep) || keep < 1 || keep > 100_000) throw bad(`retention.keepBuilds must be an integer from 1 to 100000, got ${JSON.stringify(keep)}`);
  cfg.retention.keepBuilds = keep;
}

export function loadConfig(env: Env = {}): Config {
  const filePath = env.PLEACO_CONFIG ?? (existsSync('/etc/pleaco/pleaco.json') ? '/etc/pleaco/pleaco.json' : undefined);
  const file = fromFile(filePath);
  const stateDir = resolve(env.PLEACO_STATE_DIR ?? file.stateDir ?? DEFAULTS.stateDir);
  const cfg: Config = {
    stateDir,
    socketPath: resolve(env.PLEACO_SOCKET ?? file.socketPath ?? join(stateDir, 'agent.sock')),
    api: merge(DEFAULTS.api, file.api),
    docker: merge(DEFAULTS.docker, file.docker),
    source: merge(DEFAULTS.source, file.source),
    build: merge(DEFAULTS.build, file.build),
    runtime: merge(DEFAULTS.runtime, file.runtime),
    app: merge(DEFAULTS.app, file.app),
    disk: merge(DEFAULTS.disk, file.disk),
    images: merge(DEFAULTS.images, file.images),
    scan: merge(DEFAULTS.scan, file.scan),
    store: merge(DEFAULTS.store, file.store),
    retention: merge(DEFAULTS.retention, file.retention),
    proxy: merge(DEFAULTS.proxy, file.proxy),
    cluster: { ...merge(DEFAULTS.cluster, file.cluster), seeds: [...(file.cluster?.seeds ?? [])], labels: { ...(file.cluster?.labels ?? {}) } },
    logLevel: file.logLevel ?? DEFAULTS.logLevel,
  };
  cfg.api.host = env.PLEACO_API_HOST ?? cfg.api.host;
  cfg.api.port = int('PLEACO_API_PORT', env.PLEACO_API_PORT, 0, 65535) ?? cfg.api.port;
  cfg.api.bodyLimitBytes = parseBytes('PLEACO_BODY_LIMIT', env.PLEACO_BODY_LIMIT) ?? cfg.api.bodyLimitBytes;
  cfg.docker.socketPath = env.PLEACO_DOCKER_SOCKET ?? cfg.docker.socketPath;
  cfg.docker.deadlineScale = int('PLEACO_DOCKER_DEADLINE_SCALE', env.PLEACO_DOCKER_DEADLINE_SCALE, 1, 20) ?? cfg.docker.deadlineScale;
  if (!Number.isInteger(cfg.docker.deadlineScale) || cfg.docker.deadlineScale < 1 || cfg.docker.deadlineScale > 20) throw bad(`docker.deadlineScale must be an integer from 1 to 20, got ${JSON.stringify(cfg.docker.deadlineScale)}`);
  cfg.source.allowLocal = bool('PLEACO_ALLOW_LOCAL_REPOS', env.PLEACO_ALLOW_LOCAL_REPOS) ?? cfg.source.allowLocal;
  const poll = int('PLEACO_POLL_INTERVAL', env.PLEACO_POLL_INTERVAL, 0, 86_400);
  if (poll !== undefined) cfg.source.pollIntervalMs = poll * 1000;
  const backend = env.PLEACO_BUILDER ?? cfg.build.backend;
  if (backend !== 'docker' && backend !== 'kaniko') throw bad(`PLEACO_BUILDER must be docker or kaniko, got ${JSON.stringify(backend)}`);
  cfg.build.backend = backend;
  cfg.build.kanikoImage = env.PLEACO_KANIKO_IMAGE ?? cfg.build.kanikoImage;
  cfg.build.memoryBytes = parseBytes('PLEACO_BUILD_MEMORY', env.PLEACO_BUILD_MEMORY) ?? cfg.build.memoryBytes;
  const tt = int('PLEACO_TEST_TIMEOUT', env.PLEACO_TEST_TIMEOUT, 1, 86_400);
  if (tt !== undefined) cfg.build.testTimeoutMs = tt * 1000;
  cfg.runtime.bindHost = env.PLEACO_BIND_HOST ?? cfg.runtime.bindHost;
  cfg.runtime.warmStart = bool('PLEACO_WARM_START', env.PLEACO_WARM_START) ?? cfg.runtime.warmStart;
  loadLimits(cfg, env);
  loadImages(cfg, env);
  const fromClusterFile = loadClusterConfig(cfg.cluster, env);
  if (fromClusterFile.domain && !env.PLEACO_DOMAIN && !file.proxy?.domain) cfg.proxy.domain = fromClusterFile.domain;
  loadProxy(cfg, env);
  loadStore(cfg, env);
  const level = env.PLEACO_LOG_LEVEL ?? cfg.logLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw bad(`PLEACO_LOG_LEVEL must be debug, info, warn or error`);
  cfg.logLevel = level as Level;
  if (cfg.build.memoryBytes < 64 * 1024 ** 2) throw bad('build memory limit must be at least 64m');
  return cfg;
}
export { readClusterFile, DEFAULT_CLUSTER_FILE, type ClusterFile, type ClusterConfig } from './cluster.js';
