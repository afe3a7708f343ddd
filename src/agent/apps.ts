/**
 * The agent's operations on apps, builds and releases. Every decision that must not race (build
 * queue, release numbers) runs under a per-app lock; everything is written to the replicated store.
 */
import { randomBytes } from 'node:crypto';
import { PleacoError } from '../errors.js';
import type { Store, WriteOp } from '../state/index.js';
import { KeyedLock } from './lock.js';
import { checkPushOrder } from './pushorder.js';
import { clashOps, readopted } from './clash.js';
import {
  appSpecs,
  currentRelease,
  isAppSpec,
  replicasOf,
  applyResourceChange,
  describeResources,
  validateAppName,
  validateEnvKey,
  validateBranch,
  validateRef,
  validateRepoUrl,
  keys,
  configOf,
  type AppSpec,
  type Build,
  type CurrentRelease,
  type DomainRecord,
  type Release,
  type ReleaseFailure,
  type ScaleSpec,
  type ReleaseInput,
  type Resources,
  type FailureReport,
  type AutoscalePolicy,
  validateAutoscalePolicy,
} from '../model/index.js';

export const MAX_REPLICAS = 100;
/** Characters of container log kept on a failed release. */
const MAX_FAILURE_LOG = 4000;

export interface AppServiceOptions {
  store: Store;
  allowLocalRepos: boolean;
  now?: () => Date;
}

/** Time-ordered, unique build ids: `b` + base36 ms + random. */
function newBuildId(now: Date): string {
  return `b${now.getTime().toString(36)}${randomBytes(3).toString('hex')}`;
}

export class AppService {
  private readonly lock = new KeyedLock();
  private readonly store: Store;
  private readonly now: () => Date;

  constructor(private readonly opts: AppServiceOptions) {
    this.store = opts.store;
    this.now = opts.now ?? (() => new Date());
  }

  /** Every app (a replicated `apps/` record that is no app spec is left out: see isAppSpec). */
  list(): AppSpec[] {
    return appSpecs(this.store);
  }

  get(name: string): AppSpec {
    const app = this.store.get<unknown>(keys.app(name));
    if (!app) throw new PleacoError('not_found', `no app named ${JSON.stringify(name)}`);
    if (!isAppSpec(app, name)) throw new PleacoError('conflict', `the record of app ${JSON.stringify(name)} is not a valid app spec (written by another node?); delete the app and create it again`);
    return app;
  }

  async create(input: { name?: unknown; repo?: unknown; branch?: unknown }): Promise<AppSpec> {
    const name = validateAppName(input.name);
    if (typeof input.repo !== 'string') throw new PleacoError('invalid_repo_url', 'repo is required (an https or ssh git URL)');
    const repo = validateRepoUrl(input.repo, { allowLocal: this.opts.allowLocalRepos });
    if (input.branch !== undefined && typeof input.branch !== 'string') throw new PleacoError('bad_request', 'branch must be a string');
    const branch = validateBranch(input.branch ?? 'main');
    return this.lock.run(name, async () => {
      if (this.store.get(keys.app(name))) throw new PleacoError('conflict', `an app named ${name} already exists`);
      const app: AppSpec = { name, repo, branch, webhookSecret: randomBytes(20).toString('hex'), createdAt: this.now().toISOString() };
      // A new app of a reused name starts empty: tombstone whatever a racing write left of the old one.
      await this.store.batch([...this.leftovers(name), { key: keys.app(name), value: app }, { key: keys.scale(name), value: { replicas: 1 } satisfies ScaleSpec }]);
      return app;
    });
  }

  async destroy(name: string): Promise<void> {
    // Not get(): a record that is no valid app spec can be deleted too.
    const exists = (): void => {
      if (!this.store.get(keys.app(name))) throw new PleacoError('not_found', `no app named ${JSON.stringify(name)}`);
    };
    exists();
    await this.lock.run(name, async () => {
      exists();
      const ops = this.leftovers(name);
      ops.push({ key: keys.app(name), value: null });
      await this.store.batch(ops);
    });
  }

  /** Tombstones for every key of an app except its spec (its domains and health check included). */
  private leftovers(name: string): WriteOp[] {
    const ops: WriteOp[] = [];
    for (const prefix of [keys.envPrefix(name), keys.releasePrefix(name), keys.buildPrefix(name), keys.scanPrefix(name), keys.sbomPrefix(name)]) {
      for (const e of this.store.list(prefix)) ops.push({ key: e.key, value: null });
    }
    for (const e of this.store.list<DomainRecord>(keys.domainPrefix)) if (e.value.app === name) ops.push({ key: e.key, value: null });
    for (const key of [keys.scale(name), keys.current(name), keys.health(name), keys.scanPolicy(name), keys.autoscale(name), keys.clash(name)]) if (this.store.get(key) !== undefined) ops.push({ key, value: null });
    return ops;
  }

