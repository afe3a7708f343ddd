/**
 * The contract between the agent and the subsystems of its node (builder, runner, proxy): every internal route
 * once, with its path and the one parser of its request body. The API registers these paths and parses with
 * these functions (src/api/routes/internal.ts); AgentLink (agent.ts) builds its requests from the same table, so
 * the two sides cannot drift apart and no subsystem writes a URL by hand.
 */
import { PleacoError } from '../errors.js';
import { checkSubsystemWrite, isAppName, isDigest, parseAppMetrics, keys, type FailureReport, type ReleaseInput, type ScanSummary, type TestResult } from '../model/index.js';
import { isValidKey, type WriteOp } from '../state/index.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RouteSpec {
  readonly method: Method;
  /** Koa-router style: `:name` parameters. */
  readonly path: string;
}

/** The internal routes (bearer token, local socket) and the public ones a subsystem uses. */
export const ROUTES = {
  /** ndjson: `{type:'entry',entry}` for every entry under the prefixes, `{type:'synced'}`, then every change; pings. */
  watch: { method: 'GET', path: '/v1/internal/watch' },
  /** `{ops: WriteOp[]}` → `{entries}`, acknowledged once durable. */
  state: { method: 'POST', path: '/v1/internal/state' },
  /** `{entries: SoftEntry[]}` → `{stored}`: values with a TTL, in the agent's memory only. */
  soft: { method: 'POST', path: '/v1/internal/soft' },
  /** `{node}` → `{build}`: a builder takes a queued build. */
  claim: { method: 'POST', path: '/v1/internal/apps/:name/builds/:id/claim' },
  /** text/plain lines appended to the build log. */
  buildLog: { method: 'POST', path: '/v1/internal/apps/:name/builds/:id/log' },
  /** ReleaseInput → `{release}`: a tested build becomes the new current release. */
  release: { method: 'POST', path: '/v1/internal/apps/:name/releases' },
  /** FailureReport → `{release}`: a runner gives up a release whose rollout failed. */
  failRelease: { method: 'POST', path: '/v1/internal/apps/:name/releases/:number/fail' },
  /**
   * `{imageId, app}` → `{image: ImageEnsureResult}` once the image is on this node (fetched from a member that has
   * it); 503 `unavailable` while the transfer still runs after the agent's wait (ask again), 404 when no record of the
   * app names the image or no live member holds it, 422 `digest_mismatch` when what came did not hash right.
   */
  ensureImage: { method: 'POST', path: '/v1/internal/images/ensure' },
  /** → `{replicas}`: a request waits for an app at zero replicas (autoscale min 0); its owner starts one. */
  activate: { method: 'POST', path: '/v1/internal/apps/:name/activate' },
  /** → `{counters, recent}`: this node's image transfers (bytes received and served, the last transfers). */
  images: { method: 'GET', path: '/v1/internal/images' },
  /** Public: an AutoscalePolicy → `{policy}` (a release applies its pleaco.json `autoscale`). */
  autoscale: { method: 'PUT', path: '/v1/apps/:name/autoscale' },
  /** Public: `{ref, trigger}` → `{build}` (the poller queues a deploy of a new commit). */
  deploy: { method: 'POST', path: '/v1/apps/:name/deploys' },
  /** Public: the agent answers once it is up. */
  health: { method: 'GET', path: '/v1/health' },
} as const satisfies Record<string, RouteSpec>;

/** The route's path with its `:params` filled in (URL-encoded); a missing parameter is a programming error. */
export function pathOf(route: RouteSpec, params: Record<string, string | number> = {}, query?: Record<string, string>): string {
  const path = route.path.replace(/:([a-z]+)/g, (_m, name: string) => {
    const v = params[name];
    if (v === undefined) throw new PleacoError('internal', `route ${route.path} needs :${name}`);
    return encodeURIComponent(String(v));
  });
  const q = query ? new URLSearchParams(query).toString() : '';
  return q ? `${path}?${q}` : path;
}

function bad(message: string): PleacoError {
  return new PleacoError('bad_request', message);
}

function object(body: unknown, what: string): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw bad(`${what} must be a JSON object`);
  return body as Record<string, unknown>;
}

/** Most ops in one `POST state` (a runner publishing every slot of a busy node stays far below). */
export const MAX_WRITE_OPS = 1000;

/**
 * `POST state`: the ops to write (null deletes), each checked against the model's key schema (checkSubsystemWrite:
 * a known key shape with valid parts, written by a subsystem, a value that is the record the key holds) before any
 * is written. An op is `{key, value}` and nothing else: the agent stamps every write itself.
 */
