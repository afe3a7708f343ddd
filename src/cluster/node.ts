/**
 * ClusterNode: the SWIM core on real sockets, carrying the replicated store. The thin adapter the design
 * asks for: the pure SwimNode decides, this file only moves its messages (UDP datagrams and TCP stream
 * requests, both sealed with the cluster key), runs its timer, and connects the store's replica:
 *
 *   local write → Replica delta → SwimNode.broadcast (piggybacked on gossip) → Replica.receiveDelta on peers
 *   every antiEntropyMs and on join → Replica.pushPull with a random live member over the stream
 *
 * Stream requests are `{k: 'swim', msgs}` (push-pull of membership, fallback pings; the reply carries what
 * the core answers on the stream) and `{k: 'state', req}` (anti-entropy exchanges).
 */
import { EventEmitter } from 'node:events';
import { PleacoError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Replica } from '../state/index.js';
import type { Keyring } from './crypto.js';
import type { Addr, SwimConfig } from './config.js';
import type { CoreOutput, MemberEvent, MemberView, Outgoing } from './messages.js';
import { StreamServer, streamRequest } from './stream.js';
import { SwimNode } from './swim.js';
import { UdpTransport } from './udp.js';

export interface ClusterNodeOptions {
  id: string;
  /** Address the UDP and TCP sockets bind (an IP literal) and the port of both. */
  bindHost: string;
  port: number;
  /** Address other nodes reach this one at; default bindHost (must not be unspecified then). */
  advertise?: string;
  keyring: Keyring;
  /** Members to join ("ip:port"); empty: this node starts (or waits alone in) a cluster. */
  seeds: Addr[];
  meta?: Record<string, string>;
  swim?: Partial<SwimConfig>;
  replica?: Replica;
  /** Anti-entropy period (push-pull of the store with a random live member). Default 30 s. */
  antiEntropyMs?: number;
  log: Logger;
}

export interface ClusterHealth {
  self: { id: string; addr: Addr; localHealth: number };
  members: MemberView[];
  sync: ReturnType<Replica['health']> | null;
  transport: { udp: ReturnType<UdpTransport['counters']>; stream: ReturnType<StreamServer['counters']>; swim: Record<string, number> };
}

const STREAM_TIMEOUT_MS = 10_000;
const RESERVED = new Set(['swim', 'state']);

/** Answers one stream request of a served kind; `from` is the peer's address. */
export type ServiceHandler = (req: Record<string, unknown>, from: string) => Promise<Record<string, unknown>>;

/** The peer's host refused the connection (ECONNREFUSED): nothing listens on that address. */
function refused(err: unknown): boolean {
  return err instanceof PleacoError && err.details?.errno === 'ECONNREFUSED';
}

/** Seeds are asked again after this while no other member is alive, doubling up to REJOIN_MAX_MS. */
const REJOIN_FIRST_MS = 1000;
const REJOIN_MAX_MS = 30_000;

export class ClusterNode extends EventEmitter {
  private swim!: SwimNode;
  private udp!: UdpTransport;
  private server!: StreamServer;
  private timer: NodeJS.Timeout | undefined;
  private armedAt = NaN;
  private aeTimer: NodeJS.Timeout | undefined;
  private detach: (() => void) | undefined;
  private closed = false;
  private syncing = false;
  private readonly services = new Map<string, ServiceHandler>();
  private rejoinTimer: NodeJS.Timeout | undefined;
  addr = '';

  constructor(private readonly o: ClusterNodeOptions) {
    super();
  }

