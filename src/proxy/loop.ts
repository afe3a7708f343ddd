/**
 * The proxy's loops: keep HAProxy in step with state (apps, domains, health checks, every node's running
 * replicas), post per-app request metrics as soft state every 2 s, record this proxy's status at
 * `obs/<node>/proxy` (on change, and as a heartbeat), and publish the servers in drain at
 * `obs/<node>/proxy-draining` (on change, and refreshed while not empty). Each loop is a Reconciler.
 */
import type { AgentLink, MembersSource, SoftEntry, StateChange, StateView } from '../link/index.js';
import { Reconciler } from '../link/index.js';
import type { Logger } from '../log.js';
import { keys, liveMemberIds, type AppMetrics, type ProxyDraining, type ProxyStatus } from '../model/index.js';
import { ProxyController } from './controller.js';
import { proxyModelOf, type SkippedRecord } from './fromstate.js';
import type { HAProxyProcess } from './haproxy.js';

const DEBOUNCE_MS = 50;
/** Safety net: the model is applied again this often even without a change (a no-op when nothing differs). */
const APPLY_TICK_MS = 30_000;
const METRICS_EVERY_MS = 2000;
const METRICS_TTL_MS = 10_000;
const HEARTBEAT_MS = 30_000;
/** How often a non-empty draining record is written again (the runner ignores ones older than 10 s). */
const DRAINING_REFRESH_MS = 5_000;
/** Skipped records listed in the status record (all are counted). */
const MAX_LISTED_SKIPS = 20;

export interface ProxyLoopOptions {
  view: StateView;
  link: Pick<AgentLink, 'write' | 'postSoft'>;
  proc: HAProxyProcess;
  /** The process dir and its stats socket. */
  paths: { dir: string; statsSocket: string };
  nodeId: string;
  /** The members as the agent sees them: replicas on nodes that are not live are left out of routing. */
  members?: MembersSource;
  proxy: { port: number; bindHost: string; domain: string };
  /** The activator's address: the backup server of apps that may scale to zero (absent: none). */
  activator?: { addr: string; port: number };
  log: Logger;
}

/** Which state changes change HAProxy's configuration. */
function relevant(key: string): boolean {
  return key.startsWith('apps/') || key.startsWith('domains/') || key.startsWith('health/') || key.startsWith('autoscale/') || /^obs\/[^/]+\/slots\//.test(key);
}

export class ProxyLoop {
  private readonly controller: ProxyController;
  private readonly apply: Reconciler;
  private readonly metrics: Reconciler;
  private readonly heartbeat: Reconciler;
  private readonly drainingRefresh: Reconciler;
  private drainingWrite: Promise<unknown> = Promise.resolve();
  private drainingWritten: string | null = null;
  private draining: string[] = [];
  private written: { ok: boolean; error?: string; skips: string } | null = null;
  /** Host → app of the model last built. */
  private hosts = new Map<string, string>();
  /** Records left out of the model, as of the last model built. */
  private skipped: SkippedRecord[] = [];
  /** `key\nreason` of the skipped records already logged (forgotten once the record is fixed or gone). */
  private readonly logged = new Set<string>();
  private readonly onChange = (e: StateChange): void => {
    if (relevant(e.key)) this.apply.kick();
  };
  private readonly onSynced = (): void => this.apply.kick();

  constructor(private readonly o: ProxyLoopOptions) {
    // New servers take traffic at once ('at-once'): the runner puts a container into a slot's record only
    // after it passed the app's health check `rise` times (health-gated rollout), so the proxy need not wait
    // another rise × interval; HAProxy's own checks take a failing one out after `fall` failures.
    this.controller = new ProxyController({ proc: o.proc, paths: o.paths, logger: o.log.child({ component: 'proxy' }), admitNewServers: 'at-once', onDrainingChange: (ids) => this.publishDraining(ids) });
    const onError = (what: string) => (err: unknown) => o.log.warn(what, { error: err });
    this.apply = new Reconciler({ pass: () => this.applyNow(), debounceMs: DEBOUNCE_MS, tickMs: APPLY_TICK_MS, onError: (err) => o.log.error('proxy apply failed', { error: err }) });
    this.metrics = new Reconciler({ pass: () => this.postMetrics(), tickMs: METRICS_EVERY_MS, onError: (err) => o.log.debug('cannot post metrics', { error: err }) });
    this.heartbeat = new Reconciler({ pass: () => (this.written ? this.writeStatus(this.written.ok, this.written.error, true) : Promise.resolve()), tickMs: HEARTBEAT_MS, onError: onError('cannot record the proxy status') });
    this.drainingRefresh = new Reconciler({ pass: async () => void (this.draining.length > 0 && this.publishDraining(this.draining, true)), tickMs: DRAINING_REFRESH_MS, onError: onError('cannot record the draining servers') });
  }

  /** The model from the view; records left out of it are logged once each and kept for the status record. */
  private model(): ReturnType<typeof proxyModelOf>['model'] {
    const view = this.o.members?.members();
    const live = view ? liveMemberIds(view.members, this.o.nodeId) : null;
    const { model, skipped } = proxyModelOf(this.o.view, { ...this.o.proxy, node: this.o.nodeId, ...(live ? { live: (n: string) => live.has(n) } : {}), ...(this.o.activator ? { activator: this.o.activator } : {}) });
    this.hosts = new Map(model.apps.flatMap((a) => a.hosts.map((h) => [h, a.name] as const)));
    const now = new Set(skipped.map((r) => `${r.key}\n${r.reason}`));
    for (const r of skipped) {
      if (!this.logged.has(`${r.key}\n${r.reason}`)) this.o.log.warn('invalid record left out of routing', { key: r.key, reason: r.reason });
    }
    this.logged.clear();
    for (const k of now) this.logged.add(k);
    this.skipped = skipped;
    return model;
  }

