/**
 * SWIM failure detection with Lifeguard (memberlist's probe / probeNode / handleIndirectPing): one
 * member per probe interval, direct ping, ping-req through k peers after probeTimeout, nacks from
 * relays that got no answer, and the local-health update when a probe ends. Beyond memberlist: suspects
 * to re-check go first, an overdue suspect every other tick, and a refused stream ping ends its probe. Pure.
 */
import type { Addr, SwimConfig } from './config.js';
import type { Member } from './members.js';
import { messageSize, type AckMsg, type NackMsg, type PingMsg, type PingReqMsg, type SwimMessage } from './messages.js';
import type { Membership } from './swim-state.js';

interface Probe {
  seq: number;
  target: Member;
  inc: number;
  indirectAt: number;
  deadline: number;
  indirectSent: boolean;
  expectedNacks: number;
  nacks: number;
}

interface Relay {
  origin: Addr;
  originSeq: number;
  nack: boolean;
  expireAt: number;
}

export class Prober {
  private seq = 0;
  private probe: Probe | undefined;
  /** A probe tick arrived while a probe was running: start the next one as soon as it ends. */
  private tickPending = false;
  /** Alternates probe ticks between round-robin and an overdue suspect (while there are any). */
  private suspectTurn = false;
  private readonly relays = new Map<number, Relay>();

  constructor(
    private readonly cfg: SwimConfig,
    private readonly ms: Membership,
  ) {}

  /** A probe-interval tick: probe the next member now, or right after the running probe ends. */
  onTick(): void {
    if (this.probe) this.tickPending = true;
    else this.start();
  }

  /** Fires the running probe's and the relays' timers due at ms.now. */
  onTimers(): void {
    const now = this.ms.now;
    const p = this.probe;
    if (p && !p.indirectSent && now >= p.indirectAt) this.indirect(p);
    if (p && now >= p.deadline) this.failed(p);
    for (const [seq, r] of this.relays) {
      if (r.expireAt > now) continue;
      this.relays.delete(seq);
      if (r.nack) {
        this.ms.stats.nacks_sent!++;
        this.ms.sendPacket(r.origin, { t: 'nack', seq: r.originSeq, from: this.ms.self.id });
      }
    }
  }

  /** The earliest time onTimers has work (Infinity when none). */
  nextWakeAt(): number {
    let t = Infinity;
    if (this.probe) t = this.probe.indirectSent ? this.probe.deadline : this.probe.indirectAt;
    for (const r of this.relays.values()) if (r.expireAt < t) t = r.expireAt;
    return t;
  }

  /** Answers a ping addressed to us; a ping meant for another node id is dropped and counted. */
  onPing(m: PingMsg): void {
    if (m.node !== this.ms.self.id) {
      this.ms.stats.dropped_unexpected!++;
      return;
    }
    this.ms.stats.pings_received!++;
    const ack: AckMsg = { t: 'ack', seq: m.seq, from: this.ms.self.id };
    if (m.stream) this.ms.push(m.addr, ack, 'stream', messageSize(ack));
    else this.ms.sendPacket(m.addr, ack);
  }

  /** Pings the target for a peer; its ack is relayed, or a nack sent after probeTimeout. */
  onPingReq(m: PingReqMsg): void {
    const seq = ++this.seq;
    this.ms.stats.relays!++;
    this.relays.set(seq, { origin: m.addr, originSeq: m.seq, nack: m.nack, expireAt: this.ms.now + this.cfg.probeTimeoutMs });
    this.ms.sendPacket(m.target, { t: 'ping', seq, node: m.node, from: this.ms.self.id, addr: this.ms.self.addr });
  }

  onAck(m: AckMsg): void {
    const relay = this.relays.get(m.seq);
    if (relay) {
      this.relays.delete(m.seq);
      this.ms.sendPacket(relay.origin, { t: 'ack', seq: relay.originSeq, from: this.ms.self.id });
    } else if (this.probe && this.probe.seq === m.seq) this.succeeded();
    else this.ms.stats.acks_late!++;
  }

  onNack(m: NackMsg): void {
    this.ms.stats.nacks_received!++;
    if (this.probe && this.probe.seq === m.seq && this.probe.indirectSent) this.probe.nacks++;
  }

  /** Stops probing (graceful leave). */
  stop(): void {
    this.probe = undefined;
    this.tickPending = false;
  }

