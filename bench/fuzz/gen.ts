/**
 * The fuzzer's request generator: malformed and hostile requests for every route of the API (read from the node's
 * own OpenAPI document), from a seeded PRNG so a run can be repeated. Nothing valid is ever sent to the app the run
 * keeps serving (`keep`): mutating requests with the real token name other apps; it must still answer afterwards.
 */
import { createHmac } from 'node:crypto';
import { head, type RawRequest } from './client.js';

export interface Route {
  method: string;
  path: string;
}

export interface FuzzTarget {
  token: string;
  routes: Route[];
  /** The app whose routing is checked after the run: only read, never changed, with the real token. */
  keep: string;
  /** An app the run may change at will, and its webhook secret. */
  junk: { name: string; secret: string };
  keepSecret: string;
  /** Commits of `keep` (for signed replays of its pushes). */
  commits: string[];
  nodeId: string;
}

export interface Case {
  kind: string;
  /** Method and route pattern, for the report. */
  label: string;
  req: RawRequest;
  timeoutMs?: number;
}

type Rng = () => number;
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rng, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

const NAMES = ['fz-junk', 'fz-other', 'web', 'a', '1abc', 'a.b', 'A', '-x', 'x-', '..', '%2e%2e', '%2F', 'a%2Fb', '%00', '%', '%E0%A4%A', 'ü', 'a'.repeat(70), 'a'.repeat(3000), '', 'constructor', '__proto__', 'toString'];
const IDS = ['b1', 'bx', '../../etc/passwd', '%2e%2e%2fx', 'b'.repeat(300), '0', '-1', '1e309', 'NaN', '99999999999999999999', 'v3', '%00', "'", '"'];
const HOSTS = ['www.example.test', 'WWW.Example.Test', '*.example.test', 'localhost', 'fz-web.localhost', '127.0.0.1', 'x'.repeat(300), 'a..b', '-a.b', 'ex ample.test'];
const NODES = ['node-1', 'other', '..', 'a/b', 'x'.repeat(200)];

/** JSON-ish values that break assumptions: wrong types, huge numbers, long strings, nesting, prototype keys. */
function wild(r: Rng, depth = 0): unknown {
  switch (int(r, 0, 13)) {
    case 0: return null;
    case 1: return pick(r, [true, false]);
    case 2: return pick(r, [0, -1, 1, 1.5, -0, 2 ** 53 + 1, 1e308, -1e308, 5e-324, 101, 65536, 4294967296]);
    case 3: return pick(r, ['', 'x', 'main', 'ü', '\u0000', '\ud800', '../..', 'a'.repeat(int(r, 100, 200_000)), '<script>', '${x}', '$(id)', '; rm -rf /', 'refs/heads/main', 'a'.repeat(40), '-oProxyCommand=x']);
    case 4: return depth > 3 ? [] : Array.from({ length: int(r, 0, 5) }, () => wild(r, depth + 1));
    case 5: return depth > 3 ? {} : Object.fromEntries(Array.from({ length: int(r, 0, 5) }, () => [pick(r, ['name', 'repo', 'ref', 'replicas', 'set', 'unset', 'host', 'path', 'release', 'failOn', 'allow', 'remove', 'source', 'ops', 'entries', '__proto__', 'constructor']), wild(r, depth + 1)]));
    case 6: return pick(r, NAMES);
    case 7: return pick(r, ['https://github.com/acme/web', 'ssh://-oProxyCommand=x@h/x', 'ext::sh -c id', 'file:///etc', '/tmp', 'http://127.0.0.1:1/x', 'git@github.com:acme/web.git', '--upload-pack=id']);
    case 8: return JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}') as unknown;
    case 9: return pick(r, HOSTS);
    case 10: return Array.from({ length: int(r, 1000, 20_000) }, (_, i) => i);
    case 11: return { path: pick(r, ['/', '/x', 'no-slash', '/%00', '/'.repeat(2000)]), intervalMs: wild(r, depth + 1), rise: wild(r, depth + 1), fall: wild(r, depth + 1) };
    case 12: return { set: { [pick(r, ['A', 'PORT', '1X', 'a b', 'K'.repeat(300)])]: wild(r, depth + 1) }, unset: wild(r, depth + 1) };
    default: return { failOn: pick(r, ['none', 'high', 'x', 7]), allow: { id: pick(r, ['CVE-2024-1', 'x', '']), reason: wild(r, depth + 1), until: pick(r, ['2999-01-01', 'x', '2020-01-01']) } };
  }
}

