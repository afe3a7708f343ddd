/**
 * The pleaco command line: `run(argv, deps)` (run.ts) parses, dispatches to a verb of the table in verbs.ts and
 * renders the answer; src/main/cli.ts wires the process into it. `make up` reuses the deploy renderer.
 */
export { run, report } from './run.js';
export type { CliDeps } from './context.js';
export type { Output } from './format.js';
export { findNode } from './connect.js';
export { VERBS } from './verbs.js';
export { DeployRenderer } from './events.js';
export { sparkline, sparklineWithRange } from './sparkline.js';
export type { InitResult, InitFn } from './context.js';
