/**
 * Autoscaling on traffic, in the agent. Every node's proxy posts its per-app request metrics to its own agent (soft
 * state, `metrics/<node>/<app>`, a few seconds' TTL). For each app with a policy (`autoscale/<app>`), every agent
 * sends its node's metrics to the app's owner (rendezvous winner over the live members) over the sealed cluster
 * stream; the owner keeps them under the same soft keys. Every DECIDE_EVERY_MS the owner sums the fresh metrics of the
 * live members (a dead node's are never counted), asks scale/autoscale.ts `decide` for the replica count, writes it
 * (`scale/<app>`, only when the count it read is still there: a stale owner's write is refused) and records the
 * decision, the metric's history and the decision's memory in `obs/<owner>/autoscale/<app>`, so `pleaco autoscale`
 * on any node shows it and a new owner goes on from there.
 */
import { PleacoError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  AUTOSCALE_HISTORY_POINTS, AUTOSCALE_HISTORY_STEP_S, AUTOSCALE_KEEP_DECISIONS, isAppName, keys, newestAutoscaleStatus, parseAppMetrics, replicasOf,
  type AppMetrics, type AutoscaleDecision, type AutoscaleMemory, type AutoscalePolicy, type AutoscaleStatus,
} from '../model/index.js';
import { decide, emptyAutoscaleMemory, type MetricSample } from '../scale/index.js';
import type { SoftState, Store } from '../state/index.js';

/** The cluster request kind that carries a node's metrics to an app's owner. */
export const METRICS_KIND = 'metrics';
/** How often metrics go to the owners and the owners decide (also whenever a peer's metrics arrive). */
export const DECIDE_EVERY_MS = 1000;
/** Metrics older than this (by the proxy's own stamp, or by their soft-state TTL) are not counted. */
export const METRICS_FRESH_MS = 6000;
/** How often the owner rewrites the status record when nothing changed (its history and metric move on). */
const STATUS_EVERY_MS = 10_000;
/** Samples kept per app (the history and the longest window the decision reads). */
const KEEP_SAMPLES_MS = AUTOSCALE_HISTORY_POINTS * AUTOSCALE_HISTORY_STEP_S * 1000;
const MAX_METRICS_PER_MESSAGE = 500;

export interface AutoscalePeers {
  serve(kind: string, handler: (req: Record<string, unknown>, from: string) => Promise<Record<string, unknown>>): void;
  ask(peer: string, kind: string, req: Record<string, unknown>): Promise<Record<string, unknown>>;
}

export interface AutoscalerDeps {
  store: Store;
  soft: SoftState;
  /** Writes the count the owner decided, when the count read is still the current one (AppService.autoscaleTo). */
  scaleTo(app: string, from: number, to: number): Promise<boolean>;
  /** null: a node on its own (it owns every app; nothing to send). */
  peers: AutoscalePeers | null;
  /** The live members' ids (this node included). */
  live(): Set<string>;
  owner(app: string): string;
  /** Told when a peer's metrics arrived for an app this node owns (the agent's wiring runs a pass soon). */
  onMetrics?: () => void;
  self: string;
  log: Logger;
  now?: () => number;
}

export class Autoscaler {
  private readonly samples = new Map<string, MetricSample[]>();
  private readonly memory = new Map<string, AutoscaleMemory>();
  private readonly decisions = new Map<string, AutoscaleDecision[]>();
  private readonly written = new Map<string, { at: number; desired: number; panic: boolean }>();
  /** Each proxy's last request counter per app (`<node>/<app>`), and the rate it gave. */
  private readonly totals = new Map<string, { at: number; total: number; rate: number }>();
  private readonly now: () => number;

  /** Serves the peers' metrics at once; `pass` is run every DECIDE_EVERY_MS by the agent's wiring (a Reconciler). */
  constructor(private readonly d: AutoscalerDeps) {
    this.now = d.now ?? Date.now;
    d.peers?.serve(METRICS_KIND, (req) => this.receive(req));
  }