  /** Binds UDP and TCP on the same port, starts the core, joins the seeds and runs a first sync. */
  async start(): Promise<void> {
    const o = this.o;
    const advertise = o.advertise ?? o.bindHost;
    if (advertise === '0.0.0.0' || advertise === '::') throw new PleacoError('invalid_config', 'cluster: set an advertise address when binding an unspecified address');
    this.udp = new UdpTransport({ keyring: o.keyring, nodeId: o.id });
    const bound = await this.udp.bind(o.bindHost, o.port);
    this.server = new StreamServer((from, req) => this.answer(from, req), { keyring: o.keyring, idleTimeoutMs: STREAM_TIMEOUT_MS });
    await this.server.listen(o.bindHost, bound.port).catch(async (err: unknown) => {
      await this.udp.close();
      throw err;
    });
    this.addr = advertise.includes(':') ? `[${advertise}]:${bound.port}` : `${advertise}:${bound.port}`;
    this.swim = new SwimNode({ id: o.id, addr: this.addr, meta: o.meta ?? {}, random: Math.random, config: { ...o.swim, maxPacketBytes: this.udp.maxBodyBytes } });
    this.udp.on('message', (from, msg, sender) => this.run(this.swim.receive(from, msg, Date.now(), sender)));
    this.run(this.swim.start(Date.now()));
    if (o.replica) {
      this.detach = o.replica.attachBroadcast((key, payload) => {
        this.swim.broadcast(key, payload);
        this.arm(); // eager gossip: the delta may go out before the next gossip tick
      });
    }
    if (o.seeds.length > 0) this.run(this.swim.join(o.seeds.filter((s) => s !== this.addr), Date.now()));
    this.rejoin(REJOIN_FIRST_MS);
    const every = o.antiEntropyMs ?? 30_000;
    this.aeTimer = setInterval(() => void this.antiEntropy(), every);
    this.aeTimer.unref();
    o.log.info('cluster member started', { addr: this.addr, seeds: o.seeds.length });
  }

  members(): MemberView[] {
    return this.swim.members();
  }

  /** Asks each address for a push-pull of membership now (discovery's joins; addresses that are members are fine). */
  join(addrs: Addr[]): void {
    if (this.closed) return;
    const to = addrs.filter((a) => a !== this.addr);
    if (to.length > 0) this.run(this.swim.join(to, Date.now()));
  }

  /**
   * While no other member is alive, the seeds are asked again, with backoff (1 s doubling to 30 s): a node whose
   * seeds were down when it started (or that lost every peer) runs on its own and merges with them when they are
   * back — state is mergeable, there is no leader to conflict.
   */
  private rejoin(delayMs: number): void {
    if (this.closed || this.o.seeds.length === 0) return;
    this.rejoinTimer = setTimeout(() => {
      const alone = !this.swim.members().some((m) => m.id !== this.o.id && m.state === 'alive');
      if (alone) this.run(this.swim.join(this.o.seeds.filter((s) => s !== this.addr), Date.now()));
      this.rejoin(alone ? Math.min(delayMs * 2, REJOIN_MAX_MS) : REJOIN_FIRST_MS);
    }, delayMs);
    this.rejoinTimer.unref();
  }

  health(): ClusterHealth {
    return {
      self: { id: this.o.id, addr: this.addr, localHealth: this.swim.localHealth() },
      members: this.swim.members(),
      sync: this.o.replica?.health() ?? null,
      transport: { udp: this.udp.counters(), stream: this.server.counters(), swim: this.swim.stats() },
    };
  }

  /** One anti-entropy exchange with a random live member now (also called on a timer). Never throws. */
  async antiEntropy(): Promise<boolean> {
    const r = this.o.replica;
    if (!r || this.syncing || this.closed) return false;
    const peers = this.swim.members().filter((m) => m.id !== this.o.id && m.state === 'alive');
    const peer = peers[Math.floor(Math.random() * peers.length)];
    if (!peer) return false;
    this.syncing = true;
    try {
      const report = await r.pushPull(async (req) => (await this.request(peer.addr, { k: 'state', req })).res);
      if (report.entriesIn + report.entriesOut > 0) this.o.log.info('state synced', { peer: peer.id, in: report.entriesIn, out: report.entriesOut, ms: Math.round(report.ms) });
      return true;
    } catch (err) {
      this.o.log.debug('state sync failed', { peer: peer.id, error: err });
      return false;
    } finally {
      this.syncing = false;
    }
  }

