/**
 * The UDP adapter of the membership protocol: JSON object messages in and out, every datagram sealed with
 * the cluster key (crypto.ts) and checked against replays (replay.ts). A datagram that fails any check is
 * dropped and counted by reason; nothing a peer sends can throw out of this class. Peers are IP literals
 * ("ip:port", "[ip6]:port"): no DNS. One socket per transport, IPv4 or IPv6 after its bind address.
 */
import { EventEmitter } from 'node:events';
import type { RemoteInfo } from 'node:dgram';
import DgramAsPromised, { type SocketAsPromised } from 'dgram-as-promised';
import { PleacoError } from '../errors.js';
import { isSealedShape, SEAL_OVERHEAD, type Keyring } from './crypto.js';
import { checkSenderId, decodeBody, decodeDatagram, DEFAULT_MAX_DATAGRAM, encodeBody, encodeDatagram, headerBytes, MAX_DATAGRAM_CAP, type Message } from './codec.js';
import { newEpoch, ReplayGuard, type ReplayOptions } from './replay.js';
import { formatHostPort, ipFamily, parseHostPort } from './internal/addr.js';

/** Domain separation: a datagram cannot be passed off as a stream frame, or the other way round. */
export const UDP_AAD = Buffer.from('pleaco/udp/1');

export interface UdpTransportOptions {
  keyring: Keyring;
  /** This node's id, carried (sealed) in every datagram; 1..255 bytes. */
  nodeId: string;
  /** Size budget of one sealed datagram, both ways. Default 1400; at most 65,507. */
  maxDatagramBytes?: number;
  replay?: Omit<ReplayOptions, 'self'>;
  /** Wall clock (ms) for datagram stamps and freshness; tests pass their own. */
  now?: () => number;
}

/** Why datagrams were dropped, by reason. */
export interface UdpDropCounters {
  /** No held key opens it (wrong key, or tampered). */
  no_key: number;
  /** Too short to be a sealed frame, or an unknown version. */
  garbled: number;
  /** Seen before, older than the window, or our own datagram reflected back. */
  replayed: number;
  /** A new epoch whose clock is further than maxAgeMs from ours (clock skew, or an old recording). */
  stale: number;
  /** Larger than maxDatagramBytes. */
  oversize: number;
  /** Opens with the key but its header or JSON object body is malformed. */
  malformed: number;
}

export interface UdpCounters {
  received: number;
  sent: number;
  bytes_in: number;
  bytes_out: number;
  send_errors: number;
  /** A 'message' listener threw; the datagram counts as received. */
  handler_errors: number;
  dropped: UdpDropCounters;
}

export interface UdpTransport {
  /** A datagram passed every check: `from` is its source "ip:port", `sender` the node id it carries. */
  on(event: 'message', listener: (from: string, msg: Message, sender: string) => void): this;
  once(event: 'message', listener: (from: string, msg: Message, sender: string) => void): this;
  off(event: 'message', listener: (from: string, msg: Message, sender: string) => void): this;
}

/** Sends and receives sealed JSON datagrams on one UDP socket. */
export class UdpTransport extends EventEmitter {
  /** Largest JSON body (bytes) that `send` accepts: the datagram budget minus seal and header. */
  readonly maxBodyBytes: number;
  private readonly maxDatagram: number;
  private readonly guard: ReplayGuard;
  private readonly epoch = newEpoch();
  private readonly now: () => number;
  private seq = 0;
  private sock: SocketAsPromised | undefined;
  private family: 4 | 6 | undefined;
  private bound: string | undefined;
  private readonly c: UdpCounters = {
    received: 0, sent: 0, bytes_in: 0, bytes_out: 0, send_errors: 0, handler_errors: 0,
    dropped: { no_key: 0, garbled: 0, replayed: 0, stale: 0, oversize: 0, malformed: 0 },
  };

