/**
 * What the simulator measures, read only from the nodes' outputs (never from their internals): each
 * node's view of every other node as its events report it, when each node got each user broadcast,
 * and false positives: a member marked suspect or dead while it was up and reachable from the node
 * that marked it.
 */
import type { CoreOutput, MemberEvent } from '../../src/cluster/index.js';
import type { FakeNetwork, Host } from './network.js';

type View = 'alive' | 'suspect' | 'dead' | 'left';

const VIEW_OF: Record<MemberEvent['type'], View> = { join: 'alive', update: 'alive', alive: 'alive', suspect: 'suspect', dead: 'dead', leave: 'left' };

export class ViewTracker {
  /** observer id → subject id → state per the observer's latest event about it. */
  readonly views = new Map<string, Map<string, View>>();
  /** key → host id → virtual time the broadcast was delivered there. */
  readonly delivered = new Map<string, Map<string, number>>();
  /** Subjects wrongly marked, and how many (observer, subject) marks that was. */
  readonly fpSuspect = new Set<string>();
  readonly fpDead = new Set<string>();
  fpMarks = 0;
  /** Watched subject → observer → virtual time of the observer's latest 'dead' mark of it. */
  private readonly deadAt = new Map<string, Map<string, number>>();

  constructor(private readonly net: FakeNetwork) {}

  /** Starts recording when each observer marks these subjects dead (for exact detection times). */
  watch(subjects: string[]): void {
    for (const s of subjects) if (!this.deadAt.has(s)) this.deadAt.set(s, new Map());
  }

  /** The latest time any of `observers` marked any of `subjects` dead (all are, when called after detection). */
  lastDeadMark(observers: Host[], subjects: Host[]): number {
    let last = 0;
    for (const s of subjects) {
      const d = this.deadAt.get(s.id);
      for (const o of observers) last = Math.max(last, d?.get(o.id) ?? Infinity);
    }
    return last;
  }

  /** Feed for FakeNetworkOptions.onOutput. */
  observe(host: Host, out: CoreOutput, now: number): void {
    if (out.events.length) {
      let view = this.views.get(host.id);
      if (!view) this.views.set(host.id, (view = new Map()));
      for (const ev of out.events) {
        if (ev.member.id === host.id) continue;
        view.set(ev.member.id, VIEW_OF[ev.type]);
        const watched = this.deadAt.get(ev.member.id);
        if (watched) {
          if (ev.type === 'dead') watched.set(host.id, now);
          else watched.delete(host.id);
        }
        if (ev.type === 'suspect' || ev.type === 'dead') {
          const subject = this.net.byAddr.get(ev.member.addr);
          if (subject && subject.up && subject.id === ev.member.id && subject.group === host.group) {
            this.fpMarks++;
            (ev.type === 'dead' ? this.fpDead : this.fpSuspect).add(subject.id);
          }
        }
      }
    }
    for (const u of out.user) {
      let d = this.delivered.get(u.key);
      if (!d) this.delivered.set(u.key, (d = new Map()));
      if (!d.has(host.id)) d.set(host.id, now);
    }
  }

  resetFalsePositives(): void {
    this.fpSuspect.clear();
    this.fpDead.clear();
    this.fpMarks = 0;
  }

  /** How `observer` currently sees `subject` (undefined: never heard of it). */
  viewOf(observer: string, subject: string): View | undefined {
    return this.views.get(observer)?.get(subject);
  }

  /** Up hosts whose view of `subject` is not `state`. */
  countNotSeeing(subject: string, state: View): number {
    let n = 0;
    for (const h of this.net.hosts) if (h.up && h.id !== subject && this.viewOf(h.id, subject) !== state) n++;
    return n;
  }

  /**
   * True when every up host sees every other up host alive. Cheap to poll: it resumes at the first
   * pair that failed last time and only confirms a success with one full pass.
   */
  allSeeAllAlive(): boolean {
    const up = this.net.hosts.filter((h) => h.up);
    const ok = (i: number, j: number) => i === j || this.views.get(up[i]!.id)?.get(up[j]!.id) === 'alive';
    let i = Math.min(this.cursor, up.length);
    if (i > 0 && i < up.length) {
      // Resume: the earlier rows passed when last checked; the final full pass re-checks them.
      for (; i < up.length; i++) for (let j = 0; j < up.length; j++) if (!ok(i, j)) return (this.cursor = i), false;
    }
    for (i = 0; i < up.length; i++) for (let j = 0; j < up.length; j++) if (!ok(i, j)) return (this.cursor = i), false;
    this.cursor = 0;
    return true;
  }

  private cursor = 0;

  /** Up hosts that have got broadcast `key`. */
  deliveredCount(key: string): number {
    const d = this.delivered.get(key);
    if (!d) return 0;
    let n = 0;
    for (const h of this.net.hosts) if (h.up && d.has(h.id)) n++;
    return n;
  }

  /** Time the last up host got `key`, or undefined while some up host still misses it. */
  fullyDeliveredAt(key: string): number | undefined {
    const d = this.delivered.get(key);
    if (!d) return undefined;
    let last = 0;
    for (const h of this.net.hosts) {
      if (!h.up) continue;
      const t = d.get(h.id);
      if (t === undefined) return undefined;
      if (t > last) last = t;
    }
    return last;
  }
}
