/**
 * Host updates: take a bundle (uploaded, or fetched from a URL by this node), start a rollout, show it, and the gate
 * a node's new slot must pass before it is marked good (pleaco-update-gate asks it).
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { PleacoError } from '../../errors.js';
import { compareVersions, hostKeys, hostVersion, type BadVersion, type DesiredHost, type HostStatus } from '../../model/index.js';
import { diskFull, lowDisks } from '../../runtime/index.js';
import { bundlesDir, fetchFromUrl, isBundleId, MAX_BUNDLE_BYTES, rolloutOrder } from '../../update/index.js';
import type { ApiDeps, UpdateControl } from '../deps.js';
import { jsonBody } from '../http.js';
import type { Ctx } from '../http.js';
import type { RouteDef } from '../registry.js';

const URL_TIMEOUT_MS = 30 * 60_000;
const UPLOAD_TIMEOUT_MS = 30 * 60_000;

function updater(d: ApiDeps): UpdateControl {
  if (!d.update) throw new PleacoError('conflict', 'this node has no host updater (it is not an agent on the golden image)');
  return d.update;
}

/** The request body streamed into a file, bounded in bytes and time. */
async function receive(ctx: Ctx, dest: string): Promise<void> {
  const declared = Number(ctx.get('content-length') || '0');
  if (declared > MAX_BUNDLE_BYTES) throw new PleacoError('payload_too_large', `a bundle is at most ${MAX_BUNDLE_BYTES} bytes`, { details: { closeConnection: true } });
  let n = 0;
  const bound = new Transform({
    transform(chunk: Buffer, _e, cb) {
      n += chunk.length;
      cb(n > MAX_BUNDLE_BYTES ? new PleacoError('payload_too_large', `a bundle is at most ${MAX_BUNDLE_BYTES} bytes`, { details: { closeConnection: true } }) : null, chunk);
    },
  });
  try {
    await pipeline(ctx.req, bound, createWriteStream(dest), { signal: AbortSignal.timeout(UPLOAD_TIMEOUT_MS) });
  } catch (err) {
    await rm(dest, { force: true });
    throw err instanceof PleacoError ? err : new PleacoError('bad_request', `the bundle upload broke off: ${(err as Error).message}`);
  }
}

