/**
 * The mDNS adapter of cluster discovery (issue #14), the only user of multicast-dns (and of dns-packet, its wire
 * format). A node advertises `<instance>._pleaco._tcp.local` (PTR, SRV, TXT and an A record per interface) and
 * browses for peers on every interface that has an IPv4 address; what it hears becomes 'announcement' events for
 * the discovery loop, which verifies and joins. This file knows nothing of signatures or membership.
 *
 * One socket, every interface. multicast-dns sends on one interface only (the kernel's default route; a host
 * without a default route cannot send at all), so we own the socket: udp4 bound to 0.0.0.0:5353 with SO_REUSEADDR,
 * handed to multicast-dns with `multicast: false, bind: false`. We join the group on each eligible interface
 * (`addMembership(group, ifaceAddr)`) and send a copy of every multicast on each of them: `setMulticastInterface`,
 * then send, the next `setMulticastInterface` only once the previous send's callback ran (a dgram send is
 * asynchronous: interleaving would send on the wrong interface). Sends therefore go through one promise chain.
 *
 * Next to avahi-daemon: avahi binds 0.0.0.0:5353 with SO_REUSEADDR and SO_REUSEPORT. Linux lets a second UDP socket
 * bind the same address and port when both set SO_REUSEADDR, and delivers every multicast datagram to each socket
 * bound to the port, so avahi and we both hear all of 224.0.0.251:5353. Unicast datagrams to port 5353 reach only one
 * of the sockets, so we never ask for unicast responses (no QU bit in our queries). A responder that holds 5353
 * without SO_REUSEADDR makes `start()` reject with 'unavailable' naming the port.
 *
 * RFC 6762 in brief: three unsolicited announcements 1 s apart at start and on each new interface (§8.3); answers to
 * PTR/ANY queries for the service after 20-120 ms, never sooner than 1 s after the last multicast of our records on
 * that interface (§6), none when the query already lists our PTR with more than half its TTL (known answers, §7.1);
 * QU and legacy (source port not 5353) queries answered by unicast (§5.4, §6.7); responses from a source port other
 * than 5353 ignored (§6, §11); continuous querying with intervals doubling from queryMinMs to queryMaxMs (§5.2);
 * goodbyes (TTL 0) on stop (§10.1). Not done: probing and conflict resolution (§8.1, §9: node ids are unique by
 * construction), IPv6. TTL: 120 s for all records, PTR and TXT included (RFC 6762 §10 suggests 75 min for them): a
 * node that dies without a goodbye leaves avahi's and other caches within 2 min.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIPv4 } from 'node:net';
import makeMdns from 'multicast-dns';
import type { Answer, Packet, Question, TxtData } from 'dns-packet';
import { PleacoError } from '../errors.js';
import type { Logger } from '../log.js';
import { eligibleInterfaces, type MdnsInterface } from './interfaces.js';

export interface MdnsAnnouncement {
  /** The peer's instance label (its node id). */
  instance: string;
  /** Its TXT strings as key=value (validated: at most 16, keys [a-z0-9_-]{1,32}, printable values). */
  txt: Record<string, string>;
  /** SRV port, 0 when the packet had no SRV for the instance. */
  port: number;
  /** Source IPv4 of the packet. */
  from: string;
  /** TTL 0: the peer is leaving. */
  goodbye: boolean;
}
export interface MdnsOptions {
  instance: string;
  port: number;
  txt: () => Record<string, string>;
  service?: string;
  interfaces?: () => MdnsInterface[];
  queryMinMs?: number;
  queryMaxMs?: number;
  rescanMs?: number;
  mdnsPort?: number;
  group?: string;
  log: Logger;
}
export interface MdnsCounters {
  /** Datagrams sent (one per interface for a multicast). */
  sent: number;
  received: number;
  /** Queries for the service answered. */
  answered: number;
  /** 'announcement' events emitted. */
  announcements: number;
  /** Undecodable or oversized packets, and instances whose records break the bounds. */
  malformed: number;
  /** Packets or instances skipped on purpose: our own, a response from a port other than mdnsPort, past 32 a packet. */
  ignored: number;
  /** Failed sends and other errors of the socket after start. */
  sendErrors: number;
}

