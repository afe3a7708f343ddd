/**
 * The rollout of a host version through the cluster, without a leader: every node decides its own next step from
 * the replicated records (the desired version, the versions marked bad, every node's host status) and the members it
 * sees. Pure: the agent's updater (updater.ts) acts on the step.
 *
 * The order: the members ranked by rendezvous hashing of the version (any node with the same member list computes
 * the same order). A node's turn comes when fewer than `maxUnavailable` nodes are in flight (draining, rebooting or
 * verifying a new slot) and every live node ranked before it that does not run the version yet is in flight too.
 * A node that is off is skipped and catches up when it returns; a node in flight that is off is waited for (it is
 * rebooting), and the wait is reported as stalled after `stallMs`. Two nodes that both started (their views
 * differed) settle it while draining, before either reboots: the committed ones (rebooting, verifying) and then the
 * earlier ranked keep going, the others yield and wait.
 *
 * A node whose status from an earlier boot says it was rebooting into (or verifying) the version and that runs another
 * one came back into its old slot: the new one did not become healthy. It marks the version bad, which halts the rollout on
 * every node.
 */
import { compareVersions, type DesiredHost, type HostState, type HostStatus } from '../model/index.js';
import { candidate, hashName, topK } from '../scale/index.js';

export interface RolloutView {
  self: string;
  desired: DesiredHost | null;
  bad: ReadonlySet<string>;
  /** This node's host version (null: not a golden-image node, no host updates). */
  running: string | null;
  /** This boot's id (/proc/sys/kernel/random/boot_id). */
  boot: string;
  live: ReadonlySet<string>;
  /** Every member this node knows of, alive or not (not forgotten). */
  members: readonly string[];
  statuses: ReadonlyMap<string, HostStatus>;
  /** This node holds the desired bundle, verified. */
  have: boolean;
  /** The bundle is written to this node's spare slot. */
  staged: boolean;
  now: number;
  stallMs: number;
}

export type Step =
  | { kind: 'none'; why: string }
  | { kind: 'halted'; why: string }
  | { kind: 'rolled-back'; why: string }
  | { kind: 'fetch' }
  | { kind: 'stage' }
  | { kind: 'wait'; why: string; stalled: boolean }
  | { kind: 'go' }
  | { kind: 'yield'; why: string };

const IN_FLIGHT: readonly HostState[] = ['draining', 'rebooting', 'verifying'];
const COMMITTED: readonly HostState[] = ['rebooting', 'verifying'];

/** The members in the order the version goes through them. */
export function rolloutOrder(version: string, members: readonly string[]): string[] {
  const unique = [...new Set(members)];
  return topK(hashName(`host-update/${version}`), unique.map((m) => candidate(m)), unique.length).map((c) => c.id);
}

function runsIt(s: HostStatus | undefined, version: string): boolean {
  return !!s?.version && compareVersions(s.version, version) >= 0 && s.state !== 'verifying';
}

function inFlight(s: HostStatus | undefined, version: string): boolean {
  return !!s && s.target === version && IN_FLIGHT.includes(s.state);
}

export function decide(v: RolloutView): Step {
  if (v.running === null) return { kind: 'none', why: 'this node does not run the golden image: its host is not updated by pleaco' };
  const d = v.desired;
  if (!d) return { kind: 'none', why: 'no host update was started' };
  const mine = v.statuses.get(v.self);
  if (mine && mine.target === d.version && COMMITTED.includes(mine.state) && mine.boot !== v.boot && v.running !== d.version) {
    return { kind: 'rolled-back', why: `this node did not become healthy on ${d.version} and booted back into ${v.running}` };
  }
  if (v.bad.has(d.version)) return { kind: 'halted', why: `${d.version} is marked bad` };
  if (compareVersions(v.running, d.version) >= 0) return { kind: 'none', why: `this node runs ${v.running}` };
  if (!v.have) return { kind: 'fetch' };
  if (!v.staged) return { kind: 'stage' };
  return turn(v, d);
}

function turn(v: RolloutView, d: DesiredHost): Step {
  const order = rolloutOrder(d.version, [...v.members, v.self]);
  const rank = new Map(order.map((id, i) => [id, i]));
  const status = (n: string): HostStatus | undefined => v.statuses.get(n);
  const flying = order.filter((n) => n !== v.self && inFlight(status(n), d.version));
  const k = Math.max(1, d.maxUnavailable);
  if (v.statuses.get(v.self)?.state === 'draining') {
    // Started: keep going unless k others are ahead of this node (committed ones first, then by rank).
    const before = flying.filter((n) => COMMITTED.includes(status(n)!.state) || rank.get(n)! < rank.get(v.self)!);
    if (before.length >= k) return { kind: 'yield', why: `${before.join(', ')} ${before.length === 1 ? 'is' : 'are'} updating too` };
    return { kind: 'go' };
  }
  if (flying.length >= k) {
    const stalled = flying.filter((n) => !v.live.has(n) && v.now - Date.parse(status(n)!.at) > v.stallMs);
    if (stalled.length > 0) return { kind: 'wait', why: `stalled: ${stalled.join(', ')} has not come back from its update since ${status(stalled[0]!)!.at}`, stalled: true };
    return { kind: 'wait', why: `${flying.join(', ')} ${flying.length === 1 ? 'is' : 'are'} updating`, stalled: false };
  }
  const mine = rank.get(v.self)!;
  const pending = order.slice(0, mine).filter((n) => v.live.has(n) && !runsIt(status(n), d.version) && !inFlight(status(n), d.version));
  if (pending.length + flying.length >= k) return { kind: 'wait', why: `${pending[0] ?? flying[0]} goes before this node`, stalled: false };
  return { kind: 'go' };
}

/**
 * Where to fetch a bundle from, best first: live peers that say they hold it (their host status), then the node that
 * took the update (when live and not listed yet), then the URL it was fetched from, if any.
 */
export function fetchSources(v: Pick<RolloutView, 'self' | 'live' | 'statuses'>, d: DesiredHost): ({ peer: string } | { url: string })[] {
  const out: ({ peer: string } | { url: string })[] = [];
  for (const [node, s] of [...v.statuses.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (node !== v.self && v.live.has(node) && s.bundles.includes(d.bundle)) out.push({ peer: node });
  }
  const origin = d.origin.node;
  if (origin !== v.self && v.live.has(origin) && !out.some((o) => 'peer' in o && o.peer === origin)) out.push({ peer: origin });
  if (d.origin.url) out.push({ url: d.origin.url });
  return out;
}
