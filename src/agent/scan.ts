/**
 * Vulnerability-scan policy and results in the replicated state: each app's policy (`scan/policy/<app>`)
 * over the cluster default (`scan/policy-default`), the advisory database record (`scan/db`), and the
 * immutable per-build report and SBOM the builder writes (`scans/<app>/<build>`, `sboms/<app>/<build>`).
 * The gate itself (which findings block) is the scanner's: src/scan/policy.ts.
 */
import { gunzipSync } from 'node:zlib';
import { PleacoError } from '../errors.js';
import type { Store } from '../state/index.js';
import type { AppService } from './apps.js';
import { KeyedLock } from './lock.js';
import { DEFAULT_SCAN_POLICY, effectivePolicy, isAdvisoryId, keys, parseFailOn, type AllowEntry, type EffectivePolicy, type FailOn, type Release, type ScanDbRecord, type ScanPolicy, type ScanReport, type StoredSbom } from '../model/index.js';

const MAX_ALLOW = 500;
const POLICY_FIELDS = ['failOn', 'allow', 'remove', 'inherit'];
const MAX_ALLOW_MS = 2 * 366 * 24 * 3600_000;

function bad(message: string): PleacoError {
  return new PleacoError('bad_request', message);
}

export interface PolicyInput {
  failOn?: unknown;
  /** Add (or replace) an allow-list entry. */
  allow?: unknown;
  /** Advisory ids to take off the allow-list. */
  remove?: unknown;
  /** App policies only: drop the app's own threshold and follow the cluster default again. */
  inherit?: unknown;
}

export class ScanService {
  /** The cluster default's read-modify-write, one at a time (app policies go through the app's lock). */
  private readonly clusterLock = new KeyedLock();

  constructor(private readonly o: { store: Store; apps: AppService; now?: () => Date }) {}

  private now(): Date {
    return this.o.now?.() ?? new Date();
  }

  /** The policy that applies to an app's next build. */
  policy(app: string): EffectivePolicy {
    this.o.apps.get(app);
    return effectivePolicy(this.o.store.get<ScanPolicy>(keys.scanPolicy(app)), this.o.store.get<ScanPolicy>(keys.scanPolicyDefault));
  }

  /** The cluster default as stored (or the built-in default). */
  clusterPolicy(): { failOn: FailOn; allow: AllowEntry[] } {
    const p = this.o.store.get<ScanPolicy>(keys.scanPolicyDefault);
    return { failOn: p?.failOn ?? DEFAULT_SCAN_POLICY.failOn, allow: p?.allow ?? [] };
  }

  /** Changes an app's policy (`app`) or the cluster default (`app` null); returns the stored policy. */
  async setPolicy(app: string | null, input: PolicyInput): Promise<ScanPolicy> {
    if (!input || typeof input !== 'object' || Array.isArray(input)) throw bad('the policy change must be an object {failOn, allow, remove, inherit}');
    const unknown = Object.keys(input).find((k) => !POLICY_FIELDS.includes(k));
    if (unknown !== undefined) throw bad(`unknown policy field ${JSON.stringify(unknown)} (use ${POLICY_FIELDS.join(', ')})`);
    if (input.inherit !== undefined && typeof input.inherit !== 'boolean') throw bad('inherit must be true or false');
    if (input.remove !== undefined && !(Array.isArray(input.remove) ? input.remove : [input.remove]).every((id) => typeof id === 'string')) throw bad('remove must be a list of advisory ids');
    const write = async (): Promise<ScanPolicy> => {
      const key = app ? keys.scanPolicy(app) : keys.scanPolicyDefault;
      const cur = this.o.store.get<ScanPolicy>(key) ?? { allow: [] };
      const next: ScanPolicy = { ...(cur.failOn ? { failOn: cur.failOn } : {}), allow: [...cur.allow] };
      if (input.inherit === true) {
        if (!app) throw bad('inherit applies to an app policy, not to the cluster default');
        delete next.failOn;
      }
      if (input.failOn !== undefined) next.failOn = parseFailOn(input.failOn);
      if (input.remove !== undefined) {
        const ids = Array.isArray(input.remove) ? input.remove : [input.remove];
        for (const id of ids) {
          if (typeof id !== 'string' || !next.allow.some((a) => a.id === id)) throw new PleacoError('not_found', `${JSON.stringify(id)} is not on the ${app ? `allow-list of ${app}` : 'cluster allow-list'}`);
          next.allow = next.allow.filter((a) => a.id !== id);
        }
      }
      if (input.allow !== undefined) {
        const entry = parseAllow(input.allow, this.now());
        next.allow = [...next.allow.filter((a) => a.id !== entry.id), entry];
        if (next.allow.length > MAX_ALLOW) throw bad(`an allow-list holds at most ${MAX_ALLOW} entries`);
      }
      await this.o.store.put(key, next);
      return next;
    };
    return app ? this.o.apps.withApp(app, write) : this.clusterLock.run('cluster', write);
  }

