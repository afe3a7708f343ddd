export * from './model.js';
export { AppService, validateAppName, MAX_REPLICAS, type ReleaseInput } from './apps.js';
export { KeyedLock } from './lock.js';
export { BuildLogs } from './buildlogs.js';
