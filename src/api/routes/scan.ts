/**
 * Vulnerability scanning: an app's scan report and SBOM (per release or build), its policy and the cluster
 * default, and the advisory database (what the cluster holds; `POST /v1/scan/db` loads a new copy on this
 * node, which then reaches every node by digest).
 */
import { PleacoError } from '../../errors.js';
import type { ApiDeps } from '../deps.js';
import { jsonBody, ndjson } from '../http.js';
import type { RouteDef } from '../registry.js';

const POLICY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    failOn: { type: 'string', enum: ['none', 'low', 'medium', 'high', 'critical'] },
    allow: { type: 'object', required: ['id', 'reason', 'until'], properties: { id: { type: 'string' }, reason: { type: 'string' }, until: { type: 'string', description: 'ISO date' } } },
    remove: { type: 'array', items: { type: 'string' } },
    inherit: { type: 'boolean', description: "apps only: follow the cluster default's threshold again" },
  },
};
const WHICH = { release: 'release number (default: the latest scanned build)', build: 'build id' };

function releaseParam(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(String(v).replace(/^v/, ''));
  if (!Number.isSafeInteger(n) || n < 1) throw new PleacoError('bad_request', `release must be a release number like 3 or v3, got ${JSON.stringify(v)}`);
  return n;
}

export function scanRoutes(d: ApiDeps): RouteDef[] {
  const limit = d.config.api.bodyLimitBytes;
  const reportOf = (name: string, q: Record<string, unknown>) =>
    typeof q.build === 'string' ? d.scan.report(name, q.build) : d.scan.reportFor(name, releaseParam(q.release));
  return [
    {
      method: 'GET', path: '/v1/apps/:name/scan', tag: 'scan', query: WHICH, summary: 'The scan report of a release or build: findings, what blocked, what was allowed',
      handler: async (ctx) => void (ctx.body = { report: reportOf(ctx.params.name, ctx.query) }),
    },
    {
      method: 'GET', path: '/v1/apps/:name/sbom', tag: 'scan', query: WHICH, summary: 'The CycloneDX 1.5 SBOM of a release or build',
      handler: async (ctx) => {
        const report = reportOf(ctx.params.name, ctx.query);
        ctx.type = 'application/vnd.cyclonedx+json';
        ctx.body = d.scan.sbom(ctx.params.name, report.build);
      },
    },
    {
      method: 'GET', path: '/v1/apps/:name/scan-policy', tag: 'scan', summary: "The app's scan policy as it applies (threshold and allow-list, app and cluster entries)",
      handler: async (ctx) => void (ctx.body = { policy: d.scan.policy(ctx.params.name) }),
    },
    {
      method: 'PATCH', path: '/v1/apps/:name/scan-policy', tag: 'scan', body: POLICY, summary: "Change the app's threshold or allow-list",
      handler: async (ctx) => {
        const name = ctx.params.name!;
        await d.scan.setPolicy(name, await jsonBody(ctx, limit));
        const policy = d.scan.policy(name);
        d.log.info('scan policy set', { app: name, failOn: policy.failOn, allow: policy.allow.map((a) => a.id) });
        ctx.body = { policy };
      },
    },
    {
      method: 'GET', path: '/v1/scan/policy', tag: 'scan', summary: 'The cluster default scan policy',
      handler: async (ctx) => void (ctx.body = { policy: d.scan.clusterPolicy() }),
    },
    {
      method: 'PATCH', path: '/v1/scan/policy', tag: 'scan', body: POLICY, summary: 'Change the cluster default threshold or allow-list',
      handler: async (ctx) => {
        await d.scan.setPolicy(null, await jsonBody(ctx, limit));
        const policy = d.scan.clusterPolicy();
        d.log.info('cluster scan policy set', { failOn: policy.failOn, allow: policy.allow.map((a) => a.id) });
        ctx.body = { policy };
      },
    },
    {
      method: 'GET', path: '/v1/scan/db', tag: 'scan', summary: "The cluster's advisory database and the copy this node holds",
      handler: async (ctx) => void (ctx.body = { db: d.scan.db(), local: d.scanDb ? await d.scanDb.installed() : null }),
    },
    {
      method: 'POST', path: '/v1/scan/db', tag: 'scan', stream: true,
      body: { type: 'object', required: ['source'], properties: { source: { type: 'string', description: 'a path on this node (OSV JSON directory, .zip or .json) or an http(s) URL' } } },
      summary: 'Load a new advisory database on this node (progress as ndjson, then the record every node installs)',
      handler: async (ctx) => {
        const b = await jsonBody(ctx, limit);
        if (typeof b.source !== 'string' || b.source.trim() === '') throw new PleacoError('bad_request', 'source is required: a path on this node or an http(s) URL');
        if (!d.scanDb) throw new PleacoError('unavailable', 'this node keeps no advisory database');
        const ac = new AbortController();
        const out = ndjson(ctx);
        void out.closed.then(() => ac.abort());
        try {
          const db = await d.scanDb.load(b.source, { signal: ac.signal, onProgress: (line) => out.send({ type: 'progress', line }) });
          d.log.info('advisory database loaded', { digest: db.digest, records: db.records, errors: db.errors, source: db.source });
          out.send({ type: 'done', db });
        } catch (err) {
          const e = err instanceof PleacoError ? err : new PleacoError('internal', 'loading the advisory database failed', { cause: err });
          if (!(err instanceof PleacoError)) d.log.error('advisory database load failed', { err });
          out.send({ type: 'error', error: { code: e.code, message: e.expose ? e.message : 'internal error' } });
        }
        out.end();
      },
    },
  ];
}