  /** Runs fn under the app's lock once the app exists (for other services' per-app writes, e.g. domains). */
  withApp<T>(name: string, fn: (app: AppSpec) => Promise<T>): Promise<T> {
    this.get(name);
    return this.lock.run(name, async () => fn(this.get(name)));
  }

  builds(name: string): Build[] {
    this.get(name);
    return this.store.list<Build>(keys.buildPrefix(name)).map((e) => e.value).sort((a, b) => (a.id < b.id ? 1 : -1));
  }

  build(name: string, id: string): Build {
    const b = this.store.get<Build>(keys.build(name, id));
    if (!b) throw new PleacoError('not_found', `no build ${id} for app ${name}`);
    return b;
  }

  /** Queues a build; a queued (not yet running) build of the same app is superseded by this one. */
  async enqueue(name: string, ref: unknown, trigger: Build['trigger']): Promise<{ build: Build; replaced?: string }> {
    const app = this.get(name);
    if (ref !== undefined && typeof ref !== 'string') throw new PleacoError('invalid_ref', 'ref must be a string');
    const wanted = validateRef(ref ?? app.branch);
    return this.lock.run(name, async () => {
      this.get(name); // destroyed while we waited for the lock
      const now = this.now();
      const build: Build = { id: newBuildId(now), app: name, ref: wanted, status: 'queued', stage: 'queued', trigger, createdAt: now.toISOString() };
      const ops: WriteOp[] = [{ key: keys.build(name, build.id), value: build }];
      let replaced: string | undefined;
      for (const old of this.store.list<Build>(keys.buildPrefix(name))) {
        if (old.value.status !== 'queued') continue;
        replaced = old.value.id;
        const error = { code: 'superseded', message: `superseded by build ${build.id}` };
        ops.push({ key: old.key, value: { ...old.value, status: 'superseded', finishedAt: now.toISOString(), error } satisfies Build });
      }
      await this.store.batch(ops);
      return replaced ? { build, replaced } : { build };
    });
  }

  /**
   * A builder takes a queued build. Idempotent for the node that has it: a build already running on `node` is
   * returned as it is (a builder retrying a claim whose answer it lost must get it, or nobody works on it). Fails
   * with 409 when it is not queued otherwise (another node has it, or it is finished or superseded).
   */
  claim(name: string, id: string, node: string): Promise<Build> {
    return this.lock.run(name, async () => {
      const b = this.build(name, id);
      if (b.status === 'running' && b.node === node) return b;
      if (b.status !== 'queued') throw new PleacoError('conflict', `build ${id} is ${b.status}, not queued`);
      const claimed: Build = { ...b, status: 'running', stage: 'fetch', node, startedAt: this.now().toISOString() };
      await this.store.put(keys.build(name, id), claimed);
      return claimed;
    });
  }

  releases(name: string): Release[] {
    this.get(name);
    return this.store.list<Release>(keys.releasePrefix(name)).map((e) => e.value).sort((a, b) => b.number - a.number);
  }

  release(name: string, n: number): Release {
    const r = this.store.get<Release>(keys.release(name, n));
    if (!r) throw new PleacoError('not_found', `app ${name} has no release v${n}`);
    return r;
  }

  current(name: string): Release | null {
    return currentRelease(this.store, name) ?? null;
  }

  config(name: string): Record<string, string> {
    this.get(name);
    return configOf(this.store, name);
  }

  replicas(name: string): number {
    return replicasOf(this.store, name);
  }

  /** Numbers a release, snapshots the config into it and makes it current — one step, under the app lock. */
  private async addRelease(name: string, fields: Omit<Release, 'app' | 'number' | 'config' | 'createdAt'>, config?: Record<string, string>): Promise<Release> {
    const last = this.store.list<Release>(keys.releasePrefix(name)).reduce((m, e) => Math.max(m, e.value.number), 0);
    // The limits travel with the release like its config: a rollback's fields carry the old release's own.
    const resources = 'resources' in fields ? fields.resources : this.get(name).resources;
    const release: Release = { ...fields, app: name, number: last + 1, config: config ?? this.config(name), createdAt: this.now().toISOString(), appCreatedAt: this.get(name).createdAt };
    if (resources && Object.keys(resources).length > 0) release.resources = resources;
    else delete release.resources;
    await this.store.batch([
      { key: keys.release(name, release.number), value: release },
      { key: keys.current(name), value: { release: release.number } satisfies CurrentRelease },
    ]);
    return release;
  }

