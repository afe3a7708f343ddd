/**
 * The membership state machine of the SWIM core (memberlist's aliveNode / suspectNode / deadNode /
 * refute / mergeState): incarnation rules, suspicion timers with Lifeguard confirmations, re-gossip
 * of every accepted change, and the events a caller sees (sending is swim-send.ts). Departures from memberlist (docs/decisions.md):
 * a death is taken at once only about a member suspected for a while, and one older than the alive we
 * know is answered to its declarer; a member we hold dead that speaks to us is told so; news marks the
 * queue urgent (eager gossip); a few nodes that hear of a suspicion re-check the suspect. Pure: time
 * comes in through `now`.
 */
import { suspicionTimeout, type SwimConfig } from './config.js';
import { Awareness } from './awareness.js';
import { MemberTable, viewOf, type Member } from './members.js';
import { messageSize, type AliveMsg, type DeadMsg, type MemberEvent, type PushPullMember, type SuspectMsg } from './messages.js';
import { Suspicion, SuspicionTimers } from './suspicion.js';
import { Outbox } from './swim-send.js';

function sameMeta(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}

/**
 * One node's membership view and the rules that change it; writes the events and messages it
 * produces into `out` (Outbox), which the SwimNode hands back to its caller.
 */
export class Membership extends Outbox {
  readonly awareness: Awareness;
  /** Dead (not left) members, remembered for Serf-style reconnects: id → address and time of death. */
  readonly failed = new Map<string, { addr: string; since: number }>();
  /** Set by a graceful leave: we no longer refute, nor take our own alive messages. */
  left = false;
  /** Suspects heard of from others that this node re-checks at its next probe ticks (suspectRechecks). */
  readonly recheck: string[] = [];
  private readonly suspicions = new SuspicionTimers();
  /** When each member we hold dead was last told so because it spoke to us (heardFrom). */
  private readonly told = new Map<string, number>();

  constructor(
    cfg: SwimConfig,
    id: string,
    addr: string,
    meta: Record<string, string>,
    private readonly random: () => number,
    stats: Record<string, number>,
  ) {
    super(cfg, new MemberTable(random), { id, addr, state: 'alive', incarnation: 0, meta, since: 0 }, stats);
    this.awareness = new Awareness(cfg.awarenessMaxMultiplier);
  }

  private event(type: MemberEvent['type'], m: Member): void {
    this.out.events.push({ type, member: viewOf(m) });
  }

  /** Joins the table with our own alive message (memberlist setAlive). */
  bootstrap(now: number): void {
    this.now = now;
    this.self.incarnation++;
    this.aliveNode({ t: 'alive', node: this.self.id, addr: this.self.addr, inc: this.self.incarnation, meta: this.self.meta }, true);
  }

  /** Handles news that a member is alive (a join, a refutation, new metadata). */
  aliveNode(a: AliveMsg, bootstrap = false): void {
    let m = this.table.get(a.node);
    // Fast path for old news (most alive messages a node hears).
    if (m && m !== this.self && a.inc <= m.incarnation && m.addr === a.addr) return;
    const isLocal = a.node === this.self.id;
    if (this.left && isLocal) return;
    let isNew = false;
    let updatesNode = false;
    if (!m) {
      m = isLocal ? this.self : { id: a.node, addr: a.addr, state: 'dead', incarnation: 0, meta: a.meta, since: this.now };
      if (isLocal) this.self.state = 'dead';
      this.table.add(m);
      isNew = true;
    } else if (m.addr !== a.addr) {
      const reclaim = this.cfg.deadNodeReclaimMs > 0 && this.now - m.since > this.cfg.deadNodeReclaimMs;
      if (m.state === 'left' || (m.state === 'dead' && reclaim)) updatesNode = true;
      else {
        this.stats.addr_conflicts!++;
        return;
      }
    }
    if (!isNew && !isLocal && !updatesNode && a.inc <= m.incarnation) return;
    if (isLocal && !isNew && a.inc < m.incarnation) return;
    this.suspicions.delete(a.node);
    const oldState = m.state;
    const oldMeta = m.meta;
    if (isLocal && !bootstrap) {
      // Someone spreads an alive message about us that is not ours: out-announce it.
      if (a.inc === m.incarnation && sameMeta(a.meta, m.meta)) return;
      this.refute(a.inc);
      return;
    }
    this.gossip(a);
    m.incarnation = a.inc;
    m.meta = a.meta;
    m.addr = a.addr;
    if (m.state !== 'alive') {
      m.state = 'alive';
      m.since = this.now;
    }
    if (!isLocal) {
      this.failed.delete(m.id);
      this.told.delete(m.id);
    }
    if (oldState === 'dead' || oldState === 'left') this.event('join', m);
    else if (oldState === 'suspect') this.event('alive', m);
    else if (!sameMeta(oldMeta, m.meta)) this.event('update', m);
  }

