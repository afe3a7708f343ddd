/**
 * Keeps HAProxy in step with a ProxyModel. Each apply (serialized) renders the whole config, then either
 * changes the running process through the runtime API (server address/state within existing slots, host map
 * entries; the files on disk are rewritten too so a later reload or restart agrees) or, when the shape
 * changes (apps added/removed, slots exhausted, health settings, bind), does a validated hitless reload.
 * A config HAProxy rejects is never applied: the error is returned and logged, the previous one serves on.
 *
 * Drain: a server that leaves the model is set `drain` (no new requests, in-flight ones finish) and its slot
 * is cleared (`maint`, address 0.0.0.0) once its in-flight count is 0 or after drainMs.
 */
import { PleacoError, toPleacoError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { EMPTY_ADDR, EMPTY_PORT, HOSTS_MAP, SERVER_STATE, renderConfig, type RenderPaths, type SlotMap } from './config.js';
import type { HAProxyProcess } from './haproxy.js';
import { backendName, slotName, validateModel, type ProxyModel, type ProxyServer } from './model.js';
import { carryDownServers, EMPTY_SERVER_STATE } from './serverstate.js';
import type { ServerUpdate } from './runtime.js';
import { appStats, type AppStats } from './stats.js';

/** When a server added at runtime starts taking traffic. */
export type AdmitNewServers = 'after-checks' | 'at-once';

export interface ProxyControllerOptions {
  /** Default 'after-checks'. */
  admitNewServers?: AdmitNewServers;
  /** HAProxy threads (default: half the cores, see proxyThreads()). */
  threads?: number;
  proc: HAProxyProcess;
  /** dir must be the process dir (the rendered files are written there). */
  paths: RenderPaths;
  slotsPerApp?: number;
  drainMs?: number;
  drainPollMs?: number;
  logger?: Logger;
  /**
   * Called with the ids of the servers in drain (out of rotation, not yet cleared: in-flight requests may
   * still run on them) whenever that set changes. pleaco-proxy publishes it so the runner stops a replaced
   * container only once it is drained.
   */
  onDrainingChange?: (ids: string[]) => void;
  /** Replaces renderConfig (tests use it to produce a config HAProxy rejects). */
  render?: typeof renderConfig;
}

export type ApplyOutcome =
  | { ok: true; mode: 'start' | 'reload' | 'runtime' | 'noop'; changes: number }
  | { ok: false; error: PleacoError };

interface Applied {
  model: ProxyModel;
  slots: SlotMap;
}

export type Op = { kind: 'server'; backend: string; server: string; update: ServerUpdate } | { kind: 'map'; host: string; backend: string | null };

const key = (app: string, id: string): string => `${app}/${id}`;

function occupants(model: ProxyModel, slots: SlotMap, app: string): Map<number, ProxyServer> {
  const out = new Map<number, ProxyServer>();
  for (const s of model.apps.find((a) => a.name === app)?.servers ?? []) {
    const i = slots[app]?.byId[s.id];
    if (i !== undefined) out.set(i, s);
  }
  return out;
}

function hostMap(model: ProxyModel): Map<string, string> {
  const m = new Map<string, string>();
  for (const app of model.apps) for (const h of app.hosts) m.set(h, backendName(app.name));
  return m;
}

/** Why the change needs a reload, or null when the runtime API can do it. */
export function reloadReason(prev: Applied | undefined, next: Applied): string | null {
  if (!prev) return 'first config';
  if (prev.model.port !== next.model.port || prev.model.bindHost !== next.model.bindHost) return 'bind address changed';
  const names = (m: ProxyModel): string => m.apps.map((a) => a.name).sort().join(',');
  if (names(prev.model) !== names(next.model)) return 'apps added or removed';
  for (const app of next.model.apps) {
    const old = prev.model.apps.find((a) => a.name === app.name)!;
    if (JSON.stringify(old.health) !== JSON.stringify(app.health)) return `health settings of ${app.name} changed`;
    if (prev.slots[app.name]?.size !== next.slots[app.name]?.size) return `${app.name} needs more slots`;
    if ((old.hosts[0] ?? '') !== (app.hosts[0] ?? '')) return `health check host of ${app.name} changed`;
    if (JSON.stringify(old.activator ?? null) !== JSON.stringify(app.activator ?? null)) return `${app.name} ${app.activator ? 'may' : 'may no longer'} scale to zero (its activator)`;
  }
  return null;
}

/** Runtime commands that turn prev into next (same apps and slot counts). */
export function runtimeOps(prev: Applied, next: Applied, admit: AdmitNewServers = 'after-checks'): Op[] {
  const ops: Op[] = [];
  const before = hostMap(prev.model);
  const after = hostMap(next.model);
  for (const [host, backend] of after) if (before.get(host) !== backend) ops.push({ kind: 'map', host, backend });
  for (const host of before.keys()) if (!after.has(host)) ops.push({ kind: 'map', host, backend: null });
  for (const app of next.model.apps) {
    const backend = backendName(app.name);
    const old = occupants(prev.model, prev.slots, app.name);
    const now = occupants(next.model, next.slots, app.name);
    // Servers entering an empty slot come up before any server of the backend leaves or drains: the
    // commands run one by one, and a backend whose only server drained before its successor was up
    // would answer 503 in between.
    const entering: Op[] = [];
    const others: Op[] = [];
    for (let i = 1; i <= next.slots[app.name]!.size; i++) {
      const a = old.get(i);
      const b = now.get(i);
      const server = slotName(i);
      const list = a ? others : entering;
      const push = (update: ServerUpdate): void => void list.push({ kind: 'server', backend, server, update });
      if (!a && !b) continue;
      // An empty slot's server has no limit (0): the next occupant's is set when it differs from its predecessor's.
      const maxconn = (b?.maxconn ?? 0) !== (a?.maxconn ?? 0) ? { maxconn: b?.maxconn ?? 0 } : {};
      if (a && !b) {
        push({ state: 'maint' });
        push({ addr: EMPTY_ADDR, port: EMPTY_PORT, ...maxconn });
      } else if (b && (!a || a.id !== b.id || a.addr !== b.addr || a.port !== b.port)) {
        if (a) push({ state: 'maint' });
        push({ addr: b.addr, port: b.port, ...maxconn });
        // 'after-checks': a server entering rotation must first pass `rise` checks. 'at-once': the caller
        // already verified it answers (the runner's health-gated rollout), so it takes traffic now and the
        // checks take it out after `fall` failures.
        if (b.state === 'ready') push({ state: 'ready', health: admit === 'at-once' ? 'up' : 'down' });
      } else if (a && b && (a.state !== b.state || 'maxconn' in maxconn)) {
        push({ ...(a.state !== b.state ? { state: b.state } : {}), ...maxconn });
      }
    }
    ops.push(...entering, ...others);
  }
  return ops;
}

export class ProxyController {
  private readonly proc: HAProxyProcess;
  private readonly log: Logger;
  private readonly render: typeof renderConfig;
  private readonly drainMs: number;
  private queue: Promise<unknown> = Promise.resolve();
  private desired: ProxyModel | undefined;
  private applied: Applied | undefined;
  private draining = new Map<string, { app: string; server: ProxyServer; since: number }>();
  private drainTimer: NodeJS.Timeout | undefined;
  private started = false;
  private lastConfig: string | undefined;
  private staleWhileDown = false;
  private closed = false;

  constructor(private readonly opts: ProxyControllerOptions) {
    this.proc = opts.proc;
    this.log = opts.logger ?? createLogger({ component: 'proxy' });
    this.render = opts.render ?? renderConfig;
    this.drainMs = opts.drainMs ?? 5000;
    this.proc.on('restarted', () => {
      if (this.staleWhileDown && this.desired) void this.enqueue(() => this.doApply(this.desired!, { force: true }));
    });
  }

  /** Brings HAProxy to `model`; serialized with every other apply. Never throws. */
  apply(model: ProxyModel): Promise<ApplyOutcome> {
    return this.enqueue(() => this.doApply(model, {}));
  }

  async stats(): Promise<AppStats[]> {
    return appStats(await this.proc.runtime.showStat());
  }

  /** Ids of the servers currently draining (sorted, unique). */
  drainingIds(): string[] {
    return [...new Set([...this.draining.values()].map((d) => d.server.id))].sort();
  }

  /** Servers currently draining, as app/id. */
  drainingServers(): string[] {
    return [...this.draining.keys()];
  }

  async close(opts: { stopHaproxy?: boolean } = {}): Promise<void> {
    this.closed = true;
    clearInterval(this.drainTimer);
    await this.queue.catch(() => undefined);
    if (opts.stopHaproxy ?? true) await this.proc.stop();
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async doApply(desired: ProxyModel, o: { expire?: Set<string>; force?: boolean }): Promise<ApplyOutcome> {
    try {
      validateModel(desired);
      const now = Date.now();
      const draining = new Map(this.draining);
      for (const k of o.expire ?? []) draining.delete(k);
      for (const app of this.applied?.model.apps ?? []) {
        const next = desired.apps.find((a) => a.name === app.name);
        for (const s of app.servers) {
          const k = key(app.name, s.id);
          if (next && !next.servers.some((x) => x.id === s.id) && !this.draining.has(k) && !o.expire?.has(k)) draining.set(k, { app: app.name, server: { ...s, state: 'drain' }, since: now });
        }
      }
      for (const [k, d] of draining) {
        const app = desired.apps.find((a) => a.name === d.app);
        if (!app || app.servers.some((s) => s.id === d.server.id)) draining.delete(k);
      }
      const effective: ProxyModel = {
        ...desired,
        apps: desired.apps.map((a) => ({ ...a, servers: [...a.servers, ...[...draining.values()].filter((d) => d.app === a.name).map((d) => d.server)] })),
      };
      const rendered = this.render(effective, this.opts.paths, { slotsPerApp: this.opts.slotsPerApp ?? 4, slots: this.applied?.slots, ...(this.opts.threads ? { threads: this.opts.threads } : {}) });
      const next: Applied = { model: effective, slots: rendered.slots };
      const bundle = { config: rendered.config, files: { ...rendered.files, [SERVER_STATE]: await this.serverState(next) } };

      let mode: 'start' | 'reload' | 'runtime' | 'noop';
      let changes = 0;
      const reason = o.force ? 'resync after restart' : reloadReason(this.applied, next);
      if (!this.started) {
        await this.proc.start(bundle);
        this.started = true;
        mode = 'start';
      } else if (reason !== null || !this.proc.running) {
        const r = await this.proc.apply(bundle);
        if (!r.ok) throw new PleacoError('invalid_config', `haproxy rejected the new config: ${r.message}`, { details: { haproxy: r.message } });
        this.staleWhileDown = !r.reloaded;
        mode = r.reloaded ? 'reload' : 'noop';
        this.log.info(r.reloaded ? 'proxy reloaded' : 'proxy config saved while haproxy is down', { reason: reason ?? 'haproxy restarting' });
      } else {
        const ops = runtimeOps(this.applied!, next, this.opts.admitNewServers);
        changes = ops.length;
        if (ops.length === 0 && rendered.config === this.lastConfig) mode = 'noop';
        else {
          const r = await this.proc.write(bundle);
          if (!r.ok) throw new PleacoError('invalid_config', `haproxy rejected the new config: ${r.message}`, { details: { haproxy: r.message } });
          mode = 'runtime';
          try {
            await this.runOps(ops);
          } catch (err) {
            this.log.warn('runtime update failed; reloading instead', { error: err });
            const rr = await this.proc.apply(bundle);
            if (!rr.ok) throw new PleacoError('invalid_config', rr.message);
            mode = 'reload';
          }
        }
      }
      const before = this.drainingIds().join('\n');
      this.desired = desired;
      this.applied = next;
      this.draining = draining;
      if (this.drainingIds().join('\n') !== before) this.notifyDraining();
      this.lastConfig = rendered.config;
      this.scheduleDrain();
      if (mode !== 'noop') this.log.info('proxy config applied', { mode, changes, apps: desired.apps.length, draining: draining.size });
      return { ok: true, mode, changes };
    } catch (err) {
      const error = toPleacoError(err);
      this.log.error('proxy config not applied; the previous one keeps serving', { error, code: error.code });
      return { ok: false, error };
    }
  }

  private notifyDraining(): void {
    try {
      this.opts.onDrainingChange?.(this.drainingIds());
    } catch (err) {
      this.log.warn('draining listener failed', { error: err });
    }
  }

  private async runOps(ops: Op[]): Promise<void> {
    const rt = this.proc.runtime;
    const map = `${this.opts.paths.dir.replace(/\/+$/, '')}/${HOSTS_MAP}`;
    for (const op of ops) {
      if (op.kind === 'map') await (op.backend === null ? rt.delMap(map, op.host) : rt.setMap(map, op.host, op.backend));
      else await rt.setServer(op.backend, op.server, op.update);
    }
  }

  /** DOWN servers that keep their slot and address stay DOWN across a reload (see serverstate.ts). */
  private async serverState(next: Applied): Promise<string> {
    if (!this.proc.running) return EMPTY_SERVER_STATE;
    const enabled = new Map<string, { addr: string; port: number }>();
    for (const app of next.model.apps) {
      for (const s of app.servers) {
        const i = next.slots[app.name]?.byId[s.id];
        if (i !== undefined && s.state === 'ready') enabled.set(`${backendName(app.name)}/${slotName(i)}`, { addr: s.addr, port: s.port });
      }
    }
    const text = await this.proc.runtime.showServersState().catch(() => '');
    return carryDownServers(text, { enabled });
  }

  private scheduleDrain(): void {
    if (this.draining.size === 0 || this.closed) {
      clearInterval(this.drainTimer);
      this.drainTimer = undefined;
      return;
    }
    if (this.drainTimer) return;
    let busy = false;
    this.drainTimer = setInterval(() => {
      if (busy) return;
      busy = true;
      void this.drainTick().finally(() => (busy = false));
    }, this.opts.drainPollMs ?? 250);
  }

  private async drainTick(): Promise<void> {
    const stats = await this.stats().catch(() => [] as AppStats[]);
    const expire = new Set<string>();
    for (const [k, d] of this.draining) {
      const i = this.applied?.slots[d.app]?.byId[d.server.id];
      const srv = stats.find((a) => a.app === d.app)?.servers.find((s) => s.name === (i === undefined ? '' : slotName(i)));
      if (Date.now() - d.since >= this.drainMs || (srv !== undefined && srv.inFlight === 0)) expire.add(k);
    }
    if (expire.size === 0 || !this.desired) return;
    this.log.info('drained servers leave their slots', { servers: [...expire] });
    await this.enqueue(() => this.doApply(this.desired!, { expire }));
  }
}
