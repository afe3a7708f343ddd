/**
 * The scanner's public surface: the pipeline's scan stage and its gate, the advisory database on this node and its
 * replication between nodes, and the parts benches and tools use.
 */
export { scanImage, countSeverities, fitReport, type ScanStageInput, type ScanOutcome } from './stage.js';
export { blocks, describeBlocking, evaluate, type Verdict } from './policy.js';
export { inventoryImage } from './inventory/image.js';
export { inventoryByLayers, type LayerScanDeps, type LayeredStats } from './inventory/layered.js';
export { LayerInventoryCache, scanLayersRoot } from './inventory/layercache.js';
export { toCycloneDx } from './sbom.js';
export { matchInventory, isAffected, fixedAbove } from './match.js';
export { severityOf, cvss3BaseScore } from './severity.js';
export { compareFor, normalizeName } from './versions/index.js';
export { AdvisoryStore, AdvisoryDb, type DbMeta } from './db/index.js';
export { ScanDbReplicator, scanDbRoot, type PeerAsk } from './replicator.js';
