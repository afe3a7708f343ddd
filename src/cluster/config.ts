/**
 * SWIM/Lifeguard timing and sizing, with memberlist's DefaultLANConfig values as defaults, plus the
 * formulas memberlist derives from them (suspicion timeout, retransmit limit, push-pull scaling).
 * Pure: no I/O, no clock.
 */
import { PleacoError } from '../errors.js';

export type Addr = string; // "ip:port"

export interface SwimConfig {
  /** Time between failure-detection probes (one member per interval, round-robin). */
  probeIntervalMs: number;
  /** Wait for a direct ack before asking `indirectChecks` peers to probe for us. */
  probeTimeoutMs: number;
  /** Peers asked to ping a member that missed a direct probe (SWIM's k). */
  indirectChecks: number;
  /** Also ping a member that missed a direct probe over a stream (memberlist's TCP fallback, on by default). */
  tcpPings: boolean;
  /**
   * Gossip news (a membership change, a user broadcast) as soon as it arrives instead of at the next gossip
   * tick, at most every gossipIntervalMs/4: the same transmissions per broadcast, sent earlier (not memberlist).
   */
  eagerGossip: boolean;
  /**
   * A node that hears of a suspicion probes the suspect at its next probe tick with probability
   * suspectRechecks/(n-2), so about this many independent checks confirm (or, carrying the accusation,
   * let the suspect refute) within a probe interval or two (Lifeguard counts on them; not memberlist). 0 disables.
   */
  suspectRechecks: number;
  /** Time between gossip rounds (piggybacked broadcasts to `gossipNodes` random members). */
  gossipIntervalMs: number;
  gossipNodes: number;
  /** A broadcast is sent retransmitMult * ceil(log10(n+1)) times by each node that queues it. */
  retransmitMult: number;
  /** Minimum suspicion timeout = suspicionMult * max(1, log10(n)) * probeInterval. */
  suspicionMult: number;
  /** A suspicion starts at suspicionMaxTimeoutMult * minimum and shrinks with confirmations. */
  suspicionMaxTimeoutMult: number;
  /** Lifeguard local-health score ranges 0..awarenessMaxMultiplier-1; probe waits scale by score+1. */
  awarenessMaxMultiplier: number;
  /** Full-state exchange with one random member (scaled up for clusters above 32 nodes). 0 disables. */
  pushPullIntervalMs: number;
  /** Dead members still receive gossip this long (so they learn and can refute), then are reaped. */
  gossipToTheDeadMs: number;
  /** A dead (not left) member may come back under a new address after this long; 0 = never (memberlist). */
  deadNodeReclaimMs: number;
  /** Serf-style reconnect: how often to try a push-pull with a random failed member. 0 disables. */
  reconnectIntervalMs: number;
  /** Failed members are remembered for reconnects this long (Serf's 24 h). */
  reconnectTimeoutMs: number;
  /** Budget for one UDP message, measured as the length of its JSON text. */
  maxPacketBytes: number;
  /** Largest node metadata (JSON length), as memberlist's MetaMaxSize. */
  maxMetaBytes: number;
  /** How long a delivered user broadcast's (key, version) is remembered to suppress re-delivery. */
  userSeenTtlMs: number;
  /** Cap on remembered user broadcast keys (oldest forgotten first). */
  userSeenMax: number;
  /** The latest user broadcasts (one per key) replayed in every push-pull, so gossip losses heal (Serf's event buffer). */
  pushPullUserMessages: number;
}

/** memberlist DefaultLANConfig, plus Serf's reconnect defaults. */
export const DEFAULT_SWIM_CONFIG: SwimConfig = Object.freeze({
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  tcpPings: true,
  eagerGossip: true,
  suspectRechecks: 3,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  retransmitMult: 4,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  awarenessMaxMultiplier: 8,
  pushPullIntervalMs: 30_000,
  gossipToTheDeadMs: 30_000,
  deadNodeReclaimMs: 0,
  reconnectIntervalMs: 30_000,
  reconnectTimeoutMs: 24 * 3600_000,
  maxPacketBytes: 1400,
  maxMetaBytes: 512,
  userSeenTtlMs: 10 * 60_000,
  userSeenMax: 100_000,
  pushPullUserMessages: 64,
});

/** Defaults overlaid with `partial`; throws PleacoError('invalid_config') on a non-finite or negative value. */
export function resolveConfig(partial: Partial<SwimConfig> = {}): SwimConfig {
  const cfg = { ...DEFAULT_SWIM_CONFIG, ...partial };
  for (const [k, v] of Object.entries(cfg)) {
    if (k === 'tcpPings' || k === 'eagerGossip') {
      if (typeof v !== 'boolean') throw new PleacoError('invalid_config', `swim config ${k} must be a boolean`);
    } else if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new PleacoError('invalid_config', `swim config ${k} must be a finite number >= 0`);
    }
  }
  const positive: ('probeIntervalMs' | 'probeTimeoutMs' | 'gossipIntervalMs' | 'awarenessMaxMultiplier' | 'retransmitMult' | 'suspicionMult')[] = ['probeIntervalMs', 'probeTimeoutMs', 'gossipIntervalMs', 'awarenessMaxMultiplier', 'retransmitMult', 'suspicionMult'];
  for (const k of positive) if (cfg[k] <= 0) throw new PleacoError('invalid_config', `swim config ${k} must be > 0`);
  if (cfg.probeTimeoutMs > cfg.probeIntervalMs) throw new PleacoError('invalid_config', 'probeTimeoutMs must not exceed probeIntervalMs');
  if (cfg.maxPacketBytes < 256) throw new PleacoError('invalid_config', 'maxPacketBytes must be at least 256');
  return cfg;
}

/** memberlist suspicionTimeout: the minimum suspicion time for a cluster of n nodes. */
export function suspicionTimeout(suspicionMult: number, n: number, probeIntervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  return Math.floor(suspicionMult * nodeScale * probeIntervalMs);
}

/** memberlist retransmitLimit: how many times one node sends one broadcast. */
export function retransmitLimit(retransmitMult: number, n: number): number {
  return retransmitMult * Math.ceil(Math.log10(n + 1));
}

/** memberlist pushPullScale: the push-pull interval grows with log2(n) above 32 nodes. */
export function pushPullScale(intervalMs: number, n: number): number {
  if (n <= 32) return intervalMs;
  const multiplier = Math.ceil(Math.log2(n) - Math.log2(32)) + 1;
  return multiplier * intervalMs;
}
