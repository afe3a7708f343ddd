/**
 * FakeNetwork: a deterministic, in-process network driving many SwimNode cores on a virtual clock.
 * Every packet and every node wake-up is an event in one time-ordered queue (never a real timer);
 * one seed fixes the whole run. Models UDP loss, latency (a distribution), partitions (groups that
 * cannot reach each other, streams included) and crashes (a node stops and drops what reaches it).
 */
import { SwimNode, seededRandom, type Addr, type CoreOutput, type SwimConfig } from '../../src/cluster/index.js';
import { EventHeap } from './heap.js';

export interface Host {
  id: string;
  addr: Addr;
  node: SwimNode;
  up: boolean;
  /** Partition group; hosts in different groups cannot exchange anything. */
  group: number;
  /** The wake-up currently scheduled (Infinity when none). */
  wakeAt: number;
  bytesSent: number;
  packetsSent: number;
}

export interface FakeNetworkOptions {
  seed: number;
  /** Probability that one UDP packet is lost; streams are reliable (TCP) but slowed by retransmissions. */
  loss?: number;
  /** One-way delay in ms for one packet, drawn from the network's PRNG. Default: LAN-like. */
  latency?: (random: () => number) => number;
  /** 'json' serializes every message (as the real transport does); 'object' hands the object over (faster). */
  wire?: 'json' | 'object';
  swim?: Partial<SwimConfig>;
  /** Called with every output of every node (events, user deliveries, sends) after it is produced. */
  onOutput?: (host: Host, out: CoreOutput, now: number) => void;
}

/** 0.1 ms floor plus an exponential tail with a 0.4 ms mean, capped at 20 ms. */
export function lanLatency(random: () => number): number {
  return Math.min(20, 0.1 - Math.log(1 - random()) * 0.4);
}

interface Ev {
  at: number;
  seq: number;
  host: Host;
  /** undefined for a wake-up. */
  msg?: unknown;
  from?: Addr;
  /** The sending node's id, for datagrams (the real UDP transport authenticates it; streams carry none). */
  sender?: string;
}

export class FakeNetwork {
  now = 0;
  loss: number;
  readonly hosts: Host[] = [];
  readonly byAddr = new Map<Addr, Host>();
  dropped = 0;
  delivered = 0;
  private readonly heap = new EventHeap<Ev>();
  private readonly blocked = new Set<string>();
  private seq = 0;
  private readonly random: () => number;
  private readonly latency: (random: () => number) => number;

  constructor(private readonly opts: FakeNetworkOptions) {
    this.random = seededRandom(opts.seed);
    this.loss = opts.loss ?? 0;
    this.latency = opts.latency ?? lanLatency;
  }

  /** Creates a host (not started) with its own PRNG derived from the network seed. */
  add(id: string, addr: Addr, meta?: Record<string, string>): Host {
    const node = new SwimNode({ id, addr, meta, config: this.opts.swim, random: seededRandom(Math.floor(this.random() * 2 ** 32)) });
    const host: Host = { id, addr, node, up: true, group: 0, wakeAt: Infinity, bytesSent: 0, packetsSent: 0 };
    const old = this.byAddr.get(addr);
    if (old) this.hosts.splice(this.hosts.indexOf(old), 1);
    this.hosts.push(host);
    this.byAddr.set(addr, host);
    return host;
  }

  /** Starts a host and joins it through `seeds` (none: it forms a cluster of its own). */
  start(host: Host, seeds: Addr[] = []): void {
    this.apply(host, seeds.length ? host.node.join(seeds, this.now) : host.node.start(this.now));
  }

  /** Crash-stops a host: it does nothing more and everything sent to it is lost. */
  crash(host: Host): void {
    host.up = false;
    host.wakeAt = Infinity;
  }

  /** Replaces a crashed host by a fresh process with the same id and address, joining through `seeds`. */
  restart(host: Host, seeds: Addr[]): Host {
    const h = this.add(host.id, host.addr);
    h.group = host.group;
    this.start(h, seeds);
    return h;
  }