const LABEL = /^[a-z0-9-]{1,63}$/;
const SERVICE = /^([a-z0-9_-]{1,63}\.){2,}local$/;
const TXT_KEY = /^[a-z0-9_-]{1,32}$/;
const PRINTABLE = /^[\x20-\x7e]*$/;
const MAX_PACKET = 9000;
const MAX_INSTANCES = 32;
const MAX_TXT = 16;
const MAX_TXT_BYTES = 255;
const TTL = 120;
const LEGACY_TTL = 10;
const ANNOUNCE_GAP_MS = 1000;
const ANNOUNCEMENTS = 3;
/** The TXT strings of `txt`; throws when a pair breaks the bounds a peer enforces (it would drop our records). */
function txtStrings(txt: Record<string, string>): string[] {
  const out = Object.entries(txt).map(([k, v]) => {
    const s = `${k}=${v}`;
    if (!TXT_KEY.test(k) || !PRINTABLE.test(v) || Buffer.byteLength(s) > MAX_TXT_BYTES) {
      throw new PleacoError('internal', `mDNS TXT pair "${k.slice(0, 40)}" breaks the bounds (key [a-z0-9_-]{1,32}, printable value, ${MAX_TXT_BYTES} bytes)`);
    }
    return s;
  });
  if (out.length > MAX_TXT) throw new PleacoError('internal', `mDNS TXT has ${out.length} strings, at most ${MAX_TXT}`);
  return out;
}

/** A peer's TXT strings as key=value, or null when they break the bounds. Empty strings are skipped; the first of a repeated key wins (RFC 6763 §6.4). */
function parseTxt(data: TxtData): Record<string, string> | null {
  const strings = (Array.isArray(data) ? data : [data]).map((s) => (typeof s === 'string' ? Buffer.from(s) : s));
  if (strings.length > MAX_TXT) return null;
  const out: Record<string, string> = {};
  for (const b of strings) {
    if (b.length === 0) continue;
    if (b.length > MAX_TXT_BYTES) return null;
    const s = b.toString('latin1');
    const eq = s.indexOf('=');
    const [key, value] = [s.slice(0, eq), s.slice(eq + 1)];
    if (eq < 1 || !TXT_KEY.test(key) || key === '__proto__' || !PRINTABLE.test(value)) return null;
    if (!Object.hasOwn(out, key)) out[key] = value;
  }
  return out;
}

/** dns-packet 5.6 decodes a question's class with the QU bit set as the string 'UNKNOWN_<n>' (n ≥ 32768). */
function isQu(q: Question): boolean {
  const m = /^UNKNOWN_(\d+)$/.exec(String(q.class));
  return m !== null && (Number(m[1]) & 0x8000) !== 0;
}

const sameName = (a: string, b: string): boolean => a.toLowerCase() === b;
type Ttl = typeof TTL | typeof LEGACY_TTL | 0;
type MdnsSocket = ReturnType<typeof makeMdns>;

/** See the file comment. Emits 'announcement' (a: MdnsAnnouncement); `start()` before anything else. */
export class Mdns extends EventEmitter<{ announcement: [MdnsAnnouncement] }> {
  private readonly service: string;
  private readonly fqdn: string;
  private readonly host: string;
  private readonly mdnsPort: number;
  private readonly group: string;
  private readonly listIfaces: () => MdnsInterface[];
  private readonly queryMinMs: number;
  private readonly queryMaxMs: number;
  private readonly rescanMs: number;
  private readonly log: Logger;
  private socket: Socket | null = null;
  private mdns: MdnsSocket | null = null;
  private starting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private running = false;
  private readonly joined = new Map<string, MdnsInterface>();
  private readonly joinFailed = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private rescanTimer: NodeJS.Timeout | null = null;
  private queryTimer: NodeJS.Timeout | null = null;
  private answerTimer: NodeJS.Timeout | null = null;
  private queryDelay: number;
  private chain: Promise<void> = Promise.resolve();
  /** Interface name → when our records were last multicast on it (the 1 s rule of RFC 6762 §6). */
  private readonly lastMulticast = new Map<string, number>();
  /** Interface address → when we last multicast a query from it: its loopback echo is not a query to answer. */
  private readonly ownQueryAt = new Map<string, number>();
  private readonly c: MdnsCounters = { sent: 0, received: 0, answered: 0, announcements: 0, malformed: 0, ignored: 0, sendErrors: 0 };

