export { HybridClock, compareHlc, isHlc, type Hlc } from './hlc.js';
export { LwwMap, wins, type Entry } from './lww.js';
export { Wal } from './wal.js';
export { Store, SoftState, KEY_RE, isValidKey, type StoreOptions, type WriteOp } from './store.js';
export { StateMirror } from './mirror.js';