/** A request body: invalid JSON, deep nesting, huge numbers, or a JSON value that breaks the route's assumptions. */
function body(r: Rng): string {
  switch (int(r, 0, 9)) {
    case 0: return pick(r, ['{', '{"a":', 'nul', '{"a":1,}', "{'a':1}", '\u0000', '[', '{"a":1}{"b":2}', '\ufeff{}']);
    case 1: return '['.repeat(int(r, 1000, 200_000)) + ']'.repeat(int(r, 0, 3));
    case 2: return '{"a":'.repeat(int(r, 100, 5000)) + '1' + '}'.repeat(int(r, 0, 5000));
    case 3: return pick(r, ['1e99999', '-1e99999', '123456789012345678901234567890', '{"replicas":1e400}', '{"replicas":-0}', '{"release":1e21}', '{"replicas":"3"}']);
    case 4: return JSON.stringify(pick(r, [[], 'str', 42, null, true]));
    default: return JSON.stringify(wild(r)) ?? 'null';
  }
}

function fillPath(r: Rng, t: FuzzTarget, path: string, mutating: boolean): string {
  return path.replace(/\{([a-z]+)\}/g, (_m, p: string) => {
    if (p === 'name') return encodeMaybe(r, !mutating && r() < 0.3 ? t.keep : pick(r, NAMES));
    if (p === 'host') return encodeMaybe(r, pick(r, HOSTS));
    return encodeMaybe(r, pick(r, IDS));
  });
}

const encodeMaybe = (r: Rng, s: string): string => (r() < 0.5 ? s : encodeURIComponent(s));

function auth(r: Rng, t: FuzzTarget): [string, string][] {
  switch (int(r, 0, 9)) {
    case 0: return [];
    case 1: return [['Authorization', 'Bearer']];
    case 2: return [['Authorization', `Bearer ${t.token}x`]];
    case 3: return [['Authorization', `Basic ${Buffer.from(`x:${t.token}`).toString('base64')}`]];
    case 4: return [['Authorization', `Bearer ${t.token}`], ['Authorization', 'Bearer nope']];
    case 5: return [['Authorization', `bearer ${'a'.repeat(int(r, 1, 20_000))}`]];
    default: return [['Authorization', `Bearer ${t.token}`]];
  }
}

function contentType(r: Rng): [string, string][] {
  return [pick(r, [['Content-Type', 'application/json'], ['Content-Type', 'application/json; charset=utf-16'], ['Content-Type', 'text/plain'], ['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Type', ';;;'], ['Content-Type', 'application/json'.repeat(200)], ['X-Nothing', '1']] as [string, string][])];
}

function withBody(method: string, path: string, headers: [string, string][], b: string | Buffer, extra: [string, string][] = []): RawRequest {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b, 'utf8');
  return { head: head(method, path, [['Host', 'localhost'], ...headers, ['Content-Length', String(buf.length)], ...extra]), body: buf };
}

