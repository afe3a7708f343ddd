/** The Koa application: error boundary, auth, and every route from one table. No I/O until listen(). */
import Koa from 'koa';
import type { ApiDeps } from './deps.js';
import { errorBoundary, requireToken } from './http.js';
import { buildRouter, openApi, openRoutes, type RouteDef } from './registry.js';
import { appRoutes } from './routes/apps.js';
import { buildRoutes } from './routes/builds.js';
import { clusterRoutes } from './routes/cluster.js';
import { domainRoutes } from './routes/domains.js';
import { autoscaleRoutes } from './routes/autoscale.js';
import { hookRoutes } from './routes/hooks.js';
import { internalRoutes } from './routes/internal.js';
import { metricsRoutes } from './routes/metrics.js';
import { scanRoutes } from './routes/scan.js';
import { updateRoutes } from './routes/update.js';
import { systemRoutes } from './routes/system.js';

export function createApi(d: ApiDeps): { app: Koa; routes: RouteDef[] } {
  const routes: RouteDef[] = [];
  let doc: Record<string, unknown> | undefined;
  routes.push(
    ...systemRoutes(d, () => (doc ??= openApi(routes, d.version))),
    ...clusterRoutes(d),
    ...appRoutes(d),
    ...buildRoutes(d),
    ...domainRoutes(d),
    ...autoscaleRoutes(d),
    ...metricsRoutes(d),
    ...scanRoutes(d),
    ...updateRoutes(d),
    ...hookRoutes(d),
    ...internalRoutes(d),
  );
  const app = new Koa();
  app.proxy = false;
  app.silent = true;
  const router = buildRouter(routes);
  app.use(errorBoundary(d.log));
  app.use(async (ctx, next) => {
    ctx.set('x-content-type-options', 'nosniff');
    await next();
  });
  app.use(requireToken(d.token, openRoutes(routes)));
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: false }));
  return { app, routes };
}
