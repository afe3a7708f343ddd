/**
 * Ownership and placement without a leader: rendezvous hashing over the live members decides who owns each
 * decision about an app and which node runs each replica slot. Pure: reads state and a member list, does no I/O.
 */
export { candidate, hashName, score, topK, winner, type Candidate, type Hashed } from './hrw.js';
export { placeApp, type AppPlacement } from './place.js';
export { capacityWeight, isLive, ownerOf, schedulable, unschedulable } from './nodes.js';
export { placementPass, type Placement, type PlacementPass } from './placer.js';
