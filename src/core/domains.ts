/**
 * Extra host names per app (`domains/<host>`, one LWW register per host) and each app's health check
 * (`health/<app>`). Every app is also reachable at its implicit `<app>.<cluster domain>`, which is never
 * stored; one label directly under the cluster domain is reserved for the app of that name.
 */
import { PleacoError } from '../errors.js';
import type { Store } from '../state/index.js';
import type { AppService } from './apps.js';
import { KeyedLock } from './lock.js';
import { APP_NAME_RE, DEFAULT_HEALTHCHECK, keys, type DomainRecord, type HealthCheck } from './model.js';

const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** What the proxy can put in HAProxy's config unquoted (no spaces, quotes, '#', '$', ';', '%', '\'). */
const HEALTH_PATH_RE = /^\/[A-Za-z0-9._~!*+,=:@/?&-]*$/;
export const HEALTH_LIMITS = { pathMax: 1024, intervalMs: [500, 60_000], rise: [1, 10], fall: [1, 10], deadlineMs: [1000, 3_600_000] } as const;

function bad(message: string): PleacoError {
  return new PleacoError('bad_request', message);
}

function shown(raw: string): string {
  return JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
}

/** True for a DNS name: labels of 1-63 [a-z0-9-], not starting or ending with '-', at most 253 characters. */
export function isDnsName(host: string): boolean {
  return host.length > 0 && host.length <= 253 && host.split('.').every((l) => LABEL_RE.test(l));
}

/** Lowercases and checks a host for `domains:add`; throws a 400 that says what is wrong. */
export function normalizeHost(raw: unknown): string {
  if (typeof raw !== 'string' || raw === '') throw bad('host is required, like www.example.com');
  const host = raw.toLowerCase();
  if (host.startsWith('*.')) throw bad(`wildcard domains are not supported (${shown(raw)}): add each host name`);
  if (host.length > 253) throw bad(`invalid host ${shown(raw)}: at most 253 characters`);
  const labels = host.split('.');
  if (labels.length < 2) throw bad(`invalid host ${shown(raw)}: use a full name with a dot, like www.example.com`);
  const wrong = labels.find((l) => !LABEL_RE.test(l));
  if (wrong !== undefined) {
    throw bad(`invalid host ${shown(raw)}: label ${shown(wrong)} must be 1-63 letters, digits or '-', not starting or ending with '-'`);
  }
  if (/^\d+$/.test(labels[labels.length - 1]!)) throw bad(`invalid host ${shown(raw)}: an IP address is not a domain`);
  return host;
}

/** Checks a health check; fields left out take DEFAULT_HEALTHCHECK's values. */
export function validateHealthcheck(input: unknown): HealthCheck {
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw bad('the health check must be an object {path, intervalMs, rise, fall, deadlineMs}');
  const given = input as Record<string, unknown>;
  const unknown = Object.keys(given).find((k) => !(k in DEFAULT_HEALTHCHECK));
  if (unknown !== undefined) throw bad(`unknown health check field ${shown(unknown)} (use path, intervalMs, rise, fall, deadlineMs)`);
  const hc: HealthCheck = { ...DEFAULT_HEALTHCHECK };
  if (given.path !== undefined) {
    const p = given.path;
    if (typeof p !== 'string' || !p.startsWith('/')) throw bad(`health check path must start with '/', got ${shown(String(p))}`);
    if (p.length > HEALTH_LIMITS.pathMax) throw bad(`health check path is over ${HEALTH_LIMITS.pathMax} characters`);
    // eslint-disable-next-line no-control-regex
    if (/[\s\u0000-\u001f\u007f]/.test(p)) throw bad(`health check path ${shown(p)} must not contain spaces or control characters`);
    if (!HEALTH_PATH_RE.test(p)) throw bad(`health check path ${shown(p)} may only contain letters, digits and - . _ ~ ! * + , = : @ / ? &`);
    hc.path = p;
  }
  for (const f of ['intervalMs', 'rise', 'fall', 'deadlineMs'] as const) {
    const v = given[f];
    if (v === undefined) continue;
    const [min, max] = HEALTH_LIMITS[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`health check ${f} must be an integer from ${min} to ${max}, got ${shown(String(v))}`);
    hc[f] = v;
  }
  return hc;
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
      if (!label.includes('.') && APP_NAME_RE.test(label)) throw new PleacoError('conflict', `${host} is reserved for app ${label} (every app answers at <app>${suffix})`);
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
    return { ...DEFAULT_HEALTHCHECK, ...(this.store.get<Partial<HealthCheck>>(keys.health(app)) ?? {}) };
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
