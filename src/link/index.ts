/**
 * The one contract between a subsystem (builder, runner, proxy, scanner) and the agent of its node: the HTTP
 * client, the routes and their parsers (shared with the API), AgentLink for every write, the StateView for every
 * read, and the Reconciler every loop is built on.
 */
export { AgentClient, type ClientOptions, type RequestOptions } from './client.js';
export { ROUTES, SOFT, pathOf, parseClaim, parseEnsureImage, parseFailureReport, parseReleaseInput, parseSoftEntries, parseWriteOps, type Method, type RouteSpec, type SoftEntry } from './contract.js';
export { AgentLink, type LinkTransport, type WriteSink } from './agent.js';
export { StateMirror, whenReady, type MembersSource, type StateChange, type StateView } from './view.js';
export { Reconciler, type ReconcilerOptions } from './reconciler.js';
