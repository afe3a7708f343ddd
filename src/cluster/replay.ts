/**
 * Anti-replay for sealed datagrams (pure: no I/O, time is passed in). Every datagram names its sender,
 * the sender's boot epoch (random per process start), a sequence number that grows per datagram, and
 * the sender's wall clock. All of it sits inside the sealed plaintext, so nobody without the cluster key
 * can forge or alter it; an attacker can only re-send whole datagrams it recorded.
 *
 * Rules:
 * - A known (sender, epoch) goes through a sliding window (IPsec style, 1,024 by default): each sequence
 *   number is accepted once, and numbers older than the window are refused.
 * - An unknown epoch is accepted only while its datagram is fresh: |now − sentAt| ≤ maxAgeMs. A restarted
 *   sender starts a new epoch at once; a recorded datagram of a forgotten epoch (or of any epoch, after
 *   this node restarted and lost its windows) is refused once it is older than maxAgeMs. Without this
 *   bound an epoch that fell out of memory could be replayed again and again.
 * - An epoch is remembered until 2·maxAgeMs + 1 s after its last datagram: by then every datagram it
 *   sent before is stale even under the worst accepted clock skew, so forgetting it reopens nothing.
 * - Memory is bounded: a few epochs per sender (a process that restarts faster than that in a crash
 *   loop loses the oldest window early) and a cap on senders, least recently heard evicted first.
 *   Only key holders can create senders or epochs, so the caps are not reachable from outside.
 * The cost is loosely synchronised clocks (as the HLC already assumes): a node whose clock is off by more
 * than maxAgeMs cannot start talking; its datagrams are counted as `stale`, not silently lost.
 * Datagrams carrying this node's own id are refused (a reflected copy of something we sent).
 */
import { randomBytes } from 'node:crypto';
import { EPOCH_BYTES, type DatagramHeader } from './codec.js';
import { PleacoError } from '../errors.js';

export interface ReplayOptions {
  /** This node's id: datagrams claiming it are reflections. */
  self?: string;
  /** Sliding window size in sequence numbers (multiple of 32). Default 1024. */
  window?: number;
  /** How far a new epoch's datagram may be from our clock, either way. Default 120 s; Infinity disables. */
  maxAgeMs?: number;
  /** Epochs remembered per sender. Default 4. */
  epochsPerSender?: number;
  /** Senders remembered. Default 4096. */
  maxSenders?: number;
}

/** `fresh`: deliver it. `replayed`: seen before, too old for the window, or reflected. `stale`: unknown epoch, clock too far. */
export type ReplayVerdict = 'fresh' | 'replayed' | 'stale';

/** A new random boot epoch (hex), one per process start. */
export function newEpoch(): string {
  return randomBytes(EPOCH_BYTES).toString('hex');
}

/** A sliding window over sequence numbers: each number is accepted once; older than the window, never. */
export class SeqWindow {
  private top: number;
  private readonly bits: Uint32Array;

  /** Starts with `first` accepted. `size` is a multiple of 32. */
  constructor(readonly size: number, first: number) {
    this.bits = new Uint32Array(size / 32);
    this.top = first;
    this.mark(first);
  }

  /** True (and remembers it) the first time `seq` is seen within the window; false for repeats and old ones. */
  accept(seq: number): boolean {
    if (seq > this.top) {
      if (seq - this.top >= this.size) this.bits.fill(0);
      else for (let s = this.top + 1; s < seq; s++) this.clear(s);
      this.top = seq;
      this.mark(seq);
      return true;
    }
    if (this.top - seq >= this.size) return false;
    const i = seq % this.size;
    if (this.bits[i >>> 5]! & (1 << (i & 31))) return false;
    this.mark(seq);
    return true;
  }

  private mark(seq: number): void {
    const i = seq % this.size;
    this.bits[i >>> 5]! |= 1 << (i & 31);
  }

  private clear(seq: number): void {
    const i = seq % this.size;
    this.bits[i >>> 5]! &= ~(1 << (i & 31));
  }
}

interface EpochState {
  win: SeqWindow;
  lastSeen: number;
}

/** Decides, per datagram header, whether it is fresh; remembers what it accepted. */
export class ReplayGuard {
  private readonly senders = new Map<string, Map<string, EpochState>>();
  private readonly window: number;
  private readonly maxAgeMs: number;
  private readonly retainMs: number;
  private readonly epochsPerSender: number;
  private readonly maxSenders: number;

  constructor(private readonly opts: ReplayOptions = {}, private readonly now: () => number = Date.now) {
    this.window = opts.window ?? 1024;
    if (!Number.isInteger(this.window) || this.window < 32 || this.window % 32 !== 0) throw new PleacoError('invalid_config', 'replay window must be a positive multiple of 32');
    this.maxAgeMs = opts.maxAgeMs ?? 120_000;
    this.retainMs = 2 * this.maxAgeMs + 1000;
    this.epochsPerSender = Math.max(1, opts.epochsPerSender ?? 4);
    this.maxSenders = Math.max(1, opts.maxSenders ?? 4096);
  }

  /** The verdict for one authenticated header; a `fresh` verdict is recorded, so a second check says `replayed`. */
  check(h: DatagramHeader): ReplayVerdict {
    if (this.opts.self !== undefined && h.sender === this.opts.self) return 'replayed';
    const now = this.now();
    let epochs = this.senders.get(h.sender);
    if (epochs) {
      this.senders.delete(h.sender); // re-insert: Map order is our LRU order
      this.senders.set(h.sender, epochs);
      const known = epochs.get(h.epoch);
      if (known && now - known.lastSeen <= this.retainMs) {
        if (!known.win.accept(h.seq)) return 'replayed';
        known.lastSeen = now;
        return 'fresh';
      }
    }
    if (Math.abs(now - h.sentAt) > this.maxAgeMs) return 'stale';
    if (!epochs) {
      epochs = new Map();
      this.senders.set(h.sender, epochs);
      if (this.senders.size > this.maxSenders) this.senders.delete(this.senders.keys().next().value!);
    }
    for (const [e, st] of epochs) if (now - st.lastSeen > this.retainMs) epochs.delete(e);
    if (epochs.size >= this.epochsPerSender) {
      let oldest: string | undefined;
      let oldestSeen = Infinity;
      for (const [e, st] of epochs) if (st.lastSeen < oldestSeen) [oldest, oldestSeen] = [e, st.lastSeen];
      epochs.delete(oldest!);
    }
    epochs.set(h.epoch, { win: new SeqWindow(this.window, h.seq), lastSeen: now });
    return 'fresh';
  }

  /** How many senders are remembered (for bounds checks and metrics). */
  trackedSenders(): number {
    return this.senders.size;
  }
}
