export * from './config.js';
export * from './messages.js';
export * from './swim.js';
export * from './rng.js';
