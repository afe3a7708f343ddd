/** pleaco's HAProxy data plane: state → model → config, the HAProxy process, its runtime API and stats, and the loops that keep it in step. */
export { DEFAULT_HEALTH, backendName, slotName, validateModel } from './model.js';
export type { ProxyModel, ProxyApp, ProxyHealth, ProxyServer, ServerState } from './model.js';
export { renderConfig, slotOf, proxyThreads, HOSTS_MAP, SERVER_STATE, errorFileOf } from './config.js';
export type { RenderPaths, RenderOptions, RenderedConfig, SlotMap, AppSlots } from './config.js';
export { HAProxyProcess } from './haproxy.js';
export type { HAProxyOptions, ConfigBundle, ValidateResult } from './haproxy.js';
export { RuntimeApi, socketCommand } from './runtime.js';
export type { ServerUpdate, MapEntry } from './runtime.js';
export { parseStatCsv, appStats, normalizeStatus } from './stats.js';
export type { StatRow, AppStats, ServerStats, ServerStatus, CodeCounts } from './stats.js';
export { ProxyController, reloadReason, runtimeOps, type AdmitNewServers } from './controller.js';
export type { ProxyControllerOptions, ApplyOutcome } from './controller.js';
export { PROXY_PREFIXES, proxyModel, type FromStateOptions } from './fromstate.js';
export { ProxyLoop, type ProxyLoopOptions } from './loop.js';
export { Activator, HOLD_MS, MAX_BODY_BYTES, MAX_HELD, MAX_HELD_PER_APP, type ActivatorOptions, type ActivatorStats } from './activator.js';
