/**
 * Extra host names per app (`domains/<host>`, one LWW register per host) and each app's health check
 * (`health/<app>`). Every app is also reachable at its implicit `<app>.<cluster domain>`, which is never
 * stored; one label directly under the cluster domain is reserved for the app of that name.
 */
import { PleacoError } from '../errors.js';
import type { Store } from '../state/index.js';
import type { AppService } from './apps.js';
import { KeyedLock } from './lock.js';
import { healthcheckOf, isAppName, keys, normalizeHost, validateHealthcheck, type DomainRecord, type HealthCheck } from '../model/index.js';


function bad(message: string): PleacoError {
  return new PleacoError('bad_request', message);
}

function shown(raw: string): string {
  return JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
}

export interface DomainServiceOptions {
  store: Store;
  apps: AppService;
  /** The cluster domain (config.proxy.domain): every app answers at `<app>.<domain>`. */
  domain: string;
  now?: () => Date;
}

export interface DomainView {
  host: string;
  implicit: boolean;
}

export class DomainService {
  private readonly lock = new KeyedLock();
  private readonly store: Store;
  private readonly apps: AppService;
  private readonly now: () => Date;

  constructor(readonly opts: DomainServiceOptions) {
    this.store = opts.store;
    this.apps = opts.apps;
    this.now = opts.now ?? (() => new Date());
  }

  implicitHost(app: string): string {
    return `${app}.${this.opts.domain}`;
  }

  /** The app's added hosts, sorted (the implicit host is not among them). */
  domains(app: string): string[] {
    this.apps.get(app);
    return this.store
      .list<DomainRecord>(keys.domainPrefix)
      .filter((e) => e.value.app === app)
      .map((e) => e.key.slice(keys.domainPrefix.length))
      .sort();
  }

  /** Every host the app answers on, its implicit one first. */
  list(app: string): DomainView[] {
    return [{ host: this.implicitHost(app), implicit: true }, ...this.domains(app).map((host) => ({ host, implicit: false }))];
  }

  async addDomain(app: string, rawHost: unknown): Promise<DomainRecord & { host: string }> {
    this.apps.get(app);
    const host = normalizeHost(rawHost);
    const suffix = `.${this.opts.domain}`;
    if (host.endsWith(suffix)) {
      const label = host.slice(0, -suffix.length);
      if (label === app) throw bad(`${host} is already routed to ${app} (every app answers at <app>${suffix})`);
      if (!label.includes('.') && isAppName(label)) throw new PleacoError('conflict', `${host} is reserved for app ${label} (every app answers at <app>${suffix})`);
    }
    return this.lock.run(host, () =>
      this.apps.withApp(app, async () => {
        const cur = this.store.get<DomainRecord>(keys.domain(host));
        if (cur?.app === app) throw new PleacoError('conflict', `${host} is already added to ${app}`);
        // A record left by a destroyed app (a write that raced its destroy) is free to take.
        if (cur && this.store.get(keys.app(cur.app)) !== undefined) throw new PleacoError('conflict', `${host} is already routed to app ${cur.app}`);
        const record: DomainRecord = { app, createdAt: this.now().toISOString() };
        await this.store.put(keys.domain(host), record);
        return { host, ...record };
      }),
    );
  }

  async removeDomain(app: string, rawHost: unknown): Promise<void> {
    this.apps.get(app);
    const host = typeof rawHost === 'string' ? rawHost.toLowerCase() : '';
    if (host === this.implicitHost(app)) throw bad(`${host} is ${app}'s own host under the cluster domain; it cannot be removed`);
    await this.lock.run(host, () =>
      this.apps.withApp(app, async () => {
        if (this.store.get<DomainRecord>(keys.domain(host))?.app !== app) throw new PleacoError('not_found', `app ${app} has no domain ${shown(host)}`);
        await this.store.delete(keys.domain(host));
      }),
    );
  }

  healthcheck(app: string): HealthCheck {
    this.apps.get(app);
    return healthcheckOf(this.store, app);
  }

  /** Replaces the app's health check; fields left out take the defaults. */
  async setHealthcheck(app: string, input: unknown): Promise<HealthCheck> {
    this.apps.get(app);
    const hc = validateHealthcheck(input);
    return this.apps.withApp(app, async () => {
      await this.store.put(keys.health(app), hc);
      return hc;
    });
  }
}
