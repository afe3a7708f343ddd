/** An app's autoscaling: its policy, and what its owner decided last (the owner's `obs/<node>/autoscale/<app>`). */
import { currentRelease, keys, liveMemberIds, newestAutoscaleStatus, replicasOf, type AppLogLine, type AutoscalePolicy, type AutoscaleStatus } from '../../model/index.js';
import type { ApiDeps } from '../deps.js';
import { jsonBody } from '../http.js';
import type { RouteDef } from '../registry.js';

const POLICY = {
  type: 'object',
  additionalProperties: false,
  required: ['max'],
  properties: {
    min: { type: 'integer', minimum: 0, maximum: 100, description: 'default 1' },
    max: { type: 'integer', minimum: 1, maximum: 100 },
    targetRps: { type: 'number', exclusiveMinimum: 0 },
    targetConcurrency: { type: 'number', exclusiveMinimum: 0 },
    windowS: { type: 'integer', minimum: 1, maximum: 3600 },
  },
};

/** The newest status record of the app written by a live member (a dead owner's record is history, not news). */
function statusOf(d: Pick<ApiDeps, 'store' | 'cluster' | 'nodeId'>, app: string): AutoscaleStatus | null {
  const members = d.cluster?.members();
  const live = members ? liveMemberIds(members, d.nodeId) : null;
  return newestAutoscaleStatus(d.store, app, live ? (n) => live.has(n) : undefined);
}

/**
 * The autoscaler's decisions about `app` made after `since` (epoch ms), as lines of the app's log (`pleaco logs`:
 * `autoscale vN | <time> 1 → 3 replicas: <reason>`), oldest first, and the time of the newest.
 */
export function decisionLines(d: Pick<ApiDeps, 'store' | 'cluster' | 'nodeId'>, app: string, since: number): { lines: AppLogLine[]; last: number } {
  const status = d.store.get(keys.autoscale(app)) ? statusOf(d, app) : null;
  const release = currentRelease(d.store, app)?.number ?? 0;
  const fresh = (status?.decisions ?? []).filter((x) => x.at > since);
  const lines = fresh.map((x): AppLogLine => ({ slot: 'autoscale', release, stream: 'stdout', line: `${new Date(x.at).toISOString()} ${x.current} → ${x.desired} replicas: ${x.reason}` }));
  return { lines, last: fresh.reduce((m, x) => Math.max(m, x.at), since) };
}

export function autoscaleRoutes(d: ApiDeps): RouteDef[] {
  const limit = d.config.api.bodyLimitBytes;
  return [
    {
      method: 'GET', path: '/v1/apps/:name/autoscale', tag: 'processes', summary: "The app's autoscaling policy (null: off), its replicas, and its owner's last decisions",
      handler: async (ctx) => {
        const name = d.apps.get(ctx.params.name).name;
        const policy = d.store.get<AutoscalePolicy>(keys.autoscale(name)) ?? null;
        ctx.body = { app: name, policy, replicas: replicasOf(d.store, name), status: policy ? statusOf(d, name) : null };
      },
    },
    {
      method: 'PUT', path: '/v1/apps/:name/autoscale', tag: 'processes', summary: 'Autoscale the app on traffic: min and max replicas, one target per replica (req/s or in-flight requests)',
      body: POLICY,
      handler: async (ctx) => {
        const policy = await d.apps.setAutoscale(ctx.params.name, await jsonBody(ctx, limit));
        d.log.info('autoscaling set', { app: ctx.params.name, ...policy });
        ctx.body = { app: ctx.params.name, policy, replicas: replicasOf(d.store, ctx.params.name) };
      },
    },
    {
      method: 'DELETE', path: '/v1/apps/:name/autoscale', tag: 'processes', summary: 'Turn autoscaling off (the replica count stays where it is)',
      handler: async (ctx) => {
        const was = await d.apps.autoscaleOff(ctx.params.name);
        if (was) d.log.info('autoscaling off', { app: ctx.params.name });
        ctx.body = { app: ctx.params.name, policy: null, replicas: replicasOf(d.store, ctx.params.name) };
      },
    },
  ];
}
