/** The builder subsystem's public surface: builders, app config, the test runner, the pipeline and its worker. */
export { pleacoLabels, type Builder, type BuildRequest } from './builder.js';
export { DockerBuilder } from './docker.js';
export { KanikoBuilder, kanikoArgs, type KanikoOptions } from './kaniko.js';
export {
  APP_CONFIG_FILES,
  parseAppConfig,
  validateAppConfig,
  readAppConfig,
  resolveTestCommand,
  resolvePort,
  firstExposedTcpPort,
  type AppConfig,
  type PortSource,
} from './appconfig.js';
export { runTests, type TestRunOptions, type TestRunResult } from './tests.js';
export { LogShipper } from './logship.js';
export { type GitMirrorLike, type PipelineDeps } from './pipeline.js';
export { BuildWorker, BUILDER_PREFIXES, type BuildWorkerDeps, type BuilderLink } from './worker.js';
export { pollTargets } from './poll.js';