/** A request to a route of the API: its path filled with hostile values, a hostile body, and some auth. */
function routeCase(r: Rng, t: FuzzTarget): Case {
  const route = pick(r, t.routes);
  let headers = auth(r, t);
  const mutating = route.method !== 'GET';
  // The kept app is never changed with the real token (only read): its routing is what the run checks afterwards.
  // The app the structured cases change is not deleted (they would only meet 404s after it).
  const filled = fillPath(r, t, route.path, mutating);
  const path = (route.method === 'DELETE' && route.path === '/v1/apps/{name}' && filled.endsWith(t.junk.name) ? '/v1/apps/fz-other' : filled) + (r() < 0.2 ? pick(r, ['?follow=1', '?tail=-1', '?tail=1e9', '?prefix=' + 'x,'.repeat(200), '?release=abc', '?build=../x', '?app=' + t.keep, '?a[b]=1&a=2', '?%zz']) : '');
  if (path.includes(t.keep) && mutating) headers = headers.filter(([k]) => k !== 'Authorization');
  const label = `${route.method} ${route.path}`;
  if (route.path === '/v1/scan/db' && mutating) {
    // Only sources that fail fast: a path of this machine would be read as an advisory database.
    return { kind: 'body', label, req: withBody('POST', path, [...headers, ...contentType(r)], JSON.stringify({ source: pick(r, [1, null, {}, '', 'x', 'a'.repeat(5000), 'http://127.0.0.1:1/db.zip']) })) };
  }
  if (route.method === 'GET' || route.method === 'DELETE') return { kind: 'route', label, req: { head: head(route.method, path, [['Host', 'localhost'], ...headers]) } };
  return { kind: 'body', label, req: withBody(route.method, path, [...headers, ...contentType(r)], body(r)) };
}

