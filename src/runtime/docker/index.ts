/** The Docker Engine adapters of the runtime's interfaces; only main/ (and tests) import this. */
export { DockerEngine, connectDocker, engineError, pingDocker } from './engine.js';
export { DockerRuntime, containerName, type DockerRuntimeOptions } from './runtime.js';
export { decodeLogBuffer, FrameDecoder, LineDecoder } from './logs.js';
export { LineSplitter } from './lines.js';