  /** Idempotent per build: a builder that repeats the call (the agent restarted mid-request) gets the same release. */
  createRelease(name: string, input: ReleaseInput): Promise<Release> {
    this.get(name);
    return this.lock.run(name, async () => {
      this.get(name);
      const all = this.store.list<Release>(keys.releasePrefix(name)).map((e) => e.value);
      const existing = all.find((r) => r.kind === 'deploy' && r.build === input.build);
      if (existing) {
        // The first request made it; if nothing newer followed, make sure it is also current.
        if (!all.some((r) => r.number > existing.number) && this.store.get<CurrentRelease>(keys.current(name))?.release !== existing.number) {
          await this.store.put(keys.current(name), { release: existing.number } satisfies CurrentRelease);
        }
        return existing;
      }
      checkPushOrder(this.store, name, input, all);
      return this.addRelease(name, {
        kind: 'deploy',
        description: input.description ?? `Deploy ${input.commit.slice(0, 7)}`,
        commit: input.commit,
        image: input.image,
        imageId: input.imageId,
        build: input.build,
        test: input.test,
        ...(input.scan ? { scan: input.scan } : {}),
        port: input.port,
      });
    });
  }

  /**
   * Keeps a release that lost its number to another one written for the same number elsewhere (both sides of a
   * partition released): it gets the next free number, marked `renumberedFrom`, and does not become current (the
   * release written last did). Idempotent: a release already kept (same creation time, kind and build) is returned.
   */
  readoptRelease(name: string, lost: Release): Promise<Release | null> {
    return this.lock.run(name, async () => {
      const r = readopted(this.store, name, lost);
      if (!r || 'kept' in r) return r?.kept ?? null;
      await this.store.put(keys.release(name, r.write.number), r.write);
      return r.write;
    });
  }

  /** An app of this name made elsewhere lost to the kept spec (a merge): its releases go (agent/clash.ts). */
  resolveClash(name: string, lost: AppSpec): Promise<void> {
    return this.lock.run(name, async () => void (await this.store.batch(clashOps(this.store, name, lost, this.now()))));
  }

  /** Deploys an earlier release's image and config again, as a new release. Default: the one before current. */
  rollback(name: string, target?: number): Promise<Release> {
    this.get(name);
    return this.lock.run(name, async () => {
      this.get(name);
      const cur = this.current(name);
      if (!cur) throw new PleacoError('conflict', `app ${name} has no release to roll back from`);
      const n = target ?? cur.number - 1;
      if (!Number.isSafeInteger(n) || n < 1) throw new PleacoError('conflict', `app ${name} has no release before v${cur.number}`);
      const from = this.release(name, n);
      if (!from.image) throw new PleacoError('conflict', `release v${n} has no image to roll back to`);
      const { app: _a, number: _n, createdAt: _c, config, from: _f, failure: _x, ...rest } = from;
      return this.addRelease(name, { ...rest, kind: 'rollback', description: `Rollback to v${n}`, from: n }, config);
    });
  }

  /**
   * Gives up a release whose rollout failed (a runner saw its replica never get healthy within the deadline,
   * or crash again and again): records why on the release and, when it is still current, makes `rollbackTo`
   * (the release the failing slot still serves) current again. Idempotent: every runner that sees the
   * failure may report it; the first report wins and later ones return the same record.
   */
  failRelease(name: string, number: number, report: FailureReport): Promise<Release> {
    this.get(name);
    return this.lock.run(name, async () => {
      const rel = this.release(name, number);
      if (rel.failure) return rel;
      const cur = this.store.get<CurrentRelease>(keys.current(name))?.release;
      let back: number | null = null;
      if (cur === number && report.rollbackTo !== null && report.rollbackTo !== number) {
        const target = this.store.get<Release>(keys.release(name, report.rollbackTo));
        if (target?.image && !target.failure) back = target.number;
      }
      const failure: ReleaseFailure = { at: this.now().toISOString(), reason: report.reason, node: report.node, slot: report.slot, rolledBackTo: back };
      if (report.lastLog) failure.lastLog = report.lastLog.slice(-MAX_FAILURE_LOG);
      const failed: Release = { ...rel, failure };
      const ops: WriteOp[] = [{ key: keys.release(name, number), value: failed }];
      if (back !== null) ops.push({ key: keys.current(name), value: { release: back } satisfies CurrentRelease });
      await this.store.batch(ops);
      return failed;
    });
  }

