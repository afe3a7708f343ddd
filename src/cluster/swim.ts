/**
 * SwimNode: the pure SWIM + Lifeguard membership core (after hashicorp/memberlist). Messages and time
 * go in (`receive`, `tick` with `now`), messages and events come out (CoreOutput); it owns no timer,
 * socket or clock, and draws randomness only from `opts.random`, so the same code runs over UDP in
 * the agent and a thousand times over in the simulator (bench/sim.ts).
 *
 * Per probe interval a node probes the next member of a shuffled round-robin list: a ping, after
 * probeTimeout a ping-req through `indirectChecks` peers (which answer ack or, Lifeguard, nack),
 * and after the probe interval scaled by its local health, a suspicion. Gossip rounds piggyback
 * queued broadcasts (and news goes out as it arrives: eagerGossip); a periodic push-pull over a stream
 * exchanges full state.
 */
import { pushPullScale, resolveConfig, type Addr, type SwimConfig } from './config.js';
import { PleacoError } from '../errors.js';
import { UserLog } from './broadcast.js';
import { viewOf } from './members.js';
import { COMPOUND_OVERHEAD, messageSize, parseMessage, type CoreOutput, type MemberView, type PacketPart, type PushPullMsg, type UserMsg } from './messages.js';
import { randomInt } from './rng.js';
import { Prober } from './swim-probe.js';
import { emptyOutput } from './swim-send.js';
import { Membership } from './swim-state.js';

export interface SwimNodeOptions {
  id: string;
  addr: Addr;
  meta?: Record<string, string>;
  config?: Partial<SwimConfig>;
  random: () => number;
}

const COUNTERS = [
  'probes', 'acks', 'probe_failures', 'stream_refusals', 'rechecks', 'reprobes', 'eager_rounds', 'dead_notices', 'indirect_probes', 'stream_pings', 'pings_received', 'relays', 'nacks_sent', 'nacks_received', 'acks_late',
  'suspicions', 'suspect_confirmations', 'suspect_timeouts', 'refutations', 'deaths', 'leaves', 'degraded_timeouts', 'addr_conflicts',
  'dropped_malformed', 'dropped_unexpected', 'msgs_received', 'packets_sent', 'bytes_sent', 'gossip_packets',
  'push_pulls_sent', 'push_pulls_received', 'reconnects', 'user_broadcasts', 'user_delivered', 'user_duplicates',
] as const;

export class SwimNode {
  readonly id: string;
  readonly addr: Addr;
  private readonly cfg: SwimConfig;
  private readonly random: () => number;
  private readonly counters: Record<string, number> = Object.fromEntries(COUNTERS.map((c) => [c, 0]));
  private readonly ms: Membership;
  private readonly users: UserLog;
  private readonly prober: Prober;
  private pending = emptyOutput();
  private started = false;
  private now = 0;
  private nextProbeAt = Infinity;
  private nextGossipAt = Infinity;
  private nextPushPullAt = Infinity;
  private nextReconnectAt = Infinity;

  /** Throws PleacoError('invalid_config') for bad config, 'payload_too_large' for oversized metadata. */
  constructor(opts: SwimNodeOptions) {
    this.id = opts.id;
    this.addr = opts.addr;
    this.cfg = resolveConfig(opts.config);
    this.random = opts.random;
    const meta = { ...(opts.meta ?? {}) };
    this.checkMeta(meta);
    this.ms = new Membership(this.cfg, opts.id, opts.addr, meta, opts.random, this.counters);
    this.users = new UserLog(this.cfg.userSeenTtlMs, this.cfg.userSeenMax, this.cfg.pushPullUserMessages);
    this.prober = new Prober(this.cfg, this.ms);
  }

  /** Announces ourselves (incarnation 1) and arms the probe, gossip, push-pull and reconnect timers, staggered. */
  start(now: number): CoreOutput {
    this.begin(now);
    return this.end();
  }

  /** Starts (if needed) and asks each seed for a push-pull of full state over a stream. */
  join(seeds: Addr[], now: number): CoreOutput {
    this.begin(now);
    for (const seed of seeds) if (seed !== this.addr) this.pushPull(seed, true);
    return this.end();
  }

  /**
   * Handles one received message (a SwimMessage, or anything the transport decoded); malformed input
   * is dropped and counted, never thrown. `from` is the transport's source address, informational:
   * replies go to the address the message itself names (the sender's advertised address). `sender` is
   * the node id the transport authenticated, when it has one: a member we hold dead is told so.
   */
  receive(from: Addr, msg: unknown, now: number, sender?: string): CoreOutput {
    this.begin(now);
    this.counters.msgs_received!++;
    const parsed = parseMessage(msg);
    if (!parsed) this.counters.dropped_malformed!++;
    else {
      this.counters.dropped_malformed! += parsed.bad;
      const m = parsed.msg;
      if (m.t === 'compound') for (const p of m.parts) this.handle(p);
      else if (m.t === 'push-pull') this.handlePushPull(m);
      else this.handle(m);
    }
    if (sender !== undefined) this.ms.heardFrom(sender);
    this.eager();
    return this.end();
  }

