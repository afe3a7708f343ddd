/**
 * Ownership and placement without a leader: rendezvous hashing over the live members decides who owns each
 * decision about an app and which node runs each replica slot; the autoscaler's decision (how many replicas, from
 * the cluster's request metrics). Pure: reads state, a member list or metric samples, does no I/O.
 */
export { candidate, hashName, score, topK, winner, type Candidate, type Hashed } from './hrw.js';
export { placeApp, type AppPlacement } from './place.js';
export { capacityWeight, isLive, ownerOf, schedulable, unschedulable } from './nodes.js';
export { placementPass, type Placement, type PlacementPass } from './placer.js';
export { AUTOSCALE_DEFAULTS, decide, emptyAutoscaleMemory, type AutoscaleMemory, type Decision, type MetricSample } from './autoscale.js';
// The policy record and its validator live in model/ (pleaco.json is read in builder/, which cannot import scale/).
export { validateAutoscalePolicy as validatePolicy, type AutoscalePolicy } from '../model/index.js';