/** Headers that are broken, huge, duplicated, or smuggling-shaped. */
function headerCase(r: Rng, t: FuzzTarget): Case {
  const ok: [string, string] = ['Authorization', `Bearer ${t.token}`];
  const label = 'headers';
  switch (int(r, 0, 7)) {
    case 0: return { kind: 'headers', label, req: { head: head('GET', '/v1/apps', [['Host', 'localhost'], ok, ['X-Big', 'a'.repeat(int(r, 8000, 100_000))]]) } };
    case 1: return { kind: 'headers', label, req: { head: head('GET', '/v1/apps', [['Host', 'localhost'], ok, ...Array.from({ length: int(r, 100, 3000) }, (_, i): [string, string] => [`X-H${i}`, 'v'])]) } };
    case 2: return { kind: 'headers', label, req: withBody('POST', '/v1/apps', [ok, ['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']], '{}') };
    case 3: return { kind: 'headers', label, req: { head: head('POST', '/v1/apps', [['Host', 'localhost'], ok, ['Content-Length', '5'], ['Content-Length', '6']]), body: Buffer.from('{}{}{}') } };
    case 4: return { kind: 'headers', label, req: { head: `GET /v1/apps HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${t.token}\r\nX-Bad: a\u0001b\r\nConnection: close\r\n\r\n` } };
    case 5: return { kind: 'headers', label, req: { head: pick(r, ['garbage\r\n\r\n', 'GET /v1/health HTTP/9.9\r\nHost: x\r\n\r\n', 'GET /v1/health\r\n\r\n', 'GET /v1/health HTTP/1.1\nHost: x\n\n', '\r\n\r\nGET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'GET /v1/health HTTP/1.1\r\n\r\n', 'GET  /v1/health  HTTP/1.1\r\nHost: x\r\n\r\n']) } };
    case 6: return { kind: 'headers', label, req: { head: head('GET', '/v1/apps', [['Host', 'localhost'], ok, ['Content-Length', '-1']]) } };
    default: return { kind: 'headers', label, req: { head: head('POST', '/v1/apps', [['Host', 'localhost'], ok, ['Content-Type', 'application/json'], ['Content-Length', pick(r, ['abc', '1e3', '99999999999999999999', '0x10', '2,2'])]]), body: Buffer.from('{}') } };
  }
}

/** Paths: traversal, encodings, very long, odd characters. */
function pathCase(r: Rng, t: FuzzTarget): Case {
  const p = pick(r, ['/v1/apps/../../etc/passwd', '/v1/apps/%2e%2e/%2e%2e/etc/passwd', '/v1/apps/fz-junk%2Fbuilds', '/v1//apps', '//v1/apps', '/v1/apps/%00', '/v1/apps/%', '/v1/apps/%C0%AE', '/./v1/health', '/v1/health/', '/V1/HEALTH', '/v1/apps?' + 'a=1&'.repeat(5000), `/${'a/'.repeat(int(r, 100, 20_000))}`, '/v1/apps/' + 'x'.repeat(int(r, 1000, 60_000)), '*', 'http://evil.test/v1/apps', '/v1/internal/watch?prefix=../', '/v1/apps/\u00fc', '/v1/openapi.json/..', '/metrics?x=%ff']);
  return { kind: 'paths', label: 'paths', req: { head: head(pick(r, ['GET', 'POST', 'DELETE']), p, [['Host', 'localhost'], ['Authorization', `Bearer ${t.token}`]]) } };
}

function methodCase(r: Rng, t: FuzzTarget): Case {
  const m = pick(r, ['PROPFIND', 'TRACE', 'CONNECT', 'get', 'FOO', 'OPTIONS', 'HEAD', 'PATCH', 'PUT', 'M-SEARCH', 'PURGE', 'X'.repeat(100)]);
  const route = pick(r, t.routes);
  return { kind: 'methods', label: `${m.slice(0, 10)} ${route.path}`, req: { head: head(m, fillPath(r, t, route.path, true), [['Host', 'localhost'], ['Authorization', `Bearer ${t.token}`]]) } };
}

/** Bodies over the limits: declared, chunked, and to the unauthenticated webhook. */
function oversizeCase(r: Rng, t: FuzzTarget): Case {
  const ok: [string, string] = ['Authorization', `Bearer ${t.token}`];
  const size = int(r, 1024 * 1024 + 1, 6 * 1024 * 1024);
  const path = pick(r, ['/v1/apps', '/v1/apps/fz-junk/deploys', '/v1/internal/state', '/v1/internal/soft', '/v1/hooks/github']);
  const big = Buffer.alloc(size, 0x20);
  if (r() < 0.5) return { kind: 'oversize', label: `POST ${path}`, req: withBody('POST', path, [ok, ['Content-Type', 'application/json'], ['X-GitHub-Event', 'push'], ['X-Hub-Signature-256', `sha256=${'0'.repeat(64)}`]], big) };
  // Declared small, chunked big: the reader must stop at the limit.
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const chunks = Buffer.concat([...Array.from({ length: Math.ceil(size / chunk.length) }, () => Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')])), Buffer.from('0\r\n\r\n')]);
  return { kind: 'oversize', label: `POST ${path} (chunked)`, req: { head: head('POST', path, [['Host', 'localhost'], ok, ['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked'], ['X-GitHub-Event', 'push'], ['X-Hub-Signature-256', `sha256=${'0'.repeat(64)}`]]), body: chunks } };
}

const sign = (secret: string, b: string): string => `sha256=${createHmac('sha256', secret).update(b).digest('hex')}`;

/** Webhooks: forged, unsigned, signed with a real secret but malformed, replays of real pushes. */
function hookCase(r: Rng, t: FuzzTarget): Case {
  const push = (app: string, after: string, extra: Record<string, unknown> = {}): string => JSON.stringify({ ref: 'refs/heads/main', before: '0'.repeat(40), after, repository: { clone_url: `https://example.test/${app}.git` }, ...extra });
  const event = pick(r, ['push', 'push', 'push', 'ping', 'issues', '', 'x'.repeat(300)]);
  let b: string;
  let sig: string | null;
  switch (int(r, 0, 5)) {
    case 0: b = body(r); sig = null; break;
    case 1: b = push(t.keep, pick(r, t.commits)); sig = sign('forged', b); break;
    case 2: b = body(r); sig = sign(t.junk.secret, b); break;
    case 3: b = JSON.stringify({ ...JSON.parse(push(t.junk.name, 'a'.repeat(40))) as object, ref: wild(r), after: wild(r), deleted: wild(r), repository: wild(r), head_commit: wild(r) }); sig = sign(t.junk.secret, b); break;
    case 4: b = push(t.keep, pick(r, t.commits)); sig = sign(t.keepSecret, b); break; // a replay of a real push of the kept app
    default: b = push(t.junk.name, 'b'.repeat(40)); sig = pick(r, ['sha256=', 'sha1=abc', `sha256=${'z'.repeat(64)}`, sign(t.junk.secret, b).toUpperCase(), ' ' + sign(t.junk.secret, b)]);
  }
  const q = pick(r, ['', `?app=${t.junk.name}`, `?app=${t.keep}`, '?app=nobody', '?app=', '?app=a&app=b']);
  const headers: [string, string][] = [['Content-Type', pick(r, ['application/json', 'application/x-www-form-urlencoded', 'text/plain'])], ['X-GitHub-Event', event], ['X-GitHub-Delivery', pick(r, [String(r()), '', 'd'.repeat(5000)])]];
  if (sig !== null) headers.push(['X-Hub-Signature-256', sig]);
  return { kind: 'webhooks', label: 'POST /v1/hooks/github', req: withBody('POST', `/v1/hooks/github${q}`, headers, b) };
}

/** Internal writes: bad keys, values that are not the key's record, stamps (bad HLC stamps), bad soft entries. */
function internalCase(r: Rng, t: FuzzTarget): Case {
  const ok: [string, string][] = [['Authorization', `Bearer ${t.token}`], ['Content-Type', 'application/json']];
  const key = (): unknown => pick(r, ['apps/1abc', 'apps/a.b', 'apps/fz-junk', 'domains/WWW.X.Test', 'domains/www.x.test', 'builds/fz-junk/b1', 'builds/1abc/b1', `obs/${t.nodeId}/slots/${t.keep}#0`, `obs/${t.nodeId}/slots/a.b#1`, 'obs/other/node', `obs/${t.nodeId}/proxy`, 'metrics/n/x', 'bench/x', `obs/${pick(r, NODES)}/node`, 'nonsense', '', '/', 'a//b', '../x', 'x'.repeat(600), 7, null, `current/${t.keep}`, `releases/${t.keep}/00000009`]);
  const stamp = (): unknown => pick(r, [{ wall: 1e300, counter: 0, node: 'x' }, { wall: -1, counter: -1, node: '' }, { wall: 'now', counter: 1.5, node: 7 }, { wall: Date.now() + 86_400_000 * 365, counter: 2 ** 40, node: 'n' }, null, []]);
  if (r() < 0.75) {
    // The kept app's records are sent values (refused: not its record, or written by the agent), never deletes: the
    // token may delete this node's observed records, and the run must not take the kept app's replica out itself.
    const op = (): unknown => {
      const k = key();
      const v = r() < 0.3 && !String(k).includes(t.keep) ? null : wild(r) ?? 0;
      return { key: k, value: v, ...(r() < 0.4 ? { ts: stamp() } : {}) };
    };
    const ops = r() < 0.05 ? Array.from({ length: int(r, 1001, 3000) }, (_, i) => ({ key: `bench/fz-${i}`, value: i })) : Array.from({ length: int(r, 1, 4) }, () => (r() < 0.1 ? wild(r) : op()));
    return { kind: 'internal', label: 'POST /v1/internal/state', req: withBody('POST', '/v1/internal/state', ok, r() < 0.2 ? body(r) : JSON.stringify({ ops })) };
  }
  const entries = Array.from({ length: int(r, 0, 3) }, () => ({ key: key(), value: wild(r), ttlMs: pick(r, [0, 999, 1000, 1e12, -5, 'x', null]) }));
  return { kind: 'internal', label: 'POST /v1/internal/soft', req: withBody('POST', '/v1/internal/soft', ok, JSON.stringify({ entries })) };
}

/** Valid bodies of the routes that take one (for an app the run may change), to be broken one field at a time. */
function templates(t: FuzzTarget): [string, string, () => Record<string, unknown>][] {
  const j = t.junk.name;
  const metrics = { app: j, node: t.nodeId, at: new Date().toISOString(), reqRate: 1, reqTotal: 1, inFlight: 0, queue: 0, codes: { '1xx': 0, '2xx': 1, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 }, avgResponseMs: 1, avgTotalMs: 1 };
  const build = { id: 'bfz1', app: j, ref: 'main', status: 'failed', stage: 'fetch', trigger: 'api', createdAt: new Date().toISOString(), error: { code: 'git_failed', message: 'x' }, durations: { fetch: 1 } };
  const slot = { app: j, slot: `${j}#0`, node: t.nodeId, release: 1, containerId: 'cfz', state: 'crashed', host: '127.0.0.1', hostPort: null, restarts: 1, since: new Date().toISOString() };
  return [
    ['POST', '/v1/apps', () => ({ name: 'fz-made', repo: 'file:///nonexistent/made.git', branch: 'main' })],
    ['POST', `/v1/apps/${j}/deploys`, () => ({ ref: 'main' })],
    ['POST', `/v1/apps/${j}/rollback`, () => ({ release: 1 })],
    ['PUT', `/v1/apps/${j}/scale`, () => ({ replicas: 1 })],
    ['PATCH', `/v1/apps/${j}/config`, () => ({ set: { FZ_A: 'b' }, unset: ['FZ_C'] })],
    ['POST', `/v1/apps/${j}/domains`, () => ({ host: 'www.fz.test' })],
    ['PUT', `/v1/apps/${j}/healthcheck`, () => ({ path: '/', intervalMs: 1000, rise: 2, fall: 3, deadlineMs: 60_000 })],
    ['PATCH', `/v1/apps/${j}/scan-policy`, () => ({ failOn: 'high', allow: { id: 'CVE-2024-1234', reason: 'because', until: '2027-01-01' }, remove: ['CVE-2024-1'], inherit: false })],
    ['PATCH', '/v1/scan/policy', () => ({ failOn: 'critical', allow: { id: 'GHSA-aaaa-bbbb-cccc', reason: 'because', until: '2027-01-01' } })],
    ['POST', `/v1/internal/apps/${j}/builds/bfz1/claim`, () => ({ node: t.nodeId })],
    ['POST', `/v1/internal/apps/${j}/releases`, () => ({ build: 'bfz1', commit: 'a'.repeat(40), image: `pleaco/${j}:bfz1`, imageId: `sha256:${'1'.repeat(64)}`, test: { command: null, skipped: 'x' }, port: 5000, description: 'fz' })],
    ['POST', `/v1/internal/apps/${j}/releases/1/fail`, () => ({ reason: 'x', node: t.nodeId, slot: `${j}#0`, lastLog: 'x', rollbackTo: null })],
    ['POST', '/v1/internal/soft', () => ({ entries: [{ key: `metrics/${t.nodeId}/${j}`, value: metrics, ttlMs: 5000 }] })],
    ['POST', '/v1/internal/state', () => ({ ops: [{ key: `builds/${j}/bfz1`, value: build }] })],
    ['POST', '/v1/internal/state', () => ({ ops: [{ key: `obs/${t.nodeId}/slots/${j}#0`, value: slot }] })],
    ['POST', '/v1/internal/state', () => ({ ops: [{ key: `scans/${j}/bfz1`, value: { app: j, build: 'bfz1', status: 'passed', counts: {}, findings: [] } }] })],
  ];
}

/** Replaces (or removes) one field somewhere in `v`, `depth` levels down at most. */
function mutate(r: Rng, v: unknown, depth = 0): unknown {
  if (v === null || typeof v !== 'object' || depth > 3 || r() < 0.25) return r() < 0.1 ? undefined : wild(r);
  const copy = (Array.isArray(v) ? [...(v as unknown[])] : { ...(v as Record<string, unknown>) }) as Record<string, unknown>;
  const ks = Object.keys(copy);
  if (ks.length === 0 || r() < 0.1) {
    copy[pick(r, ['extra', '__proto__', 'constructor', 'ts', '0'])] = wild(r);
    return copy;
  }
  const k = pick(r, ks);
  const m = mutate(r, copy[k], depth + 1);
  if (m === undefined) delete copy[k];
  else copy[k] = m;
  return copy;
}

/** A valid request body for an app the run may change, with one field broken: this reaches past the parsers. */
function structuredCase(r: Rng, t: FuzzTarget): Case {
  const [method, path, make] = pick(r, templates(t));
  const valid = make();
  const sendValid = r() < 0.1; // now and then the body as it is: the records it leaves are read back by other cases
  const b = sendValid ? valid : (mutate(r, valid) ?? {});
  return { kind: 'structured', label: `${method} ${path.replace(t.junk.name, '{name}')}`, req: withBody(method, path, [['Authorization', `Bearer ${t.token}`], ['Content-Type', 'application/json']], JSON.stringify(b) ?? 'null') };
}

/** Reads of what the structured cases left behind (views, event streams, metrics). */
function readBackCase(r: Rng, t: FuzzTarget): Case {
  const j = t.junk.name;
  const path = pick(r, ['/v1/apps', `/v1/apps/${j}`, `/v1/apps/${j}/builds`, `/v1/apps/${j}/builds/bfz1`, `/v1/apps/${j}/builds/bfz1/events`, `/v1/apps/${j}/releases`, `/v1/apps/${j}/ps`, `/v1/apps/${j}/config`, `/v1/apps/${j}/domains`, `/v1/apps/${j}/healthcheck`, `/v1/apps/${j}/metrics`, '/metrics', `/v1/apps/${j}/scan`, `/v1/apps/${j}/scan?build=bfz1`, `/v1/apps/${j}/sbom?build=bfz1`, `/v1/apps/${j}/scan-policy`, '/v1/scan/policy', '/v1/scan/db', '/v1/nodes', '/v1/cluster', `/v1/apps/${t.keep}`]);
  return { kind: 'readback', label: `GET ${path.replace(j, '{name}')}`, req: { head: head('GET', path, [['Host', 'localhost'], ['Authorization', `Bearer ${t.token}`]]) } };
}

const KINDS: [number, (r: Rng, t: FuzzTarget) => Case][] = [
  [30, routeCase], [6, headerCase], [6, pathCase], [5, methodCase], [1, oversizeCase], [14, hookCase], [14, internalCase], [18, structuredCase], [6, readBackCase],
];
const TOTAL = KINDS.reduce((s, [w]) => s + w, 0);

/** The next case. */
export function nextCase(r: Rng, t: FuzzTarget): Case {
  let x = r() * TOTAL;
  for (const [w, f] of KINDS) {
    if ((x -= w) < 0) return f(r, t);
  }
  return routeCase(r, t);
}

/** Slow bodies: a few bytes a second, to an authenticated route and to the webhook. */
export function slowCase(r: Rng, t: FuzzTarget, i: number): Case {
  const hook = i % 2 === 0;
  const b = Buffer.from(JSON.stringify({ name: 'fz-slow', repo: 'https://example.test/x.git', pad: 'x'.repeat(200) }));
  const headers: [string, string][] = hook
    ? [['Content-Type', 'application/json'], ['X-GitHub-Event', 'push'], ['X-Hub-Signature-256', sign('forged', b.toString())]]
    : [['Authorization', `Bearer ${t.token}`], ['Content-Type', 'application/json']];
  const req = withBody('POST', hook ? '/v1/hooks/github' : '/v1/apps', headers, b);
  return { kind: 'slow', label: `POST ${hook ? '/v1/hooks/github' : '/v1/apps'} (slow)`, req: { ...req, pieces: int(r, 60, 100), pauseMs: 500 }, timeoutMs: 60_000 };
}

/** A burst of unsigned webhook bodies arriving slowly at once: more than the budget for unauthenticated bodies holds. */
export function burstCase(r: Rng, i: number): Case {
  const b = Buffer.alloc(int(r, 100_000, 600_000), 0x20);
  const headers: [string, string][] = [['Content-Type', 'application/json'], ['X-GitHub-Event', 'push'], ['X-Hub-Signature-256', sign(`forged-${i}`, b.toString())]];
  return { kind: 'burst', label: 'POST /v1/hooks/github (burst)', req: { ...withBody('POST', '/v1/hooks/github', headers, b), pieces: 20, pauseMs: 100 }, timeoutMs: 30_000 };
}
