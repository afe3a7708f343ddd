/** The admin API: the Koa app built from one route table (public, webhook and internal routes) and its servers. */
export { createApi } from './app.js';
export { serveApi, type ApiServers } from './server.js';
export type { ApiDeps, ClusterView, ScanDbControl } from './deps.js';
export { membersView } from './routes/internal.js';