export function parseWriteOps(body: unknown): WriteOp[] {
  const b = object(body, 'the state write');
  if (!Array.isArray(b.ops)) throw bad('ops must be an array of {key, value}');
  if (b.ops.length > MAX_WRITE_OPS) throw bad(`at most ${MAX_WRITE_OPS} ops per request`);
  return b.ops.map((o: unknown) => {
    if (!o || typeof o !== 'object' || Array.isArray(o)) throw bad('each op must be an object {key, value}');
    const op = o as { key?: unknown; value?: unknown };
    if (typeof op.key !== 'string' || !('value' in op) || op.value === undefined) throw bad('each op needs a key and a value (null deletes)');
    const extra = Object.keys(op).find((k) => k !== 'key' && k !== 'value');
    if (extra !== undefined) throw bad(`an op has only a key and a value (${JSON.stringify(extra.slice(0, 40))} is not accepted: the agent stamps every write)`);
    checkSubsystemWrite(op.key, op.value);
    return { key: op.key, value: op.value };
  });
}

/** `POST claim`: the claiming node. */
export function parseClaim(body: unknown): { node: string } {
  const b = object(body, 'the claim');
  if (typeof b.node !== 'string' || b.node.length === 0 || b.node.length > 200) throw bad('node is required');
  return { node: b.node };
}

/** `POST release`: what the builder found; the agent numbers the release. */
export function parseReleaseInput(body: unknown): ReleaseInput {
  const b = object(body, 'the release');
  for (const k of ['build', 'commit', 'image', 'imageId'] as const) if (typeof b[k] !== 'string') throw bad(`${k} is required`);
  if (typeof b.port !== 'number' || !Number.isInteger(b.port) || b.port < 1 || b.port > 65535) throw bad('port must be 1-65535');
  return {
    build: b.build as string,
    commit: b.commit as string,
    image: b.image as string,
    imageId: b.imageId as string,
    test: (b.test ?? null) as TestResult | null,
    ...(b.scan && typeof b.scan === 'object' ? { scan: b.scan as ScanSummary } : {}),
    port: b.port,
    ...(typeof b.description === 'string' ? { description: b.description } : {}),
  };
}

/** `POST failRelease`: the release number (from the path) and the runner's report. */
export function parseFailureReport(number: string | undefined, body: unknown): { number: number; report: FailureReport } {
  const n = Number(number);
  if (!Number.isSafeInteger(n) || n < 1) throw bad('release number must be a positive integer');
  const b = object(body, 'the failure report');
  for (const k of ['reason', 'node', 'slot'] as const) {
    if (typeof b[k] !== 'string' || b[k].length === 0 || b[k].length > 1000) throw bad(`${k} is required (a string of at most 1000 characters)`);
  }
  if (b.lastLog !== undefined && typeof b.lastLog !== 'string') throw bad('lastLog must be a string');
  if (b.rollbackTo !== null && !Number.isSafeInteger(b.rollbackTo)) throw bad('rollbackTo must be a release number or null');
  const report: FailureReport = {
    reason: b.reason as string,
    node: b.node as string,
    slot: b.slot as string,
    rollbackTo: b.rollbackTo as number | null,
    ...(typeof b.lastLog === 'string' ? { lastLog: b.lastLog } : {}),
  };
  return { number: n, report };
}

/** `POST ensureImage`: an image ID and the app whose release or build names it. */
export function parseEnsureImage(body: unknown): { imageId: string; app: string } {
  const b = object(body, 'the image request');
  if (!isDigest(b.imageId)) throw bad('imageId must be sha256:<64 hex digits>');
  if (!isAppName(b.app)) throw bad('app must be an app name');
  return { imageId: b.imageId, app: b.app };
}

/** One soft-state value as a subsystem posts it. */
export interface SoftEntry {
  key: string;
  value: unknown;
  ttlMs: number;
}

/** Bounds of `POST soft`. */
export const SOFT = { bodyLimitBytes: 256 * 1024, maxEntriesPerPost: 1000, maxKeys: 20_000, minTtlMs: 1000, maxTtlMs: 5 * 60_000 };

/** `POST soft`: every entry checked before any is stored; `metrics/<node>/<app>` values must be AppMetrics. */
export function parseSoftEntries(body: unknown): { key: string; value: unknown; ttl: number }[] {
  const b = object(body, 'the soft-state write');
  if (!Array.isArray(b.entries)) throw bad('entries must be an array of {key, value, ttlMs}');
  if (b.entries.length > SOFT.maxEntriesPerPost) throw bad(`at most ${SOFT.maxEntriesPerPost} entries per request`);
  return b.entries.map((raw: unknown) => {
    const e = (raw ?? {}) as { key?: unknown; value?: unknown; ttlMs?: unknown };
    if (!isValidKey(e.key)) throw bad(`invalid soft-state key ${JSON.stringify(e.key)}`);
    if (e.value === undefined || e.value === null) throw bad(`${e.key}: a value is required`);
    const ttl = e.ttlMs;
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < SOFT.minTtlMs || ttl > SOFT.maxTtlMs) {
      throw bad(`${e.key}: ttlMs must be an integer from ${SOFT.minTtlMs} to ${SOFT.maxTtlMs}`);
    }
    const value = e.key.startsWith(keys.metricsPrefix) ? parseAppMetrics(e.key, e.value) : e.value;
    return { key: e.key, value, ttl };
  });
}