  /** Handles a suspicion: starts a Lifeguard timer, or counts an independent confirmation. */
  suspectNode(s: SuspectMsg): void {
    const m = this.table.get(s.node);
    if (!m || s.inc < m.incarnation) return;
    const timer = this.suspicions.get(s.node);
    if (timer) {
      if (timer.confirm(s.from)) {
        this.suspicions.schedule(s.node, timer);
        this.stats.suspect_confirmations!++;
        this.gossip(s);
      }
      return;
    }
    if (m.state !== 'alive') return;
    if (m === this.self) {
      this.refute(s.inc);
      return;
    }
    this.gossip(s);
    this.stats.suspicions!++;
    m.incarnation = s.inc;
    m.state = 'suspect';
    m.since = this.now;
    // k confirmations bring the timeout to its minimum two probe intervals before the nominal
    // suspicionMult intervals. In a cluster too small for that many, as many as there can be: the n - 2 members
    // other than us and the suspect (memberlist waits for none there and keeps the maximum: 24 s in a cluster of 3,
    // which no confirmation can shorten). None possible (2 members): the minimum (suspicion.ts).
    const n = this.table.size;
    const k = Math.max(0, Math.min(this.cfg.suspicionMult - 2, n - 2));
    const min = suspicionTimeout(this.cfg.suspicionMult, n, this.cfg.probeIntervalMs);
    const max = this.cfg.suspicionMaxTimeoutMult * min;
    this.suspicions.set(s.node, new Suspicion(s.from, k, min, max, this.now));
    this.event('suspect', m);
    // Independent checks: a few of the nodes that hear of it probe the suspect next (bounded queue).
    const p = this.cfg.suspectRechecks / Math.max(1, n - 2);
    if (p > 0 && s.from !== this.self.id && this.recheck.length < 8 && this.random() < p) this.recheck.push(s.node);
  }

  /**
   * Handles a death (or, when `from` is the member itself, a graceful leave). Another node's death is
   * taken at once only about a member we have suspected for a while (takesDeathAtOnce); otherwise it
   * is a suspicion from the declarer, and the member gets a Lifeguard timer's time to refute: so the
   * stale deaths a healed partition brings no longer kill live members cluster-wide.
   */
  deadNode(d: DeadMsg): void {
    const m = this.table.get(d.node);
    if (!m) return;
    if (d.inc < m.incarnation) return this.correct(m, d.from);
    const leaving = d.node === d.from;
    if (!leaving && m !== this.self && !this.takesDeathAtOnce(m)) {
      this.suspectNode({ t: 'suspect', node: d.node, inc: d.inc, from: d.from });
      return;
    }
    this.suspicions.delete(d.node);
    if (m.state === 'dead' || m.state === 'left') return;
    if (m === this.self && !this.left) {
      this.refute(d.inc);
      return;
    }
    this.gossip(d);
    m.incarnation = d.inc;
    m.state = leaving ? 'left' : 'dead';
    m.since = this.now;
    if (leaving) {
      this.failed.delete(m.id);
      this.stats.leaves!++;
      this.event('leave', m);
    } else {
      if (m !== this.self) this.failed.set(m.id, { addr: m.addr, since: this.now });
      this.stats.deaths!++;
      this.event('dead', m);
    }
  }

  /**
   * Whether news of `m`'s death is taken at once: yes when we have suspected it for at least half the
   * minimum suspicion timeout (the crash path: the suspect gossip spreads in about a second, the first
   * timer to run out is at least the minimum later), or its timer already ran out; no when we see it
   * alive or suspect it only since moments ago (a stale death that arrives with its suspicion).
   */
  private takesDeathAtOnce(m: Member): boolean {
    if (m.state === 'alive') return false;
    if (m.state !== 'suspect') return true;
    const timer = this.suspicions.get(m.id);
    return !timer || this.now - timer.start >= timer.min / 2;
  }

