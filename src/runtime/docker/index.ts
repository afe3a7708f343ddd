/** The Docker Engine adapters of the runtime's interfaces; only main/ (and tests) import this. */
export { DockerEngine, connectDocker } from './engine.js';
export { DockerRuntime, containerName, type DockerRuntimeOptions } from './runtime.js';
export { decodeLogBuffer } from './logs.js';
export { DEFAULT_DEADLINES, scaledDeadlines, type EngineDeadlines } from './deadline.js';