export function updateRoutes(d: ApiDeps): RouteDef[] {
  const limit = d.config.api.bodyLimitBytes;
  return [
    {
      method: 'POST', path: '/v1/update/bundles', tag: 'system',
      summary: 'Give this node a host update bundle: the bundle itself (application/octet-stream), or {url} for this node to fetch it; it is verified and kept',
      handler: async (ctx) => {
        const u = updater(d);
        const tmp = join(bundlesDir(d.config.stateDir), `upload-${randomBytes(6).toString('hex')}.part`);
        if (ctx.is('application/json')) {
          const url = (await jsonBody(ctx, limit)).url;
          if (typeof url !== 'string' || url.length > 2048) throw new PleacoError('bad_request', 'url must be an http(s) URL of a bundle');
          await fetchFromUrl(url, tmp, AbortSignal.timeout(URL_TIMEOUT_MS), URL_TIMEOUT_MS);
        } else if (ctx.is('application/octet-stream')) {
          // room for the bundle and the space pleaco keeps free, before a byte is written
          const need = Number(ctx.get('content-length') || '0') + d.config.disk.minFreeBytes;
          const low = await lowDisks([bundlesDir(d.config.stateDir)], need);
          if (low.length) throw diskFull(low, need, 'cannot take the bundle');
          await receive(ctx, tmp);
        }
        else throw new PleacoError('unsupported_media_type', 'send the bundle as application/octet-stream, or {url} as application/json');
        const b = await u.keep(tmp);
        d.log.info('host bundle taken', { version: b.manifest.version, bundle: b.id.slice(0, 12), key: b.keyId });
        ctx.status = 201;
        ctx.body = { version: b.manifest.version, bundle: b.id, keyId: b.keyId, size: b.size };
      },
    },
    {
      method: 'POST', path: '/v1/update', tag: 'system', summary: 'Start rolling a host version through the cluster (its bundle must be on this node: POST /v1/update/bundles)',
      body: { type: 'object', additionalProperties: false, required: ['version', 'bundle'], properties: { version: { type: 'string' }, bundle: { type: 'string' }, url: { type: 'string' }, maxUnavailable: { type: 'integer', minimum: 1, maximum: 100 } } },
      handler: async (ctx) => {
        const u = updater(d);
        const body = await jsonBody(ctx, limit);
        const version = hostVersion(body.version);
        const bundle = isBundleId(body.bundle) ? body.bundle : null;
        if (!bundle) throw new PleacoError('bad_request', 'bundle must be the id POST /v1/update/bundles answered');
        const max = body.maxUnavailable === undefined ? 1 : body.maxUnavailable;
        if (!Number.isSafeInteger(max) || (max as number) < 1 || (max as number) > 100) throw new PleacoError('bad_request', 'maxUnavailable must be 1 to 100');
        const b = await u.held(bundle);
        if (!b) throw new PleacoError('not_found', 'this node does not hold that bundle (give it with POST /v1/update/bundles first)');
        if (b.manifest.version !== version) throw new PleacoError('bad_request', `the bundle is version ${b.manifest.version}, not ${version}`);
        if (d.store.get<BadVersion>(hostKeys.bad(version))) throw new PleacoError('conflict', `${version} is marked bad (pleaco update:status says why); release a newer version`);
        const cur = d.store.get<DesiredHost>(hostKeys.desired);
        if (cur && compareVersions(version, cur.version) < 0) throw new PleacoError('conflict', `the cluster is already going to ${cur.version}; ${version} would be a downgrade`);
        const url = typeof body.url === 'string' ? body.url : undefined;
        const desired: DesiredHost = { version, bundle, origin: { node: d.nodeId, ...(url ? { url } : {}) }, maxUnavailable: max as number, at: new Date().toISOString(), by: d.nodeId };
        await d.store.batch([{ key: hostKeys.desired, value: desired }]);
        d.log.info('host update started', { version, bundle: bundle.slice(0, 12), maxUnavailable: max });
        ctx.status = 202;
        ctx.body = desired;
      },
    },
    {
      method: 'GET', path: '/v1/update', tag: 'system', summary: 'The host update: the desired version, versions marked bad, and every node: slot, version, state, last error',
      handler: async (ctx) => void (ctx.body = updateView(d)),
    },
    {
      method: 'GET', path: '/v1/update/gate', tag: 'system', summary: 'Whether this node is healthy and back in its cluster (a new host slot is marked good once it is)',
      handler: async (ctx) => void (ctx.body = updater(d).gate()),
    },
  ];
}

function updateView(d: ApiDeps): unknown {
  const desired = d.store.get<DesiredHost>(hostKeys.desired) ?? null;
  const statuses = d.store.list<HostStatus>('obs/').filter((e) => e.key.endsWith('/host')).map((e) => e.value);
  const members = d.cluster?.members() ?? [];
  const live = new Set(members.filter((m) => m.state === 'alive').map((m) => m.id).concat(d.nodeId));
  const ids = [...new Set([...members.map((m) => m.id), d.nodeId, ...statuses.map((s) => s.node)])];
  const order = desired ? rolloutOrder(desired.version, ids) : [...ids].sort();
  const nodes = order.map((id) => ({ ...(statuses.find((s) => s.node === id) ?? { node: id, slot: null, version: null, state: 'unknown', target: null, error: null, note: 'no host status yet', at: null }), live: live.has(id) }));
  return { desired, bad: d.store.list<BadVersion>(hostKeys.badPrefix).map((e) => e.value), nodes, host: d.update?.host ?? null };
}
