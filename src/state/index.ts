export { HybridClock, compareHlc, isHlc, type Hlc, type SkewReport } from './hlc.js';
export { LwwMap, wins, type Entry } from './lww.js';
export { Wal } from './wal.js';
export { Store, SoftState, KEY_RE, isValidKey, type StoreOptions, type WriteOp, type ChangeOrigin, type RemoteApplyResult } from './store.js';
export { Replica, type ReplicaOptions, type SyncCall, type SyncReport } from './replica.js';
export { type PeerInfo, type SyncRequest, type SyncResponse, type SyncStatus } from './sync.js';
export { directExchange, type ExchangeStats } from './syncwire.js';
export { encodeDelta, decodeDelta, DeltaQueue, type DeltaPayload } from './delta.js';
export { DigestIndex } from './digest.js';
