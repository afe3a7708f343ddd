/**
 * Host self-update (issue #16): signed bundles (bundle.ts, trust.ts), the rollout without a leader (rollout.ts), and
 * the agent's updater that fetches, stages, drains, reboots into the new slot and reports (updater.ts, host.ts).
 */
export { checkBundle, HOST_PARTS, isBundleId, MAGIC, packBundle, partStream, readHeader, verifyBundle, type BundleHeader, type BundlePart, type Manifest, type PackOptions, type VerifiedBundle } from './bundle.js';
export { DEFAULT_TRUST_DIR, generateUpdateKey, keyIdOf, signManifest, TrustedKeys, type BundleSignature } from './trust.js';
export { decide, fetchSources, rolloutOrder, type RolloutView, type Step } from './rollout.js';
export { armSlot, hostInfo, HOST_PATHS, loaderEntries, otherSlot, stagedIn, stageSlot, type HostPaths, type LoaderEntry, type Slot } from './host.js';
export { answer, askHost, bundlePath, bundlesDir, hostDir, takeRequests, type HostAsk, type HostRequest, type HostResult } from './requests.js';
export { carryDir, doRequest, type HostSideOptions } from './host-side.js';
export { BUNDLE_KIND, fetchFromPeer, fetchFromUrl, MAX_BUNDLE_BYTES, serveBundles, type BundlePeers } from './transfer.js';
export { Updater, type UpdaterOptions } from './updater.js';
