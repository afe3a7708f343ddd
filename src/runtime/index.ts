/**
 * The runtime subsystem's public surface: the two engine interfaces (ContainerEngine for images and job
 * containers; ContainerRuntime for a node's app containers), the planner and the runner. The Docker adapters
 * implementing them are in runtime/docker/, which only main/ imports.
 */
export { engineUnavailable, isEngineDown, type ContainerEngine, type ContainerSummary, type EngineStatus, type ImageBuildRequest, type ImageInfo, type JobResult, type JobSpec, type LayerSink } from './engine.js';
export type {
  AppLogReader,
  ContainerRuntime,
  ContainerState,
  FollowOptions,
  LogLine,
  LogStream,
  ManagedContainer,
  RuntimeEvent,
  SlotSpec,
  TailOptions,
} from './runtime.js';
export { OOM_NOTE, specHash } from './runtime.js';
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
export { desiredSlots, everywhere, type Placement } from './desired.js';
export { Runner, runnerPrefixes, type RunnerDeps, type RunnerLink } from './runner.js';
export { diskFull, diskSpace, lowDisks, type DiskSpace } from './disk.js';
export { EngineMonitor, type EngineHealth, type EngineMonitorOptions } from './monitor.js';
export { ImageService, ImageCache, pidAlive, imagesRoot, imageHook, imageRecords, imagesToKeep, chainIds, parseImageConfig, ENSURE_WAIT_MS, IMAGE_KIND, type EnsureImage, type ImageServiceOptions, type ImagePeers } from './images/index.js';
