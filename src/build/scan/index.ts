/** The scanner's public surface: the pipeline stage, and its parts for benches and tools. */
export { scanImage, countSeverities, type ScanStageInput, type ScanClient } from './stage.js';
export { inventoryImage } from './inventory/image.js';
export { toCycloneDx } from './sbom.js';
export { matchInventory, isAffected, fixedAbove } from './match.js';
export { severityOf, cvss3BaseScore } from './severity.js';
export { compareFor, normalizeName } from './versions/index.js';
export { AdvisoryStore, AdvisoryDb, type DbMeta } from './db/index.js';
export * from './types.js';
