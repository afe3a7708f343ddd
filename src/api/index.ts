export { createApi } from './app.js';
export { serveApi, type ApiServers } from './server.js';
export { AgentClient, type ClientOptions } from './client.js';
export type { ApiDeps, AppLogReader } from './deps.js';
export { checkBearer } from './http.js';