  /** Graceful leave: gossips it for up to `waitMs`, then closes the sockets. */
  async leave(waitMs = 1000): Promise<void> {
    if (this.closed) return;
    this.run(this.swim.leave(Date.now()));
    const until = Date.now() + waitMs;
    while (Date.now() < until && !this.swim.leaveBroadcastDone()) await new Promise((r) => setTimeout(r, 50));
    await this.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.rejoinTimer);
    clearInterval(this.aeTimer);
    this.detach?.();
    await Promise.allSettled([this.udp?.close(), this.server?.close()]);
  }

  /** Serves stream requests `{k: kind, ...}` from peers (sealed and authenticated like all cluster traffic). */
  serve(kind: string, handler: ServiceHandler): void {
    if (RESERVED.has(kind)) throw new PleacoError('internal', `cluster request kind ${kind} is the protocol's own`);
    this.services.set(kind, handler);
  }

  /** One stream request of a served kind to a member by id; throws when it is not a live member or does not answer. */
  async ask(memberId: string, kind: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const m = this.swim.members().find((x) => x.id === memberId && x.state === 'alive');
    if (!m) throw new PleacoError('unavailable', `cluster member ${memberId} is not alive`);
    return this.request(m.addr, { ...body, k: kind });
  }

  private request(to: Addr, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    return streamRequest(to, body, { keyring: this.o.keyring, idleTimeoutMs: STREAM_TIMEOUT_MS, localAddress: this.o.bindHost });
  }

  /** Stream requests from peers: membership messages (answered with the core's stream replies) and state sync. */
  private async answer(from: string, req: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (req.k === 'state' && this.o.replica) return { res: await this.o.replica.handle(req.req) };
    const service = typeof req.k === 'string' && !RESERVED.has(req.k) ? this.services.get(req.k) : undefined;
    if (service) return service(req, from);
    if (req.k !== 'swim' || !Array.isArray(req.msgs)) throw new PleacoError('bad_request', 'unknown cluster request');
    const replies: unknown[] = [];
    for (const m of req.msgs.slice(0, 16)) {
      const out = this.swim.receive(from, m, Date.now());
      replies.push(...out.send.filter((s) => s.channel === 'stream').map((s) => s.msg));
      this.run({ ...out, send: out.send.filter((s) => s.channel !== 'stream') });
    }
    return { msgs: replies };
  }

  /** Carries out one core output: datagrams, stream requests (their replies go back into the core), events, deltas. */
  private run(out: CoreOutput): void {
    if (this.closed) return;
    for (const s of out.send) this.send(s);
    for (const ev of out.events) this.onEvent(ev);
    for (const u of out.user) {
      const r = this.o.replica;
      if (!r) continue;
      void r.receiveDelta(u.payload).then(
        (res) => {
          const peer = res.fetch ? this.swim.members().find((m) => m.id === res.fetch!.from && m.state === 'alive') : undefined;
          if (res.fetch && peer) void r.fetch([res.fetch.key], async (q) => (await this.request(peer.addr, { k: 'state', req: q })).res).catch(() => undefined);
        },
        (err: unknown) => this.o.log.debug('delta rejected', { error: err }),
      );
    }
    this.arm();
  }

  private send(s: Outgoing): void {
    if (s.channel === 'udp') {
      try {
        this.udp.send(s.to, s.msg as unknown as Record<string, unknown>);
      } catch (err) {
        this.o.log.debug('datagram not sent', { to: s.to, error: err });
      }
      return;
    }
    void this.request(s.to, { k: 'swim', msgs: [s.msg] }).then(
      (res) => {
        const now = Date.now();
        for (const m of Array.isArray(res.msgs) ? res.msgs : []) this.run(this.swim.receive(s.to, m, now));
      },
      (err: unknown) => {
        if (refused(err)) this.run(this.swim.streamRefused(s.to, s.msg, Date.now()));
        this.o.log.debug('stream message not delivered', { to: s.to, type: (s.msg as { t?: string }).t, error: err });
      },
    );
  }

  private onEvent(ev: MemberEvent): void {
    const m = ev.member;
    if (m.id === this.o.id) return;
    const fields = { member: m.id, addr: m.addr, incarnation: m.incarnation };
    if (ev.type === 'dead') this.o.log.warn('cluster member failed', fields);
    else if (ev.type === 'suspect') this.o.log.info('cluster member suspect', fields);
    else if (ev.type === 'join' || ev.type === 'alive' || ev.type === 'leave') this.o.log.info(`cluster member ${ev.type === 'alive' ? 'alive' : ev.type === 'join' ? 'joined' : 'left'}`, fields);
    if (ev.type === 'join' && this.o.replica) void this.antiEntropy();
    this.emit('member', ev);
  }

  /** Sets the one timer to the core's next deadline; left alone when that deadline has not moved (every datagram calls this). */
  private arm(): void {
    if (this.closed) return;
    const at = this.swim.nextWakeAt();
    if (at === this.armedAt) return;
    clearTimeout(this.timer);
    this.armedAt = at;
    if (!Number.isFinite(at)) return;
    this.timer = setTimeout(() => {
      this.armedAt = NaN;
      this.run(this.swim.tick(Date.now()));
    }, Math.max(0, at - Date.now()));
  }
}