  /** Sets and unsets config vars; when the app has a release, a new one carries the new config. */
  setConfig(name: string, set: Record<string, unknown>, unset: unknown[]): Promise<Release | null> {
    this.get(name);
    const ops: WriteOp[] = [];
    for (const [k, v] of Object.entries(set)) {
      validateEnvKey(k);
      if (typeof v !== 'string') throw new PleacoError('bad_request', `config value of ${k} must be a string`);
      if (k === 'PORT') throw new PleacoError('bad_request', 'PORT is set by pleaco; set the app port with the app spec instead');
      ops.push({ key: keys.env(name, k), value: v });
    }
    for (const k of unset) ops.push({ key: keys.env(name, validateEnvKey(k)), value: null });
    if (ops.length === 0) throw new PleacoError('bad_request', 'nothing to set or unset');
    return this.lock.run(name, async () => {
      this.get(name);
      await this.store.batch(ops);
      const cur = this.current(name);
      if (!cur) return null;
      const { app: _a, number: _n, createdAt: _c, config: _cfg, from: _f, failure: _x, ...rest } = cur;
      const changed = [...Object.keys(set), ...unset.map(String)].join(', ');
      return this.addRelease(name, { ...rest, kind: 'config', description: `Config change: ${changed}` });
    });
  }

  /**
   * Changes the app's container limits (a field null: back to the node's default). When the app has a release, a
   * new one carries them, so the runner rolls them out one replica at a time.
   */
  setResources(name: string, input: unknown): Promise<{ resources: Resources; release: Release | null }> {
    this.get(name);
    return this.lock.run(name, async () => {
      const app = this.get(name);
      const resources = applyResourceChange(app.resources, input);
      const { resources: _old, ...rest } = app;
      await this.store.put(keys.app(name), Object.keys(resources).length ? { ...rest, resources } : rest);
      const cur = this.current(name);
      if (!cur) return { resources, release: null };
      const { app: _a, number: _n, createdAt: _c, config: _cfg, from: _f, failure: _x, resources: _r, ...fields } = cur;
      const release = await this.addRelease(name, { ...fields, kind: 'config', description: `Resources: ${describeResources(resources)}`, resources });
      return { resources, release };
    });
  }

  async scale(name: string, replicas: unknown): Promise<number> {
    this.get(name);
    if (typeof replicas !== 'number' || !Number.isSafeInteger(replicas) || replicas < 0 || replicas > MAX_REPLICAS) {
      throw new PleacoError('bad_request', `replicas must be an integer from 0 to ${MAX_REPLICAS}`);
    }
    return this.lock.run(name, async () => {
      this.get(name);
      const auto = this.store.get<AutoscalePolicy>(keys.autoscale(name));
      if (auto) throw new PleacoError('conflict', `${name} is autoscaled (${auto.min} to ${auto.max} replicas): change the bounds with autoscale:set, or turn it off with autoscale:off`);
      await this.store.put(keys.scale(name), { replicas } satisfies ScaleSpec);
      return replicas;
    });
  }

  /** Sets the app's autoscaling policy; its replica count is brought within the new bounds at once. */
  setAutoscale(name: string, input: unknown): Promise<AutoscalePolicy> {
    this.get(name);
    const policy = validateAutoscalePolicy(input);
    return this.lock.run(name, async () => {
      this.get(name);
      const now = replicasOf(this.store, name);
      const clamped = Math.min(policy.max, Math.max(policy.min, now));
      await this.store.batch([{ key: keys.autoscale(name), value: policy }, ...(clamped !== now ? [{ key: keys.scale(name), value: { replicas: clamped } satisfies ScaleSpec }] : [])]);
      return policy;
    });
  }

  /** Turns autoscaling off: the replica count stays where the autoscaler left it. */
  autoscaleOff(name: string): Promise<boolean> {
    this.get(name);
    return this.lock.run(name, async () => {
      if (this.store.get(keys.autoscale(name)) === undefined) return false;
      await this.store.put(keys.autoscale(name), null);
      return true;
    });
  }

  /**
   * A request waits for the app (the proxy's activator): an app autoscaled down to zero gets one replica at once, not
   * after the autoscaler's next look at the metrics. Returns the replica count.
   */
  activate(name: string): Promise<number> {
    this.get(name);
    return this.lock.run(name, async () => {
      const now = replicasOf(this.store, name);
      if (now > 0 || this.store.get<AutoscalePolicy>(keys.autoscale(name))?.min !== 0) return now;
      await this.store.put(keys.scale(name), { replicas: 1 } satisfies ScaleSpec);
      return 1;
    });
  }

  /** The autoscaler's write (on the app's owner): only when the count is still `from` and the policy still on. */
  autoscaleTo(name: string, from: number, to: number): Promise<boolean> {
    return this.lock.run(name, async () => {
      if (!this.store.get(keys.app(name)) || !this.store.get(keys.autoscale(name)) || replicasOf(this.store, name) !== from) return false;
      await this.store.put(keys.scale(name), { replicas: to } satisfies ScaleSpec);
      return true;
    });
  }
}
