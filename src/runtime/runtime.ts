/**
 * ContainerRuntime: a node's app containers, as the reconcile loop (runner.ts) and the planner (plan.ts) know
 * them; docker/runtime.ts implements it with dockerode (images and job containers: ContainerEngine, engine.ts). Every container the
 * runtime creates carries the `io.pleaco.*` labels, and every listing filters on them: a container
 * without `io.pleaco.managed=true` is never seen, stopped or removed.
 */
import { createHash } from 'node:crypto';
import type { AppLogLine } from '../model/index.js';
import type { EngineStatus } from './engine.js';
import type { ProbeOptions } from './probe.js';

/** Docker's container states (`State.Status`). */
export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** What to run in one replica slot (`app#index`). */
export interface SlotSpec {
  app: string;
  index: number;
  release: number;
  /** Image reference: an image id (`sha256:…`) or a tag. */
  image: string;
  /** Container port the app listens on; passed as PORT and published on the bind host. */
  port: number;
  /** The release's config. Values are secrets: passed via the API's Env only, never logged. */
  env: Record<string, string>;
  /** Memory limit in bytes, no swap on top (none when absent). */
  memoryBytes?: number;
  /** CPU quota in CPUs (none when absent). */
  cpus?: number;
  /** Most processes and threads (none when absent). */
  pids?: number;
}

/**
 * A digest of what a slot's container runs (image, port, env, limits), carried as its `io.pleaco.spec` label: a
 * container started ahead of its release (warm, see desired.ts warmSlots) is adopted by the release only when the
 * release asks for exactly what it runs. Env keys are sorted, so the order they were set in does not matter.
 */
export function specHash(spec: SlotSpec): string {
  const env = Object.keys(spec.env).sort().map((k) => [k, spec.env[k]]);
  const canon = JSON.stringify([spec.image, spec.port, env, spec.memoryBytes ?? null, spec.cpus ?? null, spec.pids ?? null]);
  return createHash('sha256').update(canon).digest('hex').slice(0, 32);
}

/** A managed container as inspected. Times are epoch ms (null when Docker reports none). */
export interface ManagedContainer {
  id: string;
  name: string;
  app: string;
  index: number;
  release: number;
  node: string;
  image: string;
  state: ContainerState;
  exitCode: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  /** Host port published for the app's port on the bind host, when running. */
  hostPort: number | null;
  /** The app's port inside the container (from the published binding). */
  port: number | null;
  /** The container's address on its bridge network, when running. */
  ip: string | null;
  /** The host pid of the container's first process, when running (its network namespace is the container's). */
  pid: number | null;
  oomKilled: boolean;
  /** Its spec digest (specHash), from its label; absent on containers made before the label existed. */
  spec?: string;
}

/** Said after the last log lines of a container the kernel killed for memory (in its slot record and in `pleaco logs`). */
export const OOM_NOTE = 'pleaco: the container was killed: out of memory (see pleaco resources NAME; raise the limit with resources:set)';

export type LogStream = 'stdout' | 'stderr';

export interface LogLine {
  stream: LogStream;
  line: string;
  /** Docker's RFC 3339 timestamp, when requested. */
  time?: string;
}

export interface FollowOptions {
  /** Lines from the end to start with (default: all). */
  tail?: number;
  follow?: boolean;
  signal?: AbortSignal;
}

export interface TailOptions {
  /** Lines per container from the end (default 100). */
  tail?: number;
  follow?: boolean;
  signal?: AbortSignal;
}

/** Reads an app's container logs on this node (the API's `GET /v1/apps/:name/logs`). */
export type AppLogReader = (app: string, opts: TailOptions, onLine: (l: AppLogLine) => void) => Promise<void>;

/** A container event (die, start, destroy, oom…) for a managed container of this node. */
export interface RuntimeEvent {
  action: string;
  id: string;
  app?: string;
  slot?: string;
}

export interface ContainerRuntime {
  /** The host address container ports are published on. */
  readonly bindHost: string;
  /** Managed app containers of this node (label-filtered), inspected. */
  list(): Promise<ManagedContainer[]>;
  /** Creates and starts the container of a slot; resolves with it inspected (host port assigned). */
  create(spec: SlotSpec): Promise<ManagedContainer>;
  /** Stops gracefully (SIGTERM, then SIGKILL after the timeout). No-op when already stopped or gone. */
  stop(id: string, timeoutSec?: number): Promise<void>;
  /** Removes (forcefully) a managed container. No-op when already gone. */
  remove(id: string): Promise<void>;
  /** One managed container, or null when gone (or not ours). */
  inspect(id: string): Promise<ManagedContainer | null>;
  /** The last `lines` log lines of a container, both streams, in order. */
  logsTail(id: string, lines: number): Promise<string>;
  /** Streams a container's log lines; resolves when the log ends or the signal aborts. */
  followLogs(id: string, opts: FollowOptions, onLine: (l: LogLine) => void): Promise<void>;
  /** Engine reachability and version. */
  ping(): Promise<EngineStatus>;
  /**
   * Calls onEvent for container events of managed containers on this node until the stream ends
   * (resolves) or the signal aborts (resolves). Rejects when the Engine cannot be reached.
   */
  events(onEvent: (ev: RuntimeEvent) => void, signal: AbortSignal): Promise<void>;
  /**
   * True when the container's app answers: with `opts.http`, GET path answered 2xx/3xx; without, its port
   * accepts TCP connections. Reached on the container's own address when it has one, else on the
   * published port (where a bare connection must also stay open briefly: Docker's userland proxy accepts
   * on the host port and closes when the app is not listening).
   */
  probe(c: ManagedContainer, opts?: ProbeOptions): Promise<boolean>;
  /**
   * The accept queue size of the app's listener on its port in the container (backlog.ts); null when nothing listens
   * there or the container is not running. Rejects when it cannot be read.
   */
  listenBacklog(c: ManagedContainer): Promise<number | null>;
  /**
   * The logs of an app's containers on this node. Without follow: the last `tail` lines of each container, merged in
   * time order. With follow: keeps streaming, attaches to containers that start later, resolves when the signal aborts.
   */
  appLogs: AppLogReader;
}
