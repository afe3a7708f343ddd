/**
 * The sending half of a node's membership core: the broadcast queue, the output of the call in progress
 * (`out`: datagrams, stream messages and events the SwimNode hands back), piggybacking on datagrams,
 * gossip rounds, and eagerGossip's "news goes out now" (at most every quarter gossip interval). Pure.
 */
import type { Addr, SwimConfig } from './config.js';
import { TransmitQueue } from './broadcast.js';
import type { Member, MemberTable } from './members.js';
import { COMPOUND_OVERHEAD, messageSize, type AliveMsg, type CoreOutput, type DeadMsg, type PacketPart, type SuspectMsg, type SwimMessage } from './messages.js';

/** A fresh output with nothing in it. */
export function emptyOutput(): CoreOutput {
  return { send: [], events: [], user: [] };
}

export class Outbox {
  readonly queue: TransmitQueue;
  now = 0;
  out: CoreOutput = emptyOutput();
  /** News was queued since the last gossip round (eagerGossip sends it before the next tick). */
  urgent = false;
  lastGossipAt = -Infinity;

  constructor(
    protected readonly cfg: SwimConfig,
    readonly table: MemberTable,
    readonly self: Member,
    readonly stats: Record<string, number>,
  ) {
    this.queue = new TransmitQueue(cfg.retransmitMult);
  }

  get size(): number {
    return this.table.size;
  }

  /** Queues a membership broadcast; a newer one about the same member replaces it. */
  gossip(msg: AliveMsg | SuspectMsg | DeadMsg): void {
    this.enqueue(`m:${msg.node}`, msg, messageSize(msg));
  }

  /** Queues a broadcast under `name` (a newer one replaces it) and marks it news for eager gossip. */
  enqueue(name: string, msg: PacketPart, bytes: number): void {
    this.queue.queue(name, msg, bytes, this.table.size);
    this.urgent = true;
  }

  /** When eagerGossip may send queued news ahead of the next tick (Infinity when there is none or it is off). */
  eagerAt(): number {
    return this.cfg.eagerGossip && this.urgent && this.queue.length > 0 ? this.lastGossipAt + this.cfg.gossipIntervalMs / 4 : Infinity;
  }

  /** Sends a packet message, piggybacking queued broadcasts into the rest of the packet budget. */
  sendPacket(to: Addr, msg: PacketPart): void {
    const size = messageSize(msg);
    const { msgs, bytes } = this.queue.take(this.cfg.maxPacketBytes - COMPOUND_OVERHEAD - size, 1, this.table.size);
    if (msgs.length === 0) this.push(to, msg, 'udp', size);
    else this.push(to, { t: 'compound', parts: [msg, ...msgs] }, 'udp', COMPOUND_OVERHEAD + size + bytes);
  }

  /** Adds one message to this call's output, counting it. `bytes` is its JSON size. */
  push(to: Addr, msg: SwimMessage, channel: 'udp' | 'stream', bytes: number): void {
    this.stats.packets_sent!++;
    this.stats.bytes_sent! += bytes;
    this.out.send.push({ to, msg, channel, bytes });
  }

  /** One gossip round: queued broadcasts to gossipNodes random members (recently dead ones included, so they can refute). */
  gossipRound(): void {
    this.urgent = false;
    this.lastGossipAt = this.now;
    if (this.queue.length === 0) return;
    const cfg = this.cfg;
    const targets = this.table.randomMembers(cfg.gossipNodes, (m) =>
      m !== this.self && (m.state === 'alive' || m.state === 'suspect' || (m.state === 'dead' && this.now - m.since <= cfg.gossipToTheDeadMs)));
    for (const t of targets) {
      const { msgs, bytes } = this.queue.take(cfg.maxPacketBytes - COMPOUND_OVERHEAD, 1, this.table.size);
      if (msgs.length === 0) return;
      this.stats.gossip_packets!++;
      if (msgs.length === 1) this.push(t.addr, msgs[0]!, 'udp', bytes - 1);
      else this.push(t.addr, { t: 'compound', parts: msgs }, 'udp', COMPOUND_OVERHEAD + bytes - 1);
    }
  }
}