  constructor(private readonly o: MdnsOptions) {
    super();
    const bad = (what: string): never => {
      throw new PleacoError('invalid_config', `mDNS: ${what}`);
    };
    if (!LABEL.test(o.instance)) bad(`instance "${o.instance.slice(0, 70)}" is not a DNS label ([a-z0-9-], 1..63)`);
    this.service = (o.service ?? '_pleaco._tcp.local').toLowerCase();
    if (!SERVICE.test(this.service)) bad(`service "${this.service.slice(0, 70)}" is not like _pleaco._tcp.local`);
    this.mdnsPort = o.mdnsPort ?? 5353;
    this.group = o.group ?? '224.0.0.251';
    for (const [k, v] of [['port', o.port], ['mdnsPort', this.mdnsPort]] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 65535) bad(`${k} ${v} is not a port`);
    }
    const first = Number(this.group.split('.')[0]);
    if (!isIPv4(this.group) || first < 224 || first > 239) bad(`group ${this.group} is not an IPv4 multicast address`);
    this.queryMinMs = o.queryMinMs ?? 1000;
    this.queryMaxMs = o.queryMaxMs ?? 30_000;
    this.rescanMs = o.rescanMs ?? 5000;
    if (!(this.queryMinMs > 0 && this.queryMaxMs >= this.queryMinMs && this.rescanMs > 0)) bad('timings must be positive, queryMaxMs ≥ queryMinMs');
    this.queryDelay = this.queryMinMs;
    this.fqdn = `${o.instance}.${this.service}`;
    this.host = `${o.instance}.local`;
    this.listIfaces = o.interfaces ?? (() => eligibleInterfaces());
    this.log = o.log.child({ component: 'mdns' });
  }

  /** Binds, joins, announces and starts querying. Rejects with 'unavailable' when the port cannot be bound. */
  start(): Promise<void> {
    if (this.stopping) return Promise.reject(new PleacoError('conflict', 'mDNS adapter already stopped'));
    return (this.starting ??= this.bindAndRun());
  }

  private async bindAndRun(): Promise<void> {
    txtStrings(this.o.txt()); // a bad TXT fails start(), not a later send
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        socket.close();
        const msg =
          `mDNS: cannot bind UDP port ${this.mdnsPort} (${err.code ?? err.message}): ` +
          'another mDNS responder holds it without SO_REUSEADDR, or this process may not bind it';
        reject(new PleacoError('unavailable', msg, { cause: err, details: { port: this.mdnsPort } }));
      };
      socket.once('error', onError);
      socket.bind(this.mdnsPort, '0.0.0.0', () => (socket.off('error', onError), resolve()));
    });
    socket.setMulticastTTL(255);
    socket.setMulticastLoopback(true);
    socket.on('message', () => void this.c.received++);
    const mdns = makeMdns({ socket, type: 'udp4', multicast: false, bind: false, port: this.mdnsPort, ip: this.group });
    mdns.on('query', (q, r) => this.onQuery(q, r));
    mdns.on('response', (p, r) => this.onResponse(p, r));
    mdns.on('warning', (err) => ('syscall' in err ? this.socketError(err) : void this.c.malformed++));
    mdns.on('error', (err) => this.socketError(err));
    [this.socket, this.mdns, this.running] = [socket, mdns, true];
    this.rescan();
    this.rescanTimer = setInterval(() => this.rescan(), this.rescanMs).unref();
    this.query();
    this.log.info('mdns started', { instance: this.o.instance, service: this.service, port: this.mdnsPort, interfaces: this.interfaces() });
  }

  /** Goodbye (TTL 0) on every interface, then the memberships are dropped and the socket closed. Idempotent. */
  stop(): Promise<void> {
    return (this.stopping ??= this.goodbyeAndClose());
  }

  private async goodbyeAndClose(): Promise<void> {
    await this.starting?.catch(() => undefined);
    if (!this.running) return;
    this.running = false;
    for (const t of [...this.timers, this.rescanTimer, this.queryTimer]) if (t) clearTimeout(t);
    this.timers.clear();
    for (const i of this.joined.values()) void this.multicast(i, this.response(i, 0, true));
    await this.chain;
    for (const i of this.joined.values()) this.leave(i);
    const mdns = this.mdns;
    await new Promise<void>((resolve) => (mdns ? mdns.destroy(() => resolve()) : resolve()));
    [this.mdns, this.socket] = [null, null];
    this.log.info('mdns stopped', { instance: this.o.instance, ...this.c });
  }

  /** Queries now and restarts the backoff at queryMinMs. */
  query(): void {
    if (!this.running) return;
    if (this.queryTimer) clearTimeout(this.queryTimer);
    this.queryDelay = this.queryMinMs;
    this.sendQuery();
  }

  private sendQuery(): void {
    const packet: Packet = { type: 'query', questions: [{ name: this.service, type: 'PTR', class: 'IN' }] };
    for (const i of this.joined.values()) {
      this.ownQueryAt.set(i.address, Date.now());
      void this.multicast(i, packet, false);
    }
    this.queryTimer = setTimeout(() => this.sendQuery(), this.queryDelay).unref();
    this.queryDelay = Math.min(this.queryDelay * 2, this.queryMaxMs);
  }

  /** Names of the interfaces joined now. */
  interfaces(): string[] {
    return [...this.joined.keys()];
  }

  counters(): MdnsCounters {
    return { ...this.c };
  }

  /** Joins new interfaces (and announces on them), leaves gone ones; an interface whose address changed is both. */
  private rescan(): void {
    if (!this.running) return;
    let want: MdnsInterface[];
    try {
      want = this.listIfaces().filter((i) => isIPv4(i.address));
    } catch (err) {
      return this.log.warn('mdns: listing interfaces failed', { err });
    }
    const byName = new Map(want.map((i) => [i.name, i]));
    for (const [name, cur] of this.joined) if (byName.get(name)?.address !== cur.address) this.leave(cur);
    const added = want.filter((i) => !this.joined.has(i.name) && this.join(i));
    if (added.length) this.announce(added);
  }

  private join(i: MdnsInterface): boolean {
    const key = `${i.name}/${i.address}`;
    try {
      this.socket!.addMembership(this.group, i.address);
    } catch (err) {
      if (!this.joinFailed.has(key)) this.log.warn('mdns: cannot join the group on an interface', { iface: i.name, address: i.address, err });
      this.joinFailed.add(key);
      return false;
    }
    this.joinFailed.delete(key);
    this.joined.set(i.name, i);
    this.log.info('mdns: interface joined', { iface: i.name, address: i.address });
    return true;
  }

  private leave(i: MdnsInterface): void {
    this.joined.delete(i.name);
    this.lastMulticast.delete(i.name);
    try {
      this.socket!.dropMembership(this.group, i.address);
    } catch {
      /* the interface or its address is gone: so is the membership */
    }
    if (this.running) this.log.info('mdns: interface left', { iface: i.name, address: i.address });
  }

  /** Unsolicited responses on `ifaces`: now, and twice more 1 s apart (RFC 6762 §8.3). */
  private announce(ifaces: MdnsInterface[]): void {
    for (let k = 0; k < ANNOUNCEMENTS; k++) {
      this.later(k * ANNOUNCE_GAP_MS, () => {
        for (const i of ifaces) if (this.joined.get(i.name)?.address === i.address) void this.multicast(i, this.response(i, TTL, true));
      });
    }
  }

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => (this.timers.delete(t), fn()), ms).unref();
    this.timers.add(t);
    return t;
  }

  /**
   * Our records as a response: the PTR as the answer, SRV, TXT and A as additionals (all answers when
   * `unsolicited`). The A record is `iface`'s address, or every joined interface's for a unicast answer. Null (logged,
   * counted) when txt() breaks the bounds.
   */
  private response(iface: MdnsInterface | null, ttl: Ttl, unsolicited: boolean, query?: Packet): Packet | null {
    let txt: string[];
    try {
      txt = txtStrings(this.o.txt());
    } catch (err) {
      this.c.sendErrors++;
      this.log.warn('mdns: not sending our records', { err });
      return null;
    }
    const flush = ttl !== LEGACY_TTL; // the cache-flush bit marks our unique records, never in a legacy answer
    const ptr: Answer = { name: this.service, type: 'PTR', ttl, data: this.fqdn };
    const addrs = iface ? [iface.address] : [...this.joined.values()].map((i) => i.address);
    const rest: Answer[] = [
      { name: this.fqdn, type: 'SRV', ttl, flush, data: { target: this.host, port: this.o.port } },
      { name: this.fqdn, type: 'TXT', ttl, flush, data: txt },
      ...addrs.map((a): Answer => ({ name: this.host, type: 'A', ttl, flush, data: a })),
    ];
    const base: Packet = query ? { id: query.id, questions: query.questions } : {};
    return unsolicited ? { ...base, type: 'response', answers: [ptr, ...rest] } : { ...base, type: 'response', answers: [ptr], additionals: rest };
  }

  /** Sends `packet` to the group on `iface` through the send chain (see the file comment). */
  private multicast(iface: MdnsInterface, packet: Packet | null, response = true): Promise<void> {
    if (!packet) return Promise.resolve();
    return this.enqueue(iface.name, { port: this.mdnsPort, address: this.group }, packet, () => {
      if (this.joined.get(iface.name)?.address !== iface.address) return false; // left while this send waited
      this.socket!.setMulticastInterface(iface.address);
      if (response) this.lastMulticast.set(iface.name, Date.now());
      return true;
    });
  }

  /** Sends `packet` to `to` once every send enqueued before it is done; `before` (false: skip) runs right before. */
  private enqueue(label: string, to: { port: number; address: string }, packet: Packet, before?: () => boolean): Promise<void> {
    const job = (): Promise<void> =>
      new Promise((resolve) => {
        const mdns = this.mdns;
        if (!mdns || !this.socket) return resolve();
        const done = (err: Error | null): void => {
          if (err) this.socketError(err, label);
          else this.c.sent++;
          resolve();
        };
        try {
          if (before && !before()) return resolve();
          if (packet.type === 'query') mdns.query({ ...packet, questions: packet.questions ?? [] }, to, done);
          else mdns.respond({ ...packet, answers: packet.answers ?? [] }, to, done);
        } catch (err) {
          done(err as Error);
        }
      });
    const next = this.chain.then(job);
    this.chain = next;
    return next;
  }

  private socketError(err: Error, iface?: string): void {
    this.c.sendErrors++;
    this.log.warn('mdns: socket error', { iface, err });
  }

  private onQuery(q: Packet, r: RemoteInfo): void {
    if (!this.running) return;
    if (r.size > MAX_PACKET) return void this.c.malformed++;
    const asks = (q.questions ?? []).filter((x) => sameName(x.name, this.service) && (x.type === 'PTR' || String(x.type) === 'ANY'));
    if (!asks.length) return;
    const sentAt = this.ownQueryAt.get(r.address);
    if (r.port === this.mdnsPort && sentAt !== undefined && Date.now() - sentAt < 2000 && !q.answers?.length) {
      this.ownQueryAt.delete(r.address); // the loopback copy of our own query
      return void this.c.ignored++;
    }
    const known = (q.answers ?? []).some((a) => a.type === 'PTR' && sameName(a.name, this.service) && a.data === this.fqdn && (a.ttl ?? 0) > TTL / 2);
    if (known) return;
    this.c.answered++;
    if (r.port !== this.mdnsPort || asks.every(isQu)) {
      const legacy = r.port !== this.mdnsPort; // a one-shot resolver: same id, the question repeated, TTL ≤ 10 s (§6.7)
      const res = this.response(null, legacy ? LEGACY_TTL : TTL, false, legacy ? q : undefined);
      if (res) void this.enqueue('unicast', { port: r.port, address: r.address }, res);
    } else if (!this.answerTimer) {
      const now = Date.now();
      const wait = Math.max(20 + Math.random() * 100, ...[...this.lastMulticast.values()].map((t) => t + ANNOUNCE_GAP_MS - now));
      this.answerTimer = this.later(wait, () => {
        this.answerTimer = null;
        for (const i of this.joined.values()) void this.multicast(i, this.response(i, TTL, false));
      });
    }
  }

  /** One 'announcement' per instance of the service a response names (at most 32 a packet). */
  private onResponse(p: Packet, r: RemoteInfo): void {
    if (!this.running) return;
    if (r.size > MAX_PACKET) return void this.c.malformed++;
    if (r.port !== this.mdnsPort) return void this.c.ignored++;
    const records = [...(p.answers ?? []), ...(p.additionals ?? [])];
    const seen = new Set<string>();
    for (const ptr of p.answers ?? []) {
      if (ptr.type !== 'PTR' || !sameName(ptr.name, this.service)) continue;
      const name = ptr.data;
      const instance = name.slice(0, -this.service.length - 1);
      if (!sameName(name.slice(instance.length), `.${this.service}`) || !LABEL.test(instance)) {
        this.c.malformed++;
        continue;
      }
      if (seen.has(instance)) continue;
      if (seen.size >= MAX_INSTANCES || instance === this.o.instance) {
        this.c.ignored++;
        continue;
      }
      seen.add(instance);
      const srv = records.find((a) => a.type === 'SRV' && sameName(a.name, `${instance}.${this.service}`));
      const txtRec = records.find((a) => a.type === 'TXT' && sameName(a.name, `${instance}.${this.service}`));
      const txt = txtRec && txtRec.type === 'TXT' ? parseTxt(txtRec.data) : {};
      if (!txt) {
        this.c.malformed++;
        continue;
      }
      const port = srv && srv.type === 'SRV' ? srv.data.port : 0;
      const a: MdnsAnnouncement = { instance, txt, port, from: r.address, goodbye: ptr.ttl === 0 };
      this.c.announcements++;
      this.log.debug('mdns: announcement', { instance, from: r.address, port, goodbye: a.goodbye });
      this.emit('announcement', a);
    }
  }
}
