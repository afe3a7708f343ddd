/**
 * AppService in a cluster: the operations whose outcome must not race go to the app's owner (owner.ts) — creating
 * and deleting it (one app per name), queueing and claiming its builds, every operation that numbers a release, and
 * its replica count. Reads stay local. The owner runs the plain AppService operation under its app lock.
 */
import { PleacoError } from '../errors.js';
import { AppService, type AppServiceOptions } from './apps.js';
import type { OwnerGate } from './owner.js';
import { keys, type AppSpec, type AutoscalePolicy, type Build, type FailureReport, type Release, type ReleaseInput, type Resources } from '../model/index.js';
import type { Entry } from '../state/index.js';

type Local = Record<string, (args: unknown[]) => Promise<unknown>>;

export class OwnedAppService extends AppService {
  private readonly local: Local;

  constructor(opts: AppServiceOptions, private readonly gate: OwnerGate) {
    super(opts);
    const base = AppService.prototype;
    // What a peer may ask the owner to run: the plain operations, by name, with the arguments as sent.
    // JSON carries an absent optional argument as null: back to undefined (no top-level argument means null).
    const a = (args: unknown[], i: number): never => (args[i] ?? undefined) as never;
    this.local = {
      create: (x) => base.create.call(this, a(x, 0)),
      destroy: (x) => base.destroy.call(this, a(x, 0)),
      enqueue: (x) => base.enqueue.call(this, a(x, 0), a(x, 1), a(x, 2)),
      claim: (x) => base.claim.call(this, a(x, 0), a(x, 1), a(x, 2)),
      createRelease: (x) => base.createRelease.call(this, a(x, 0), a(x, 1)),
      rollback: (x) => base.rollback.call(this, a(x, 0), a(x, 1)),
      failRelease: (x) => base.failRelease.call(this, a(x, 0), a(x, 1), a(x, 2)),
      setConfig: (x) => base.setConfig.call(this, a(x, 0), a(x, 1), a(x, 2)),
      setResources: (x) => base.setResources.call(this, a(x, 0), a(x, 1)),
      scale: (x) => base.scale.call(this, a(x, 0), a(x, 1)),
      setAutoscale: (x) => base.setAutoscale.call(this, a(x, 0), a(x, 1)),
      autoscaleOff: (x) => base.autoscaleOff.call(this, a(x, 0)),
      activate: (x) => base.activate.call(this, a(x, 0)),
      readoptRelease: (x) => base.readoptRelease.call(this, a(x, 0), a(x, 1)),
      resolveClash: (x) => base.resolveClash.call(this, a(x, 0), a(x, 1)),
    };
    gate.handle(async (op, args) => {
      const fn = Object.hasOwn(this.local, op) ? this.local[op] : undefined;
      if (!fn || (typeof args[0] !== 'string' && op !== 'create')) throw new PleacoError('bad_request', `unknown app operation ${JSON.stringify(op.slice(0, 40))}`);
      const app = typeof args[0] === 'string' ? args[0] : String((args[0] as { name?: unknown } | null)?.name ?? '');
      // What this operation wrote about the app, for the asking node to read its own write at once.
      const entries: Entry[] = [];
      const onChange = (e: Entry, origin: string): void => {
        if (origin === 'local' && (e.key === keys.app(app) || e.key.split('/')[1] === app)) entries.push(e);
      };
      opts.store.on('change', onChange);
      try {
        const result = await fn(args);
        // The app's spec too, so that the asking node knows the app it just acted on (it may not have heard yet).
        const spec = opts.store.getEntry(keys.app(app));
        if (spec && !entries.includes(spec)) entries.push(spec);
        return { result, entries };
      } finally {
        opts.store.off('change', onChange);
      }
    });
  }

  private owned<T>(app: string, op: string, args: unknown[]): Promise<T> {
    return this.gate.run(app, op, args, () => this.local[op]!(args) as Promise<T>);
  }

  override create(input: { name?: unknown; repo?: unknown; branch?: unknown }): Promise<AppSpec> {
    // The owner of the name decides, so two nodes cannot both create it; the name is checked there too.
    return this.owned(typeof input.name === 'string' ? input.name : '', 'create', [{ name: input.name, repo: input.repo, branch: input.branch }]);
  }

  override destroy(name: string): Promise<void> {
    return this.owned(name, 'destroy', [name]);
  }

  override enqueue(name: string, ref: unknown, trigger: Build['trigger']): Promise<{ build: Build; replaced?: string }> {
    return this.owned(name, 'enqueue', [name, ref, trigger]);
  }

  override claim(name: string, id: string, node: string): Promise<Build> {
    return this.owned(name, 'claim', [name, id, node]);
  }

  override createRelease(name: string, input: ReleaseInput): Promise<Release> {
    return this.owned(name, 'createRelease', [name, input]);
  }

  override rollback(name: string, target?: number): Promise<Release> {
    return this.owned(name, 'rollback', [name, target ?? null]);
  }

  override failRelease(name: string, number: number, report: FailureReport): Promise<Release> {
    return this.owned(name, 'failRelease', [name, number, report]);
  }

  override setConfig(name: string, set: Record<string, unknown>, unset: unknown[]): Promise<Release | null> {
    return this.owned(name, 'setConfig', [name, set, unset]);
  }

  override setResources(name: string, input: unknown): Promise<{ resources: Resources; release: Release | null }> {
    return this.owned(name, 'setResources', [name, input]);
  }

  override readoptRelease(name: string, lost: Release): Promise<Release | null> {
    return this.owned(name, 'readoptRelease', [name, lost]);
  }

  override resolveClash(name: string, lost: AppSpec): Promise<void> {
    return this.owned(name, 'resolveClash', [name, lost]);
  }

  override scale(name: string, replicas: unknown): Promise<number> {
    return this.owned(name, 'scale', [name, replicas]);
  }

  override setAutoscale(name: string, input: unknown): Promise<AutoscalePolicy> {
    return this.owned(name, 'setAutoscale', [name, input]);
  }

  override activate(name: string): Promise<number> {
    return this.owned(name, 'activate', [name]);
  }

  override autoscaleOff(name: string): Promise<boolean> {
    return this.owned(name, 'autoscaleOff', [name]);
  }
}