  /**
   * The transport reports that a stream message could not be delivered because the peer's host refused
   * the connection (nothing listens at `to`). A refused fallback ping ends its probe as failed at once.
   */
  streamRefused(to: Addr, msg: unknown, now: number): CoreOutput {
    this.begin(now);
    const m = msg as { t?: unknown; stream?: unknown; seq?: unknown };
    if (m && m.t === 'ping' && m.stream === true && typeof m.seq === 'number') this.prober.onStreamRefused(m.seq);
    return this.end();
  }

  /** Fires every timer due at `now`. */
  tick(now: number): CoreOutput {
    this.begin(now);
    const cfg = this.cfg;
    this.prober.onTimers();
    if (now >= this.nextProbeAt) {
      // A ticker: missed ticks are skipped; a tick during a probe starts the next probe when it ends.
      this.nextProbeAt += Math.max(1, Math.ceil((now - this.nextProbeAt + 1) / cfg.probeIntervalMs)) * cfg.probeIntervalMs;
      this.prober.onTick();
    }
    this.ms.expireSuspicions();
    if (now >= this.nextGossipAt) {
      this.nextGossipAt += Math.max(1, Math.ceil((now - this.nextGossipAt + 1) / cfg.gossipIntervalMs)) * cfg.gossipIntervalMs;
      this.ms.gossipRound();
    }
    this.eager();
    if (now >= this.nextPushPullAt) {
      this.nextPushPullAt = now + pushPullScale(cfg.pushPullIntervalMs, this.ms.size);
      const peer = this.ms.table.randomMembers(1, (m) => m !== this.ms.self && m.state === 'alive')[0];
      if (peer) this.pushPull(peer.addr, false);
    }
    if (now >= this.nextReconnectAt) {
      this.nextReconnectAt = now + cfg.reconnectIntervalMs;
      this.reconnect();
    }
    return this.end();
  }

  /** When `tick` must be called next (Infinity before start). */
  nextWakeAt(): number {
    return Math.min(this.nextProbeAt, this.nextGossipAt, this.ms.eagerAt(), this.nextPushPullAt, this.nextReconnectAt, this.ms.nextSuspicionDeadline(), this.prober.nextWakeAt());
  }

  /** Graceful leave: gossips that we left (members mark us 'left', not failed) and stops probing. */
  leave(now: number): CoreOutput {
    this.begin(now);
    if (!this.ms.left) {
      this.ms.left = true;
      this.ms.deadNode({ t: 'dead', node: this.id, inc: this.ms.self.incarnation, from: this.id });
      this.nextProbeAt = this.nextPushPullAt = this.nextReconnectAt = Infinity;
      this.prober.stop();
      this.ms.gossipRound();
    }
    return this.end();
  }

  /** True once the leave message has been sent its full retransmit count (safe to shut down). */
  leaveBroadcastDone(): boolean {
    return this.ms.left && !this.ms.queue.has(`m:${this.id}`);
  }

  /**
   * Queues a user payload for gossip to every node; a newer payload under the same key replaces a
   * queued one. Each node (this one included) gets it once in CoreOutput.user. Throws
   * PleacoError: 'bad_request' for an empty or over-long key or a payload JSON cannot carry,
   * 'payload_too_large' when the message (key, payload and ~60 bytes of framing) exceeds
   * maxPacketBytes - 28.
   */
  broadcast(key: string, payload: unknown): void {
    if (typeof key !== 'string' || key.length === 0 || key.length > 512) throw new PleacoError('bad_request', 'a broadcast key is 1 to 512 characters');
    const msg: UserMsg = { t: 'user', key, ltime: this.users.stamp(), origin: this.id, payload };
    const notJson = (cause?: unknown): PleacoError => new PleacoError('bad_request', `broadcast ${key}: the payload is not JSON`, { cause });
    if (payload === undefined) throw notJson();
    let size: number;
    try {
      size = messageSize(msg);
    } catch (err) {
      throw notJson(err);
    }
    if (size > this.cfg.maxPacketBytes - COMPOUND_OVERHEAD - 1) {
      throw new PleacoError('payload_too_large', `broadcast ${key} is ${size} bytes; the packet budget is ${this.cfg.maxPacketBytes}`);
    }
    this.users.accept(msg, this.now);
    this.counters.user_broadcasts!++;
    this.ms.enqueue(`u:${key}`, msg, size);
    this.pending.user.push({ from: this.id, key, payload });
  }

  /** Every known member, this node and dead members not yet reaped included. */
  members(): MemberView[] {
    return this.ms.table.all().map(viewOf);
  }

  /** Lifeguard local health score: 0 is healthy, up to awarenessMaxMultiplier-1. */
  localHealth(): number {
    return this.ms.awareness.health;
  }