  /** Splits the hosts into groups (a host's group is the index of the list holding its address). */
  partition(groups: Addr[][]): void {
    groups.forEach((g, i) => g.forEach((a) => (this.byAddr.get(a)!.group = i)));
  }

  /** Ends partitions and blocked links. */
  heal(): void {
    for (const h of this.hosts) h.group = 0;
    this.blocked.clear();
  }

  /** Drops everything (packets and streams) from `a` to `b` and from `b` to `a`. */
  blockLink(a: Addr, b: Addr): void {
    this.blocked.add(`${a}>${b}`);
    this.blocked.add(`${b}>${a}`);
  }

  /** Runs a node API call at the current time and routes its output (e.g. a broadcast or a leave). */
  call(host: Host, f: (n: SwimNode) => CoreOutput | void): void {
    const out = f(host.node);
    if (out) this.apply(host, out);
    else this.reschedule(host);
  }

  /**
   * Processes events until `until` (virtual ms) or until `stop()` holds; `stop` is checked every
   * `checkEveryMs`. Returns true when stopped by the predicate.
   */
  run(until: number, stop?: () => boolean, checkEveryMs = 100): boolean {
    let nextCheck = this.now;
    for (;;) {
      if (stop && this.now >= nextCheck) {
        if (stop()) return true;
        nextCheck = this.now + checkEveryMs;
      }
      const ev = this.heap.peek();
      const horizon = Math.min(until, stop ? nextCheck : Infinity);
      if (!ev || ev.at > horizon) {
        this.now = horizon;
        if (horizon >= until) return stop ? stop() : false;
        continue;
      }
      this.heap.pop();
      this.now = Math.max(this.now, ev.at);
      const host = ev.host;
      if (!host.up || this.byAddr.get(host.addr) !== host) continue;
      if (ev.msg === undefined) {
        if (host.wakeAt !== ev.at) continue; // superseded wake-up
        host.wakeAt = Infinity;
        this.apply(host, host.node.tick(this.now));
      } else {
        this.delivered++;
        this.apply(host, host.node.receive(ev.from!, ev.msg, this.now, ev.sender));
      }
    }
  }

  private apply(host: Host, out: CoreOutput): void {
    this.opts.onOutput?.(host, out, this.now);
    const json = this.opts.wire === 'json';
    for (const o of out.send) {
      const text = json ? JSON.stringify(o.msg) : undefined;
      const bytes = text !== undefined ? Buffer.byteLength(text) : o.bytes ?? 0;
      host.bytesSent += bytes;
      host.packetsSent++;
      const to = this.byAddr.get(o.to);
      const lost = (o.channel === 'udp' && this.random() < this.loss) || (this.blocked.size > 0 && this.blocked.has(`${host.addr}>${o.to}`));
      if (!to || !to.up || to.group !== host.group || lost) {
        this.dropped++;
        continue;
      }
      let delay = this.latency(this.random);
      if (o.channel === 'stream') {
        // TCP: handshake + data is three one-way trips; a lost SYN or SYN-ACK costs the 1 s initial
        // retransmission timeout, a lost data segment the 200 ms minimum RTO; ~100 MB/s of bandwidth.
        delay = delay * 3 + bytes / 100_000;
        if (this.loss > 0) {
          if (this.random() < this.loss) delay += 1000;
          if (this.random() < this.loss) delay += 1000;
          if (this.random() < this.loss) delay += 200;
        }
      }
      this.heap.push({ at: this.now + delay, seq: this.seq++, host: to, msg: text !== undefined ? JSON.parse(text) : o.msg, from: host.addr, sender: o.channel === 'udp' ? host.id : undefined });
    }
    this.reschedule(host);
  }

  private reschedule(host: Host): void {
    if (!host.up) return;
    const w = Math.max(this.now, host.node.nextWakeAt());
    if (w < host.wakeAt) {
      host.wakeAt = w;
      this.heap.push({ at: w, seq: this.seq++, host });
    }
  }
}
