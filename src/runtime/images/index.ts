/**
 * Images between nodes: the agent's ImageService (serves this node's pleaco images to peers over the cluster's sealed
 * stream, fetches the ones its runner needs: only missing layers, each verified by digest), the runner's hook, and
 * the pure parts (chain IDs, the records that say where an image is, what a node keeps).
 */
export { ImageService, imagesRoot, ENSURE_WAIT_MS, type ImageServiceOptions } from './service.js';
export { imageHook, ImagePrefetch, type EnsureImage } from './hook.js';
export { ImageCache, pidAlive } from './cache.js';
export { imageRecords, imagesToKeep, type ImageRecords } from './sources.js';
export { chainIds, parseImageConfig, sha256 } from './digest.js';
export { IMAGE_KIND, type ImagePeers } from './fetch.js';