  /**
   * Counters since construction (probes, acks, probe_failures, indirect_probes, stream_pings, stream_refusals,
   * rechecks, reprobes, eager_rounds, dead_notices, nacks_sent, nacks_received, suspicions,
   * suspect_confirmations, suspect_timeouts, refutations, deaths, leaves,
   * dropped_malformed, dropped_unexpected, bytes_sent, push_pulls_*, user_* ...) plus gauges
   * (queue_depth, health, members, incarnation).
   */
  stats(): Record<string, number> {
    return { ...this.counters, queue_depth: this.ms.queue.length, health: this.ms.awareness.health, members: this.ms.size, incarnation: this.ms.self.incarnation };
  }

  /** Replaces our metadata and re-announces it with a new incarnation (an 'update' event everywhere). */
  setMeta(meta: Record<string, string>): void {
    const copy = { ...meta };
    this.checkMeta(copy);
    const out = this.ms.out;
    this.ms.out = this.pending;
    this.ms.announce(copy);
    this.ms.out = out;
  }

  private checkMeta(meta: Record<string, string>): void {
    for (const v of Object.values(meta)) if (typeof v !== 'string') throw new PleacoError('invalid_config', 'node metadata values must be strings');
    if (messageSize(meta) > this.cfg.maxMetaBytes) throw new PleacoError('payload_too_large', `node metadata exceeds ${this.cfg.maxMetaBytes} bytes`);
  }

  private begin(now: number): void {
    if (now > this.now) this.now = now;
    this.ms.now = this.now;
    this.ms.out = this.pending;
    this.pending = emptyOutput();
    if (!this.started) {
      this.started = true;
      this.ms.bootstrap(this.now);
      const cfg = this.cfg;
      const stagger = (ms: number) => this.now + Math.floor(this.random() * ms);
      this.nextProbeAt = stagger(cfg.probeIntervalMs);
      this.nextGossipAt = stagger(cfg.gossipIntervalMs);
      if (cfg.pushPullIntervalMs > 0) this.nextPushPullAt = stagger(cfg.pushPullIntervalMs);
      if (cfg.reconnectIntervalMs > 0) this.nextReconnectAt = stagger(cfg.reconnectIntervalMs);
    }
  }

  /** eagerGossip: news queued since the last round goes out now, unless a round went out moments ago. */
  private eager(): void {
    if (this.now >= this.ms.eagerAt()) {
      this.counters.eager_rounds!++;
      this.ms.gossipRound();
    }
  }

  private end(): CoreOutput {
    const out = this.ms.out;
    this.ms.out = emptyOutput();
    return out;
  }

  private handle(m: PacketPart): void {
    switch (m.t) {
      case 'ping':
        return this.prober.onPing(m);
      case 'ping-req':
        return this.prober.onPingReq(m);
      case 'ack':
        return this.prober.onAck(m);
      case 'nack':
        return this.prober.onNack(m);
      case 'alive':
        return this.ms.aliveNode(m);
      case 'suspect':
        return this.ms.suspectNode(m);
      case 'dead':
        return this.ms.deadNode(m);
      case 'user':
        if (!this.users.accept(m, this.now)) {
          this.counters.user_duplicates!++;
          return;
        }
        this.counters.user_delivered!++;
        this.ms.out.user.push({ from: m.origin, key: m.key, payload: m.payload });
        this.ms.enqueue(`u:${m.key}`, m, messageSize(m));
        return;
    }
  }

  private handlePushPull(m: PushPullMsg): void {
    this.counters.push_pulls_received!++;
    // Like memberlist, answer with our state first, then merge theirs.
    if (!m.reply) this.sendStream(m.addr, this.pushPullMsg(false, true));
    this.ms.mergeState(m.members);
    for (const u of m.user ?? []) this.handle(u);
  }

  private pushPull(to: Addr, join: boolean): void {
    this.counters.push_pulls_sent!++;
    this.sendStream(to, this.pushPullMsg(join, false));
  }

  private pushPullMsg(join: boolean, reply: boolean): PushPullMsg {
    const msg: PushPullMsg = { t: 'push-pull', from: this.id, addr: this.addr, join, reply, members: this.ms.localState() };
    const user = this.users.recent();
    if (user.length) msg.user = user;
    return msg;
  }

  /** Serf's reconnect: with probability failed/alive, push-pull with one random failed member. */
  private reconnect(): void {
    const failed = this.ms.failed;
    for (const [id, f] of failed) if (this.now - f.since > this.cfg.reconnectTimeoutMs) failed.delete(id);
    if (failed.size === 0) return;
    let alive = 0;
    for (const m of this.ms.table.all()) if (m.state === 'alive' && m !== this.ms.self) alive++;
    if (this.random() > failed.size / Math.max(1, alive)) return;
    const pick = [...failed.values()][randomInt(this.random, failed.size)]!;
    this.counters.reconnects!++;
    this.pushPull(pick.addr, true);
  }

  private sendStream(to: Addr, msg: PushPullMsg): void {
    this.ms.push(to, msg, 'stream', messageSize(msg));
  }
}