  /** The app routed for a Host header (lowercase, no port) in the model last built. */
  appOfHost(host: string): string | null {
    return this.hosts.get(host) ?? null;
  }

  /** Whether a node is a live member as the agent last said (every node when it has not). */
  isLive(node: string): boolean {
    const view = this.o.members?.members();
    return view ? liveMemberIds(view.members, this.o.nodeId).has(node) : true;
  }

  /**
   * First config: HAProxy must start (a port in use or a missing binary throws, and the supervisor restarts the
   * process); then the loops run.
   */
  async start(): Promise<{ apps: number }> {
    // Listening before the first apply: a change that arrives while HAProxy starts is applied right after it.
    await this.apply.start(false);
    this.o.view.on('change', this.onChange);
    this.o.view.on('synced', this.onSynced);
    this.o.members?.on('members', this.onSynced);
    const model = this.model();
    const first = await this.controller.apply(model);
    if (!first.ok) {
      this.o.view.off('change', this.onChange);
      this.o.view.off('synced', this.onSynced);
      this.o.members?.off('members', this.onSynced);
      await this.apply.stop();
      await this.controller.close().catch(() => undefined);
      throw first.error;
    }
    await this.writeStatus(true);
    this.publishDraining(this.controller.drainingIds()); // a restarted proxy drains nothing: clear an old record
    this.o.proc.on('exit', () => void this.writeStatus(false, 'haproxy exited; restarting'));
    this.o.proc.on('restarted', () => void this.writeStatus(true));
    await Promise.all([this.metrics.start(false), this.heartbeat.start(false), this.drainingRefresh.start(false)]);
    return { apps: model.apps.length };
  }

  async stop(): Promise<void> {
    this.o.view.off('change', this.onChange);
    this.o.view.off('synced', this.onSynced);
    this.o.members?.off('members', this.onSynced);
    await Promise.all([this.apply.stop(), this.metrics.stop(), this.heartbeat.stop(), this.drainingRefresh.stop()]);
    await this.controller.close();
    await this.drainingWrite.catch(() => undefined);
    await this.writeStatus(false, 'stopped').catch(() => undefined);
  }

  private async applyNow(): Promise<void> {
    const out = await this.controller.apply(this.model());
    if (out.ok) {
      if (out.mode !== 'noop') this.o.log.debug('proxy model applied', { mode: out.mode, changes: out.changes });
      await this.writeStatus(true);
    } else {
      // The controller already logged HAProxy's message; the previous config keeps serving.
      this.o.log.error('proxy config rejected; the previous one keeps serving', { code: out.error.code, error: out.error.message });
      await this.writeStatus(this.written?.ok ?? false, out.error.message);
    }
  }

  /** The status record: written when ok or the error change, and (force) as a heartbeat. */
  private async writeStatus(ok: boolean, error?: string, force = false): Promise<void> {
    const skips = this.skipped.map((r) => `${r.key}\n${r.reason}`).join('\n');
    if (!force && this.written && this.written.ok === ok && this.written.error === error && this.written.skips === skips) return;
    const { port, domain } = this.o.proxy;
    const listed = this.skipped.slice(0, MAX_LISTED_SKIPS).map((r) => ({ key: r.key.slice(0, 300), reason: r.reason.slice(0, 300) }));
    const status: ProxyStatus = { port, domain, ok, at: new Date().toISOString(), ...(error ? { error } : {}), ...(listed.length ? { skipped: listed, skippedCount: this.skipped.length } : {}) };
    this.written = { ok, ...(error ? { error } : {}), skips };
    await this.o.link.write([{ key: keys.proxy(this.o.nodeId), value: status }]).catch((err: unknown) => {
      this.written = null; // try again next time
      this.o.log.warn('cannot record the proxy status', { error: err });
    });
  }

  /**
   * Servers in drain, published whenever the set changes and every DRAINING_REFRESH_MS while it is not empty (the
   * runner ignores records older than 10 s): the runner does not stop a replaced container while a fresh record
   * lists it. Writes are serialized, latest wins.
   */
  private publishDraining(ids: string[], refresh = false): void {
    this.draining = ids;
    this.drainingWrite = this.drainingWrite.then(async () => {
      const sig = ids.join('\n');
      if (sig === this.drainingWritten && !refresh) return;
      const value: ProxyDraining = { ids, at: new Date().toISOString() };
      await this.o.link
        .write([{ key: keys.proxyDraining(this.o.nodeId), value }])
        .then(() => (this.drainingWritten = sig))
        .catch((err: unknown) => this.o.log.warn('cannot record the draining servers', { error: err }));
    });
  }

  /** HAProxy's per-backend stats as AppMetrics soft state (TTL 10 s). */
  private async postMetrics(): Promise<void> {
    if (!this.o.proc.running) return;
    const at = new Date().toISOString();
    const entries: SoftEntry[] = (await this.controller.stats()).map((s) => {
      const value: AppMetrics = { app: s.app, node: this.o.nodeId, at, reqRate: s.reqRate, reqTotal: s.reqTotal, inFlight: s.inFlight, queue: s.queue, codes: { ...s.codes }, avgResponseMs: s.avgResponseMs, avgTotalMs: s.avgTotalMs };
      return { key: keys.metrics(this.o.nodeId, s.app), value, ttlMs: METRICS_TTL_MS };
    });
    if (entries.length) await this.o.link.postSoft(entries);
  }
}
