/**
 * An in-memory stand-in for the agent's state and internal routes (the real agent is tested by its own
 * suite): a MirrorLike map with change events, and the claim / log / releases / deploys routes with the
 * agent's rules (409 unless queued, but a build already running on the claiming node is handed back; a new
 * deploy supersedes queued builds; releases numbered from 1), plus the scan stage's two calls (the app's scan
 * policy, state writes of its report). `claims` counts the claim requests.
 */
import { EventEmitter } from 'node:events';
import type { Build, Release, ScanPolicy } from '../../src/core/model.js';
import { DEFAULT_SCAN_POLICY, keys } from '../../src/core/model.js';
import { PleacoError } from '../../src/errors.js';

export class FakeAgent extends EventEmitter {
  readonly map = new Map<string, unknown>();
  readonly logs = new Map<string, string[]>();
  readonly releaseBodies: Record<string, unknown>[] = [];
  synced = true;
  claims = 0;
  private seq = 0;

  get<T>(key: string): T | undefined {
    return this.map.get(key) as T | undefined;
  }

  list<T>(prefix: string): { key: string; value: T }[] {
    return [...this.map].filter(([k]) => k.startsWith(prefix)).map(([key, value]) => ({ key, value: value as T })).sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  async put(key: string, value: unknown): Promise<unknown> {
    if (value === null) this.map.delete(key);
    else this.map.set(key, structuredClone(value));
    this.emit('change', { key, value });
    return [];
  }

  enqueue(app: string, ref: string, extra: Partial<Build> = {}): Build {
    const now = new Date(Date.now() + this.seq++).toISOString();
    const id = `b${Date.now().toString(36)}${(this.seq++).toString(36)}`;
    for (const { key, value } of this.list<Build>(keys.buildPrefix(app))) {
      if (value.status === 'queued') void this.put(key, { ...value, status: 'superseded', error: { code: 'superseded', message: `superseded by build ${id}` } });
    }
    const b: Build = { id, app, ref, status: 'queued', stage: 'queued', trigger: 'api', createdAt: now, ...extra };
    void this.put(keys.build(app, id), b);
    return b;
  }

  log(app: string, id: string): string[] {
    return this.logs.get(`${app}/${id}`) ?? [];
  }

  async request<T = unknown>(method: string, path: string, o: { body?: unknown; rawBody?: string | Buffer } = {}): Promise<T> {
    let m: RegExpExecArray | null;
    if (method === 'POST' && (m = /^\/v1\/internal\/apps\/([^/]+)\/builds\/([^/]+)\/claim$/.exec(path))) {
      this.claims++;
      const key = keys.build(m[1]!, m[2]!);
      const b = this.get<Build>(key);
      const node = (o.body as { node: string }).node;
      if (!b) throw new PleacoError('not_found', 'no such build');
      if (b.status === 'running' && b.node === node) return { build: b } as T;
      if (b.status !== 'queued') throw new PleacoError('conflict', `build is ${b.status}`);
      const claimed: Build = { ...b, status: 'running', stage: 'fetch', node, startedAt: new Date().toISOString() };
      await this.put(key, claimed);
      return { build: claimed } as T;
    }
    if (method === 'POST' && (m = /^\/v1\/internal\/apps\/([^/]+)\/builds\/([^/]+)\/log$/.exec(path))) {
      const k = `${m[1]}/${m[2]}`;
      const lines = String(o.rawBody).replace(/\n$/, '').split('\n');
      this.logs.set(k, [...(this.logs.get(k) ?? []), ...lines]);
      return undefined as T;
    }
    if (method === 'POST' && (m = /^\/v1\/internal\/apps\/([^/]+)\/releases$/.exec(path))) {
      const app = m[1]!;
      const body = o.body as Record<string, unknown>;
      this.releaseBodies.push(body);
      const number = this.list<Release>(keys.releasePrefix(app)).length + 1;
      const release = { ...body, app, number, kind: 'deploy', config: {}, createdAt: new Date().toISOString() } as unknown as Release;
      await this.put(keys.release(app, number), release);
      await this.put(keys.current(app), { release: number });
      return { release } as T;
    }
    if (method === 'POST' && (m = /^\/v1\/apps\/([^/]+)\/deploys$/.exec(path))) {
      const body = o.body as { ref: string; trigger: Build['trigger'] };
      return { build: this.enqueue(m[1]!, body.ref, { trigger: body.trigger }) } as T;
    }
    if (method === 'GET' && (m = /^\/v1\/apps\/([^/]+)\/scan-policy$/.exec(path))) {
      const own = this.get<ScanPolicy>(keys.scanPolicy(m[1]!));
      return { policy: { failOn: own?.failOn ?? DEFAULT_SCAN_POLICY.failOn, from: own?.failOn ? 'app' : 'default', allow: (own?.allow ?? []).map((a) => ({ ...a, scope: 'app' })) } } as T;
    }
    if (method === 'POST' && path === '/v1/internal/state') {
      for (const op of (o.body as { ops: { key: string; value: unknown }[] }).ops) await this.put(op.key, op.value);
      return { entries: [] } as T;
    }
    throw new PleacoError('not_found', `fake agent has no ${method} ${path}`);
  }
}