  constructor(private readonly opts: UdpTransportOptions) {
    super();
    checkSenderId(opts.nodeId);
    this.maxDatagram = opts.maxDatagramBytes ?? DEFAULT_MAX_DATAGRAM;
    const minimum = SEAL_OVERHEAD + headerBytes(opts.nodeId) + 2;
    if (!Number.isInteger(this.maxDatagram) || this.maxDatagram < minimum || this.maxDatagram > MAX_DATAGRAM_CAP) {
      throw new PleacoError('invalid_config', `maxDatagramBytes must be an integer in ${minimum}..${MAX_DATAGRAM_CAP}`);
    }
    this.maxBodyBytes = this.maxDatagram - SEAL_OVERHEAD - headerBytes(opts.nodeId);
    this.now = opts.now ?? Date.now;
    this.guard = new ReplayGuard({ ...opts.replay, self: opts.nodeId }, this.now);
  }

  /** Binds to an IP literal (port 0: an ephemeral port) and resolves with the bound "ip:port". */
  async bind(host: string, port: number): Promise<{ address: string; host: string; port: number }> {
    if (this.sock) throw new PleacoError('conflict', 'transport is already bound');
    const family = ipFamily(host);
    const sock = DgramAsPromised.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 });
    sock.socket.on('message', (buf: Buffer, rinfo: RemoteInfo) => this.onDatagram(buf, rinfo));
    this.sock = sock;
    try {
      const info = await sock.bind(port, host);
      this.family = family;
      this.bound = formatHostPort(info.address, info.port);
      return { address: this.bound, host: info.address, port: info.port };
    } catch (err) {
      this.sock = undefined;
      sock.destroy();
      throw new PleacoError('unavailable', `cannot bind UDP ${formatHostPort(host, port)}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The bound "ip:port", or undefined before `bind`. */
  address(): string | undefined {
    return this.bound;
  }

  /**
   * Seals and sends one message. Throws PleacoError for caller mistakes: 'unavailable' before bind or
   * after close, 'bad_request' for a name or wrong-family address or a non-object message,
   * 'payload_too_large' past `maxBodyBytes`. Network errors after that are only counted (UDP is lossy anyway).
   */
  send(to: string, msg: Message): void {
    const sock = this.sock;
    if (!sock || !this.family) throw new PleacoError('unavailable', 'UDP transport is not bound');
    const peer = parseHostPort(to);
    if (peer.family !== this.family) throw new PleacoError('bad_request', `cannot send to IPv${peer.family} ${to} from an IPv${this.family} socket`);
    const body = encodeBody(msg);
    if (body.length > this.maxBodyBytes) {
      throw new PleacoError('payload_too_large', `message of ${body.length} bytes exceeds the datagram budget of ${this.maxBodyBytes}`);
    }
    const plain = encodeDatagram({ sender: this.opts.nodeId, epoch: this.epoch, seq: ++this.seq, sentAt: this.now() }, body);
    const frame = this.opts.keyring.seal(plain, UDP_AAD);
    try {
      sock.socket.send(frame, peer.port, peer.host, (err) => {
        if (err) this.c.send_errors++;
        else {
          this.c.sent++;
          this.c.bytes_out += frame.length;
        }
      });
    } catch {
      this.c.send_errors++;
    }
  }

  /** A snapshot of the counters. */
  counters(): UdpCounters {
    return { ...this.c, dropped: { ...this.c.dropped } };
  }

  /** Closes the socket; later sends throw 'unavailable'. Safe to call twice. */
  async close(): Promise<void> {
    const sock = this.sock;
    this.sock = undefined;
    this.family = undefined;
    if (sock) await sock.close().catch(() => undefined);
  }

  private onDatagram(buf: Buffer, rinfo: RemoteInfo): void {
    const d = this.c.dropped;
    this.c.bytes_in += buf.length;
    if (buf.length > this.maxDatagram) return void d.oversize++;
    if (!isSealedShape(buf)) return void d.garbled++;
    const plain = this.opts.keyring.open(buf, UDP_AAD);
    if (!plain) return void d.no_key++;
    const dgram = decodeDatagram(plain);
    if (!dgram) return void d.malformed++;
    const verdict = this.guard.check(dgram.header);
    if (verdict !== 'fresh') return void d[verdict]++;
    const msg = decodeBody(dgram.body);
    if (!msg) return void d.malformed++;
    this.c.received++;
    try {
      this.emit('message', formatHostPort(rinfo.address, rinfo.port), msg, dgram.header.sender);
    } catch {
      this.c.handler_errors++;
    }
  }
}
