/** The runtime subsystem's public surface: the container runtime interface, its Docker adapter, the planner and the runner. */
export { connectEngine, engineError, isEngineDown, pingEngine, type Engine } from './engine.js';
export type {
  ContainerRuntime,
  ContainerState,
  EngineStatus,
  FollowOptions,
  LogLine,
  LogStream,
  ManagedContainer,
  ManagedImage,
  RuntimeEvent,
  SlotSpec,
} from './runtime.js';
export { DockerRuntime, containerName, type DockerRuntimeOptions } from './docker.js';
export { tailLogs, decodeLogBuffer, FrameDecoder, LineDecoder, type AppLogLine, type TailOptions } from './logs.js';
export {
  plan,
  backoffDelay,
  isReady,
  recordFailure,
  memoryFromStatus,
  type Action,
  type DesiredSlot,
  type ObservedContainer,
  type PendingSlot,
  type PlanConfig,
  type PlanInput,
  type PlanOutput,
  type RunnerSlotStatus,
  type SlotMemory,
} from './plan.js';
export { desiredSlots, everywhere, type Placement, type StateReader } from './desired.js';
export { Runner, runnerPrefixes, type RunnerDeps, type StateEntry, type StateView } from './runner.js';
