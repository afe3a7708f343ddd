export * from './model.js';
export { AppService, validateAppName, MAX_REPLICAS, type ReleaseInput, type FailureReport } from './apps.js';
export { KeyedLock } from './lock.js';
export { BuildLogs } from './buildlogs.js';
export { DomainService, normalizeHost, validateHealthcheck, isDnsName, HEALTH_LIMITS, type DomainServiceOptions, type DomainView } from './domains.js';
export { parseAppMetrics, totalMetrics, prometheusText, escapeLabel, emptyCodes, CODE_CLASSES, type MetricsTotal } from './metrics.js';
export { ScanService, evaluate, blocks, describeBlocking, parseFailOn, FAIL_ON, type EffectivePolicy, type Verdict, type PolicyInput } from './scan.js';