  /**
   * Answers a death older than the alive we know with that alive, straight to the node that declared
   * it: that node missed the refutation, which nobody gossips again once everyone else has it (after a
   * heal it would otherwise wait for its next push-pull).
   */
  private correct(m: Member, declarer: string): void {
    const to = this.table.get(declarer);
    if (m.state !== 'alive' || !to || to === this.self || to === m || to.state === 'left') return;
    const msg: AliveMsg = { t: 'alive', node: m.id, addr: m.addr, inc: m.incarnation, meta: m.meta };
    this.push(to.addr, msg, 'udp', messageSize(msg));
  }

  /** Out-announces an accusation against us with a higher incarnation (and counts it against our health). */
  refute(accusedInc: number): void {
    let inc = this.self.incarnation + 1;
    if (accusedInc >= inc) inc = accusedInc + 1;
    this.self.incarnation = inc;
    this.awareness.apply(1);
    this.stats.refutations!++;
    this.gossip({ t: 'alive', node: this.self.id, addr: this.self.addr, inc, meta: this.self.meta });
  }

  /** Announces new metadata for ourselves under a new incarnation. */
  announce(meta: Record<string, string>): void {
    this.self.meta = meta;
    this.self.incarnation++;
    this.gossip({ t: 'alive', node: this.self.id, addr: this.self.addr, inc: this.self.incarnation, meta });
    this.event('update', this.self);
  }

  /** Merges a peer's full state; a remote dead is only taken as a suspicion (memberlist mergeState). */
  mergeState(remote: readonly PushPullMember[]): void {
    for (const r of remote) {
      if (r.state === 'alive') this.aliveNode({ t: 'alive', node: r.id, addr: r.addr, inc: r.inc, meta: r.meta });
      else if (r.state === 'left') this.deadNode({ t: 'dead', node: r.id, inc: r.inc, from: r.id });
      else this.suspectNode({ t: 'suspect', node: r.id, inc: r.inc, from: this.self.id });
    }
  }

  /** Our full state for a push-pull. */
  localState(): PushPullMember[] {
    return this.table.all().map((m) => ({ id: m.id, addr: m.addr, state: m.state, inc: m.incarnation, meta: m.meta }));
  }

  /** Declares dead every suspect whose timer ran out by `now`. */
  expireSuspicions(): void {
    for (const { id, s } of this.suspicions.expire(this.now)) {
      const m = this.table.get(id);
      if (!m || m.state !== 'suspect') continue;
      if (s.k > 0 && s.confirmed < s.k) this.stats.degraded_timeouts!++;
      this.stats.suspect_timeouts!++;
      this.deadNode({ t: 'dead', node: id, inc: m.incarnation, from: this.self.id });
    }
  }

  /** A member we have suspected for longer than the minimum timeout, in turn (undefined when none). */
  overdueSuspect(): Member | undefined {
    const id = this.suspicions.takeOverdue(this.now);
    const m = id === undefined ? undefined : this.table.get(id);
    return m && m.state === 'suspect' ? m : undefined;
  }

  /** The earliest running suspicion deadline (Infinity when none). */
  nextSuspicionDeadline(): number {
    return this.suspicions.next();
  }

  /** Called when the table reaps a member past the gossip-to-the-dead time. */
  reaped(m: Member): void {
    this.suspicions.delete(m.id);
    this.told.delete(m.id);
  }

  /**
   * A datagram from member `id` arrived (the transport authenticated the sender). If we hold it dead, it
   * is told so straight away, at most once per probe interval: it refutes (same incarnation) or answers
   * with the newer alive we missed (correct). Without this, a death outlives the gossip-to-the-dead
   * window on whichever side of a healed partition missed the refutation, until a push-pull.
   */
  heardFrom(id: string): void {
    const m = this.table.get(id);
    if (!m || m === this.self || m.state !== 'dead') return;
    if (this.now - (this.told.get(id) ?? -Infinity) < this.cfg.probeIntervalMs) return;
    this.told.set(id, this.now);
    this.stats.dead_notices!++;
    const msg: DeadMsg = { t: 'dead', node: m.id, inc: m.incarnation, from: this.self.id };
    this.push(m.addr, msg, 'udp', messageSize(msg));
  }
}
