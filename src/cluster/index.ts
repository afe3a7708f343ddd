export * from './config.js';
export * from './messages.js';
export * from './swim.js';
export * from './rng.js';
export { Keyring, parseKey, generateKey, keyFingerprint, clusterIdOf, KEY_BYTES, SEAL_OVERHEAD, type KeyInput } from './crypto.js';
export { UdpTransport, type UdpTransportOptions, type UdpCounters, type UdpDropCounters } from './udp.js';
export { StreamServer, streamRequest, type StreamHandler, type StreamOptions, type StreamServerOptions, type StreamRequestOptions, type StreamServerCounters, type StreamFailure } from './stream.js';
export { DEFAULT_MAX_DATAGRAM, MAX_DATAGRAM_CAP, type Message as WireMessage } from './codec.js';
export { ClusterNode, type ClusterNodeOptions, type ClusterHealth } from './node.js';