  /** The apps with a policy. */
  private policies(): { app: string; policy: AutoscalePolicy }[] {
    return this.d.store.list<AutoscalePolicy>(keys.autoscalePrefix).map((e) => ({ app: e.key.slice(keys.autoscalePrefix.length), policy: e.value })).filter((p) => isAppName(p.app) && this.d.store.get(keys.app(p.app)) !== undefined);
  }

  /** Sends this node's metrics to the owners of the apps it does not own, and decides for the ones it owns. */
  async pass(): Promise<void> {
    const toOwners = new Map<string, AppMetrics[]>();
    for (const { app, policy } of this.policies()) {
      const owner = this.d.owner(app);
      if (owner === this.d.self) {
        await this.decideFor(app, policy);
        continue;
      }
      this.forget(app);
      const mine = this.d.soft.get(keys.metrics(this.d.self, app)) as AppMetrics | undefined;
      if (mine) toOwners.set(owner, [...(toOwners.get(owner) ?? []), mine]);
    }
    const peers = this.d.peers;
    if (!peers) return;
    await Promise.all([...toOwners].map(async ([owner, metrics]) => {
      await peers.ask(owner, METRICS_KIND, { node: this.d.self, metrics }).catch((err: unknown) => this.d.log.debug('cannot send metrics to the owner', { owner, error: err instanceof Error ? err.message : String(err) }));
    }));
  }

  /** A peer's metrics for the apps this node owns: kept like this node's own, for METRICS_FRESH_MS. */
  private async receive(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    const node = req.node;
    if (typeof node !== 'string' || !this.d.live().has(node) || node === this.d.self) throw new PleacoError('bad_request', 'metrics: node must be another live member');
    if (!Array.isArray(req.metrics) || req.metrics.length > MAX_METRICS_PER_MESSAGE) throw new PleacoError('bad_request', `metrics: at most ${MAX_METRICS_PER_MESSAGE} entries`);
    let kept = 0;
    for (const raw of req.metrics as unknown[]) {
      const app = (raw as { app?: unknown } | null)?.app;
      if (typeof app !== 'string' || !isAppName(app)) continue;
      const key = keys.metrics(node, app);
      const m = parseAppMetrics(key, raw);
      if (m.node !== node || this.d.owner(app) !== this.d.self) continue;
      this.d.soft.set(key, m, METRICS_FRESH_MS);
      kept++;
    }
    if (kept > 0) this.d.onMetrics?.();
    return { kept };
  }

  /** The cluster's total for an app now: the fresh metrics of live members; null when none reported. */
  private sample(app: string): MetricSample | null {
    const live = this.d.live();
    const now = this.now();
    const fresh = this.d.soft
      .list(`${keys.metricsPrefix}`)
      .map((e) => e.value as AppMetrics)
      .filter((m) => m.app === app && live.has(m.node) && Math.abs(now - Date.parse(m.at)) <= METRICS_FRESH_MS);
    if (fresh.length === 0) return null;
    return { at: now, rps: fresh.reduce((s, m) => s + this.rate(m), 0), inFlight: fresh.reduce((s, m) => s + m.inFlight + m.queue, 0), nodes: fresh.length };
  }

  /**
   * A proxy's request rate: from its request counter between two of its reports (steadier than HAProxy's rate over
   * the last second), else the rate it reported (its first report, a restarted HAProxy, a gap).
   */
  private rate(m: AppMetrics): number {
    const key = `${m.node}/${m.app}`;
    const at = Date.parse(m.at);
    const last = this.totals.get(key);
    if (!last || last.at !== at) this.totals.set(key, { at, total: m.reqTotal, rate: last && at > last.at && at - last.at <= 10_000 && m.reqTotal >= last.total ? ((m.reqTotal - last.total) * 1000) / (at - last.at) : m.reqRate });
    if (this.totals.size > 10_000) this.totals.clear();
    return this.totals.get(key)!.rate;
  }

