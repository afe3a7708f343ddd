/** The scanner's advisory database: OSV import (dir, zip, json, file:// or http(s)), canonical store, lookup index. */
export { AdvisoryDb, normalizeName } from './advisorydb.js';
export { loadAdvisories, validateRecord, MAX_ENTRY_BYTES, MAX_TOTAL_BYTES, type LoadError, type LoadOptions, type LoadResult } from './load.js';
export { AdvisoryStore, DB_FILE, digestHex, type DbMeta, type ImportOptions } from './store.js';
