/**
 * The innermost ring: the records pleaco keeps, where each lives in state, the validators of every kind of name
 * and input, and the scanner's report types. Pure; imports nothing of ours but errors.ts.
 */
export * from './records.js';
export * from './keys.js';
export * from './names.js';
export * from './health.js';
export * from './autoscale.js';
export * from './repo.js';
export * from './redact.js';
export * from './metrics.js';
export * from './scan.js';
export * from './read.js';
export * from './resources.js';
export * from './schema.js';
export * from './images.js';
export * from './cluster.js';
export * from './host.js';
