/**
 * ContainerRuntime on Docker Engine (dockerode); only runtime/docker/ speaks Docker's API.
 * Invariants: every container created carries the io.pleaco.* labels; every listing filters on
 * io.pleaco.managed=true + this node + role=app; inspect/stop/remove refuse anything unlabelled.
 * Env values travel in the create call's Env only (never Cmd, never logs). Every call has its deadline (deadline.ts):
 * an Engine that does not answer is `docker_unavailable`, like one that is not there.
 */
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { PleacoError } from '../../errors.js';
import { LABELS, slotName } from '../../model/index.js';
import { bounded, deadlinesOf, pingDocker, withSignal, type EngineDeadlines } from './deadline.js';
import { engineError } from './engine.js';
import { listenBacklog } from '../backlog.js';
import { dial, httpCheck, type ProbeOptions } from '../probe.js';
import { byTime, decodeLogBuffer, jsonLines, pumpLogStream, tailLogs, type DockerEvent } from './logs.js';
import { specHash } from '../runtime.js';
import type {
  ContainerRuntime,
  ContainerState,
  FollowOptions,
  LogLine,
  ManagedContainer,
  RuntimeEvent,
  SlotSpec,
  TailOptions,
} from '../runtime.js';
import type { EngineStatus } from '../engine.js';
import type { AppLogLine } from '../../model/index.js';

export interface DockerRuntimeOptions {
  engine: Docker;
  nodeId: string;
  /** Host address ports are published on (config.runtime.bindHost). */
  bindHost: string;
  /** For error messages (config.docker.socketPath). */
  socketPath?: string;
  /** Run an init (docker-init) as PID 1 so SIGTERM reaches apps that do not handle it. Default true. */
  init?: boolean;
  logMaxSize?: string;
  logMaxFile?: string;
  /** How long each kind of Engine call may take (deadline.ts; the defaults suit a node). */
  deadlines?: Partial<EngineDeadlines>;
}

/** `pleaco-<app>-<i>-r<release>`: readable in `docker ps`, unique per node by construction. */
export function containerName(app: string, index: number, release: number): string {
  return `pleaco-${app}-${index}-r${release}`;
}

function time(s: string | undefined): number | null {
  if (!s || s.startsWith('0001-')) return null;
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : null;
}

function status(err: unknown): number | undefined {
  return (err as { statusCode?: number } | undefined)?.statusCode;
}

export class DockerRuntime implements ContainerRuntime {
  readonly bindHost: string;
  private readonly engine: Docker;
  private readonly nodeId: string;
  private readonly socketPath: string;
  private readonly d: EngineDeadlines;

  constructor(private readonly opts: DockerRuntimeOptions) {
    this.engine = opts.engine;
    this.nodeId = opts.nodeId;
    this.bindHost = opts.bindHost;
    this.socketPath = opts.socketPath ?? 'the Docker socket';
    this.d = deadlinesOf(opts.deadlines);
  }

  /** One call answered as a whole, within the call deadline (plus `extraMs`). */
  private call<T>(fn: (signal: AbortSignal) => Promise<T>, extraMs = 0): Promise<T> {
    return bounded(this.socketPath, this.d.callMs + extraMs, fn);
  }

  private labelFilter(): string[] {
    return [`${LABELS.managed}=true`, `${LABELS.node}=${this.nodeId}`, `${LABELS.role}=app`];
  }

  private wrap(err: unknown): unknown {
    return engineError(err, this.socketPath);
  }

  private isOurs(labels: Record<string, string> | undefined | null): boolean {
    return labels?.[LABELS.managed] === 'true' && labels[LABELS.node] === this.nodeId && labels[LABELS.role] === 'app';
  }

