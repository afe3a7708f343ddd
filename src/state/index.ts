export { HybridClock, compareHlc, isHlc, type Hlc } from './hlc.js';
export { LwwMap, wins, type Entry } from './lww.js';
export { Wal } from './wal.js';
export { Store, SoftState, KEY_RE, isValidKey, type StoreOptions, type WriteOp } from './store.js';
export { StateMirror } from './mirror.js';

/** What pure planners read from state: satisfied by the agent's Store and by a subsystem's StateMirror. */
export interface StateReader {
  get<T>(key: string): T | undefined;
  list<T>(prefix: string): { key: string; value: T }[];
}
