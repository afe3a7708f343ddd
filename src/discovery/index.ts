/**
 * How a node finds its cluster: seeds (resolved by DNS, retried with backoff), `pleaco join`, and mDNS (mdns.ts, the
 * only user of multicast-dns), all feeding one loop that joins what it finds (discovery.ts).
 */
export { Discovery, type DiscoveryOptions, type DiscoveryStatus, type Membership, type MdnsPort, type SeedStore, type Resolve, type SeedStatus, type CandidateStatus, type ForeignRecord } from './discovery.js';
export { announcementTxt, judgeAnnouncement, instanceLabel, type AnnounceSigner, type HeardAnnouncement, type Verdict } from './announce.js';
export { Mdns, type MdnsAnnouncement, type MdnsOptions, type MdnsCounters } from './mdns.js';
export { eligibleInterfaces, type MdnsInterface } from './interfaces.js';