  /**
   * The stream ping of the running probe was refused (the target's host answered that nothing listens on
   * its port: the agent is not running): the probe fails now instead of at its deadline; acks cannot come.
   * Not counted against our local health: the network worked.
   */
  onStreamRefused(seq: number): void {
    const p = this.probe;
    if (!p || p.seq !== seq || !p.indirectSent) return;
    this.ms.stats.stream_refusals!++;
    this.failed(p, true);
  }

  /**
   * A suspect this node was asked to re-check (Membership.recheck); else, every other tick, one of the
   * members we have suspected for longer than the minimum timeout (unconfirmed: the probe carries the
   * accusation, so a suspect that missed the gossip of its suspicion, as after a healed partition,
   * learns it and refutes; if it fails, it is our confirmation); else the next member round-robin.
   */
  private nextTarget(): Member | undefined {
    const ms = this.ms;
    while (ms.recheck.length > 0) {
      const m = ms.table.get(ms.recheck.shift()!);
      if (m && m !== ms.self && m.state === 'suspect') {
        ms.stats.rechecks!++;
        return m;
      }
    }
    if (this.cfg.suspectRechecks > 0 && (this.suspectTurn = !this.suspectTurn)) {
      const m = ms.overdueSuspect();
      if (m) {
        ms.stats.reprobes!++;
        return m;
      }
    }
    return ms.table.nextProbe(ms.self.id, ms.now, this.cfg.gossipToTheDeadMs, (m) => ms.reaped(m));
  }

  private start(): void {
    this.tickPending = false;
    const ms = this.ms;
    if (ms.left) return;
    const target = this.nextTarget();
    if (!target) return;
    const seq = ++this.seq;
    this.probe = {
      seq, target, inc: target.incarnation, indirectSent: false, expectedNacks: 0, nacks: 0,
      indirectAt: ms.now + this.cfg.probeTimeoutMs,
      // Lifeguard: an unhealthy node waits longer before it accuses anyone.
      deadline: ms.now + ms.awareness.scale(this.cfg.probeIntervalMs),
    };
    ms.stats.probes!++;
    const ping: PingMsg = { t: 'ping', seq, node: target.id, from: ms.self.id, addr: ms.self.addr };
    if (target.state === 'alive') ms.sendPacket(target.addr, ping);
    else {
      // A suspect gets the accusation with the ping, so it can refute at once.
      const msg: SwimMessage = { t: 'compound', parts: [ping, { t: 'suspect', node: target.id, inc: target.incarnation, from: ms.self.id }] };
      ms.push(target.addr, msg, 'udp', messageSize(msg));
    }
  }

  private indirect(p: Probe): void {
    p.indirectSent = true;
    const ms = this.ms;
    const peers = ms.table.randomMembers(this.cfg.indirectChecks, (m) => m !== ms.self && m !== p.target && m.state === 'alive');
    for (const peer of peers) {
      p.expectedNacks++;
      ms.stats.indirect_probes!++;
      ms.sendPacket(peer.addr, { t: 'ping-req', seq: p.seq, node: p.target.id, target: p.target.addr, from: ms.self.id, addr: ms.self.addr, nack: true });
    }
    if (this.cfg.tcpPings) {
      // A node cut off from UDP but reachable over TCP is not accused (and cannot spread stale state by push-pull).
      ms.stats.stream_pings!++;
      const ping: PingMsg = { t: 'ping', seq: p.seq, node: p.target.id, from: ms.self.id, addr: ms.self.addr, stream: true };
      ms.push(p.target.addr, ping, 'stream', messageSize(ping));
    }
  }

  private succeeded(): void {
    this.ms.stats.acks!++;
    this.ms.awareness.apply(-1);
    this.probe = undefined;
    if (this.tickPending) this.start();
  }

  private failed(p: Probe, refused = false): void {
    const ms = this.ms;
    ms.stats.probe_failures!++;
    // Lifeguard: nacks that did not come back mean the trouble may be ours, not the target's.
    if (!refused) ms.awareness.apply(p.expectedNacks > 0 ? Math.max(0, p.expectedNacks - p.nacks) : 1);
    this.probe = undefined;
    ms.suspectNode({ t: 'suspect', node: p.target.id, inc: p.inc, from: ms.self.id });
    if (this.tickPending) this.start();
  }
}
