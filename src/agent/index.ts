/**
 * The agent's operations on apps, builds, releases, domains, health checks and scan policies: the services the
 * API's routes call. They read and write the replicated store; nothing here talks to an adapter.
 */
export { AppService, MAX_REPLICAS, type AppServiceOptions } from './apps.js';
export { KeyedLock } from './lock.js';
export { BuildLogs } from './buildlogs.js';
export { DomainService, type DomainServiceOptions, type DomainView } from './domains.js';
export { ScanService, type PolicyInput } from './scan.js';
export { BuildRetention, buildsToPrune, LOG_GRACE_MS, type RetentionOptions, type RetentionResult } from './retention.js';
export { NodeService, type NodeServiceOptions } from './nodes.js';
export { OwnerGate, APP_OP, type OwnerGateOptions, type OwnerPeers, type OwnerDispatch } from './owner.js';
export { OwnedAppService } from './owned.js';
export { buildsOnLostNodes, takeOverBuilds, type TakeoverOptions } from './takeover.js';
export { watchReleases } from './releaseguard.js';
export { sameRelease } from './clash.js';
export { Autoscaler, METRICS_KIND, DECIDE_EVERY_MS, METRICS_FRESH_MS, history, type AutoscalerDeps, type AutoscalePeers } from './autoscaler.js';