  private async decideFor(app: string, policy: AutoscalePolicy): Promise<void> {
    const now = this.now();
    this.adopt(app);
    const s = this.sample(app);
    const series = (this.samples.get(app) ?? []).filter((x) => now - x.at <= KEEP_SAMPLES_MS);
    if (s) series.push(s);
    this.samples.set(app, series);
    const current = replicasOf(this.d.store, app);
    const { decision, memory } = decide(policy, series, current, this.memory.get(app) ?? emptyAutoscaleMemory(), now);
    this.memory.set(app, memory);
    if (decision.desired !== current) {
      const done = await this.d.scaleTo(app, current, decision.desired);
      if (done) {
        const list = [...(this.decisions.get(app) ?? []), decision].slice(-AUTOSCALE_KEEP_DECISIONS);
        this.decisions.set(app, list);
        this.d.log.info('autoscale', { app, from: current, to: decision.desired, metric: decision.metric, target: decision.target, panic: decision.panic, reason: decision.reason });
      }
    }
    await this.writeStatus(app, policy, decision, s?.nodes ?? 0);
  }

  /** Taking over an app (first decision here): the memory and decisions of the newest record another owner left. */
  private adopt(app: string): void {
    if (this.memory.has(app)) return;
    const last = newestAutoscaleStatus(this.d.store, app);
    if (!last) return;
    if (last.memory && Array.isArray(last.memory.recommendations)) this.memory.set(app, last.memory);
    if (Array.isArray(last.decisions)) this.decisions.set(app, last.decisions.slice(-AUTOSCALE_KEEP_DECISIONS));
  }

  /** This node no longer owns the app: what it kept goes (the next owner reads the status record). */
  private forget(app: string): void {
    this.samples.delete(app);
    this.memory.delete(app);
    this.decisions.delete(app);
    this.written.delete(app);
  }

  private async writeStatus(app: string, policy: AutoscalePolicy, decision: AutoscaleDecision, nodes: number): Promise<void> {
    const now = this.now();
    const last = this.written.get(app);
    if (last && last.desired === decision.desired && last.panic === decision.panic && now - last.at < STATUS_EVERY_MS) return;
    const status: AutoscaleStatus = {
      app, node: this.d.self, at: new Date(now).toISOString(), metric: decision.metric, nodes, desired: decision.desired, panic: decision.panic,
      decisions: this.decisions.get(app) ?? [], history: history(this.samples.get(app) ?? [], policy.targetConcurrency !== undefined ? 'inFlight' : 'rps', now),
      memory: this.memory.get(app) ?? emptyAutoscaleMemory(),
    };
    await this.d.store.put(keys.autoscaleStatus(this.d.self, app), status);
    this.written.set(app, { at: now, desired: decision.desired, panic: decision.panic });
  }
}

/** The mean of the metric per AUTOSCALE_HISTORY_STEP_S over the last AUTOSCALE_HISTORY_POINTS steps (null: no sample). */
export function history(samples: readonly MetricSample[], kind: 'rps' | 'inFlight', now: number): (number | null)[] {
  const step = AUTOSCALE_HISTORY_STEP_S * 1000;
  const start = now - AUTOSCALE_HISTORY_POINTS * step;
  const sums = new Array<number>(AUTOSCALE_HISTORY_POINTS).fill(0);
  const counts = new Array<number>(AUTOSCALE_HISTORY_POINTS).fill(0);
  for (const s of samples) {
    const i = Math.floor((s.at - start) / step);
    if (i < 0 || i >= AUTOSCALE_HISTORY_POINTS) continue;
    sums[i]! += kind === 'rps' ? s.rps : s.inFlight;
    counts[i]!++;
  }
  return sums.map((v, i) => (counts[i] ? Math.round((v / counts[i]) * 10) / 10 : null));
}