  db(): ScanDbRecord | null {
    return this.o.store.get<ScanDbRecord>(keys.scanDb) ?? null;
  }

  async setDb(record: ScanDbRecord): Promise<void> {
    await this.o.store.put(keys.scanDb, record);
  }

  /** The report of one build; not_found when that build was not scanned. */
  report(app: string, build: string): ScanReport {
    this.o.apps.get(app);
    const r = this.o.store.get<ScanReport>(keys.scan(app, build));
    if (!r) throw new PleacoError('not_found', `build ${build} of ${app} has no scan report`);
    return r;
  }

  /** The report of a release (its build's), or of the latest scanned build when `release` is absent. */
  reportFor(app: string, release?: number): ScanReport {
    if (release !== undefined) {
      const r: Release = this.o.apps.release(app, release);
      if (!r.build) throw new PleacoError('not_found', `release v${release} of ${app} was not built (kind ${r.kind}${r.from ? `, from v${r.from}` : ''}): no scan report`);
      return this.report(app, r.build);
    }
    this.o.apps.get(app);
    const all = this.o.store.list<ScanReport>(keys.scanPrefix(app)).map((e) => e.value).sort((a, b) => (a.at < b.at ? 1 : -1));
    if (!all[0]) throw new PleacoError('not_found', `${app} has no scan report yet: deploy it first`);
    return all[0];
  }

  /** The CycloneDX SBOM of a build, as JSON. */
  sbom(app: string, build: string): unknown {
    this.o.apps.get(app);
    const s = this.o.store.get<StoredSbom>(keys.sbom(app, build));
    if (!s) throw new PleacoError('not_found', `build ${build} of ${app} has no SBOM`);
    return JSON.parse(gunzipSync(Buffer.from(s.data, 'base64')).toString('utf8'));
  }
}

function parseAllow(v: unknown, now: Date): AllowEntry {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad('allow must be an object {id, reason, until}');
  const { id, reason, until } = v as Record<string, unknown>;
  if (typeof id !== 'string' || !isAdvisoryId(id)) throw bad(`allow id must be an advisory id like GHSA-35jh-r3h4-6jhm or CVE-2021-23337, got ${JSON.stringify(id)}`);
  if (typeof reason !== 'string' || reason.trim().length < 3 || reason.length > 500) throw bad(`allow ${id} needs a reason (3-500 characters): why is it acceptable?`);
  const t = typeof until === 'string' ? Date.parse(until) : NaN;
  if (!Number.isFinite(t)) throw bad(`allow ${id} needs an expiry date (until), like 2026-12-31`);
  if (t <= now.getTime()) throw bad(`allow ${id}: the expiry ${until as string} is already past`);
  if (t - now.getTime() > MAX_ALLOW_MS) throw bad(`allow ${id}: the expiry may be at most two years ahead`);
  return { id, reason: reason.trim(), until: new Date(t).toISOString(), addedAt: now.toISOString() };
}