  private toManaged(info: Docker.ContainerInspectInfo): ManagedContainer | null {
    const labels = info.Config?.Labels ?? {};
    if (!this.isOurs(labels)) return null;
    const slot = labels[LABELS.slot] ?? '';
    const index = Number(slot.slice(slot.lastIndexOf('#') + 1));
    const release = Number(labels[LABELS.release]);
    const app = labels[LABELS.app] ?? '';
    if (!app || !Number.isInteger(index) || !Number.isInteger(release)) return null;
    let hostPort: number | null = null;
    let port: number | null = null;
    for (const [key, bindings] of Object.entries(info.NetworkSettings?.Ports ?? {})) {
      const b = bindings?.find((x) => x.HostIp === this.bindHost && x.HostPort) ?? bindings?.find((x) => x.HostPort);
      if (b?.HostPort) {
        hostPort = Number(b.HostPort);
        port = parseInt(key, 10);
      }
    }
    const nets = Object.values(info.NetworkSettings?.Networks ?? {});
    const ip = (info.NetworkSettings as { IPAddress?: string } | undefined)?.IPAddress || nets.find((n) => n.IPAddress)?.IPAddress || null;
    return {
      id: info.Id,
      name: info.Name.replace(/^\//, ''),
      app,
      index,
      release,
      node: labels[LABELS.node] ?? '',
      image: info.Config.Image,
      state: info.State.Status as ContainerState,
      exitCode: info.State.Status === 'exited' || info.State.Status === 'dead' ? info.State.ExitCode : null,
      startedAt: time(info.State.StartedAt),
      finishedAt: time(info.State.FinishedAt),
      hostPort,
      port,
      ip: info.State.Running ? ip : null,
      pid: info.State.Running && info.State.Pid > 0 ? info.State.Pid : null,
      oomKilled: Boolean(info.State.OOMKilled),
      ...(labels[LABELS.spec] ? { spec: labels[LABELS.spec] } : {}),
    };
  }

  async list(): Promise<ManagedContainer[]> {
    let rows: Docker.ContainerInfo[];
    try {
      rows = await this.call((signal) => this.engine.listContainers(withSignal({ all: true, filters: { label: this.labelFilter() } }, signal)));
    } catch (err) {
      throw this.wrap(err);
    }
    const out: ManagedContainer[] = [];
    for (const r of rows) {
      const c = await this.inspect(r.Id);
      if (c) out.push(c);
    }
    return out;
  }

  async inspect(id: string): Promise<ManagedContainer | null> {
    try {
      return this.toManaged(await this.call((signal) => this.engine.getContainer(id).inspect(withSignal({}, signal))));
    } catch (err) {
      if (status(err) === 404) return null;
      throw this.wrap(err);
    }
  }

  private createOptions(spec: SlotSpec, name: string): Docker.ContainerCreateOptions {
    const portKey = `${spec.port}/tcp`;
    const env = Object.entries(spec.env)
      .filter(([k]) => k !== 'PORT')
      .map(([k, v]) => `${k}=${v}`);
    env.push(`PORT=${spec.port}`);
    return {
      name,
      Image: spec.image,
      Env: env,
      Tty: false,
      Labels: {
        [LABELS.managed]: 'true',
        [LABELS.app]: spec.app,
        [LABELS.release]: String(spec.release),
        [LABELS.slot]: slotName(spec.app, spec.index),
        [LABELS.node]: this.nodeId,
        [LABELS.role]: 'app',
        [LABELS.spec]: specHash(spec),
      },
      ExposedPorts: { [portKey]: {} },
      HostConfig: {
        PortBindings: { [portKey]: [{ HostIp: this.bindHost, HostPort: '' }] },
        RestartPolicy: { Name: 'no' },
        LogConfig: { Type: 'json-file', Config: { 'max-size': this.opts.logMaxSize ?? '10m', 'max-file': this.opts.logMaxFile ?? '3' } },
        Init: this.opts.init ?? true,
        // Limits (resources:set over the node's defaults); no swap on top of the memory limit; no process may gain
        // privileges it was not started with (setuid binaries).
        ...(spec.memoryBytes ? { Memory: spec.memoryBytes, MemorySwap: spec.memoryBytes } : {}),
        ...(spec.cpus ? { NanoCpus: Math.round(spec.cpus * 1e9) } : {}),
        ...(spec.pids ? { PidsLimit: spec.pids } : {}),
        SecurityOpt: ['no-new-privileges'],
      },
    };
  }

  async create(spec: SlotSpec): Promise<ManagedContainer> {
    const base = containerName(spec.app, spec.index, spec.release);
    let container: Docker.Container | undefined;
    for (let attempt = 0; !container; attempt++) {
      // A name taken (a container we are still removing, or one that is not ours): add a short suffix.
      const name = attempt === 0 ? base : `${base}-${randomBytes(3).toString('hex')}`;
      try {
        container = await this.call((signal) => this.engine.createContainer(withSignal(this.createOptions(spec, name), signal)));
      } catch (err) {
        if (status(err) === 409 && attempt < 3) continue;
        if (status(err) === 404) throw new PleacoError('not_found', `image ${spec.image} is not present on this node`, { cause: err });
        throw this.wrap(err);
      }
    }
    const created = container;
    try {
      await this.call((signal) => created.start(withSignal({}, signal)));
    } catch (err) {
      await this.call((signal) => created.remove(withSignal({ force: true }, signal))).catch(() => undefined);
      throw this.wrap(err);
    }
    const c = await this.inspect(container.id);
    if (!c) throw new PleacoError('internal', `container ${container.id} vanished right after it started`);
    return c;
  }

  async stop(id: string, timeoutSec = 10): Promise<void> {
    if (!(await this.inspect(id))) return;
    try {
      await this.call((signal) => this.engine.getContainer(id).stop(withSignal({ t: timeoutSec }, signal)), timeoutSec * 1000);
    } catch (err) {
      if (status(err) === 304 || status(err) === 404) return;
      throw this.wrap(err);
    }
  }

  async remove(id: string): Promise<void> {
    if (!(await this.inspect(id))) return;
    try {
      await this.call((signal) => this.engine.getContainer(id).remove(withSignal({ force: true, v: true }, signal)));
    } catch (err) {
      if (status(err) === 404) return;
      if (status(err) === 409) return; // removal already in progress
      throw this.wrap(err);
    }
  }

  async logsTail(id: string, lines: number): Promise<string> {
    if (!(await this.inspect(id))) return '';
    try {
      const buf = await this.call((signal) => this.engine.getContainer(id).logs(withSignal({ stdout: true, stderr: true, tail: lines, timestamps: true, follow: false as const }, signal)));
      const all = byTime(decodeLogBuffer(buf, true));
      return all.slice(-lines).map((l) => l.line).join('\n');
    } catch (err) {
      if (status(err) === 404) return '';
      throw this.wrap(err);
    }
  }

  async followLogs(id: string, opts: FollowOptions, onLine: (l: LogLine) => void): Promise<void> {
    if (!(await this.inspect(id))) return;
    const c = this.engine.getContainer(id);
    const base = { stdout: true, stderr: true, tail: (opts.tail ?? 'all') as number, timestamps: true };
    try {
      if (!opts.follow) {
        for (const l of byTime(decodeLogBuffer(await this.call((signal) => c.logs(withSignal({ ...base, follow: false as const }, signal))), true))) onLine(l);
        return;
      }
      const stream = await bounded(this.socketPath, this.d.firstByteMs, (signal) => c.logs(withSignal({ ...base, follow: true as const }, signal)), opts.signal);
      await pumpLogStream(stream, true, onLine, opts.signal);
    } catch (err) {
      if (status(err) === 404 || opts.signal?.aborted) return;
      throw this.wrap(err);
    }
  }

  ping(): Promise<EngineStatus> {
    return pingDocker(this.engine, this.socketPath, this.d.pingMs);
  }

  async events(onEvent: (ev: RuntimeEvent) => void, signal: AbortSignal): Promise<void> {
    let stream: NodeJS.ReadableStream;
    try {
      stream = await bounded(this.socketPath, this.d.firstByteMs, (s) => this.engine.getEvents(withSignal({ filters: { type: ['container' as const], label: this.labelFilter() } }, s)), signal);
    } catch (err) {
      if (signal.aborted) return;
      throw this.wrap(err);
    }
    await new Promise<void>((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', abort);
        resolve();
      };
      const abort = (): void => {
        (stream as unknown as { destroy?: () => void }).destroy?.();
        done();
      };
      if (signal.aborted) return abort();
      signal.addEventListener('abort', abort, { once: true });
      stream.on('data', jsonLines((raw) => {
        const ev = raw as DockerEvent;
        const id = ev.Actor?.ID ?? ev.id;
        const action = ev.Action ?? ev.status;
        if (!id || !action) return;
        const attrs = ev.Actor?.Attributes ?? {};
        onEvent({ action, id, ...(attrs[LABELS.app] ? { app: attrs[LABELS.app] } : {}), ...(attrs[LABELS.slot] ? { slot: attrs[LABELS.slot] } : {}) });
      }));
      stream.on('end', done);
      stream.on('close', done);
      stream.on('error', done);
    });
  }

  appLogs = (app: string, opts: TailOptions, onLine: (l: AppLogLine) => void): Promise<void> => tailLogs(this.engine, this.nodeId, app, opts, onLine, { where: this.socketPath, deadlines: this.d });

  probe(c: ManagedContainer, opts: ProbeOptions = {}): Promise<boolean> {
    const timeoutMs = opts.timeoutMs ?? (opts.http ? 1000 : 500);
    const direct = c.ip && c.port ? { host: c.ip, port: c.port } : null;
    if (!direct && !c.hostPort) return Promise.resolve(false);
    const host = this.bindHost === '0.0.0.0' ? '127.0.0.1' : this.bindHost === '::' ? '::1' : this.bindHost;
    const to = direct ?? { host, port: c.hostPort! };
    if (opts.http) return httpCheck(to.host, to.port, opts.http, timeoutMs);
    return direct ? dial(direct.host, direct.port, timeoutMs, 0) : dial(host, c.hostPort!, timeoutMs, 150);
  }

  async listenBacklog(c: ManagedContainer): Promise<number | null> {
    if (c.pid === null || c.port === null) return null;
    return listenBacklog(c.pid, c.port);
  }
}
