/**
 * Host updates (issue #16): the records of a rollout and the versions it orders.
 *
 *   update/desired          DesiredHost   (`pleaco update:start`: the host version the cluster should run)
 *   update/bad/<version>    BadVersion    (a version a node could not become healthy on: the rollout halts)
 *   obs/<node>/host         HostStatus    (that node's agent: its slot, version and where it is in the update)
 *
 * Host versions: what `make release VERSION=…` stamps into an image (IMAGE_VERSION in its os-release) and into a
 * bundle's manifest. Dot-separated numbers with an optional `-suffix` (`1`, `1.4.2`, `2.0.0-rc1`); ordered part by
 * part as numbers, a version with a suffix before the same version without one. systemd-boot orders the loader
 * entries by the same field (strverscmp), so a newer version is also the entry it boots first.
 */
import { PleacoError } from '../errors.js';

export const HOST_VERSION_RE = /^\d{1,9}(\.\d{1,9}){0,3}(-[0-9A-Za-z.]{1,32})?$/;

export function isHostVersion(v: unknown): v is string {
  return typeof v === 'string' && HOST_VERSION_RE.test(v);
}

export function hostVersion(v: unknown, what = 'version'): string {
  if (!isHostVersion(v)) throw new PleacoError('bad_request', `${what} ${JSON.stringify(String(v).slice(0, 60))} is not a host version (numbers and dots, like 1.4.2 or 2.0.0-rc1)`);
  return v;
}

/** <0 when a is older than b, 0 when equal, >0 when newer. */
export function compareVersions(a: string, b: string): number {
  const [an, as = null] = splitSuffix(a);
  const [bn, bs = null] = splitSuffix(b);
  const ap = an.split('.').map(Number);
  const bp = bn.split('.').map(Number);
  for (let i = 0; i < Math.max(ap.length, bp.length); i++) {
    const d = (ap[i] ?? 0) - (bp[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  if (as === bs) return 0;
  if (as === null) return 1; // 2.0.0 is newer than 2.0.0-rc1
  if (bs === null) return -1;
  return as < bs ? -1 : 1;
}

function splitSuffix(v: string): [string, string?] {
  const i = v.indexOf('-');
  return i < 0 ? [v] : [v.slice(0, i), v.slice(i + 1)];
}

/** Where a bundle came from: the node that took `update:start` (it holds the bundle) and the URL it fetched, if any. */
export interface BundleOrigin {
  node: string;
  url?: string;
}

export interface DesiredHost {
  version: string;
  /** The bundle's id (SHA-256 of its signed manifest): what nodes fetch from each other and check. */
  bundle: string;
  origin: BundleOrigin;
  /** Nodes updating at once (default 1). */
  maxUnavailable: number;
  /** ISO; who started it (the node whose API took the command). */
  at: string;
  by: string;
}

export interface BadVersion {
  version: string;
  node: string;
  reason: string;
  at: string;
}

/**
 * Where a node is in an update. idle: nothing to do (or done); fetching: getting the bundle; staging: writing it to
 * the spare slot; staged: written, waiting for its turn (note says for what); draining: its turn, replicas moving away; rebooting: into the new
 * slot (on trial); verifying: booted into it, not yet healthy and rejoined; failed: a step failed here (error says
 * which; retried); rolled-back: the new slot did not become healthy and the node booted back into the old one.
 */
export const HOST_STATES = ['idle', 'fetching', 'staging', 'staged', 'draining', 'rebooting', 'verifying', 'failed', 'rolled-back'] as const;
export type HostState = (typeof HOST_STATES)[number];

export interface HostStatus {
  node: string;
  /** The slot it booted from ('a' or 'b'; null off the golden image: no host updates there). */
  slot: 'a' | 'b' | null;
  /** The host version it runs (IMAGE_VERSION of its os-release; null off the golden image). */
  version: string | null;
  state: HostState;
  /** The version the state is about (the desired one), null when idle with nothing to do. */
  target: string | null;
  /** Bundle ids this node holds and serves to its peers. */
  bundles: string[];
  /** The kernel's boot id when this was written: a status from an earlier boot tells what happened across a reboot. */
  boot: string;
  /** Whether this node drained itself for the update (it undrains itself after). */
  drained: boolean;
  /** Why it waits, or what it does (shown by `pleaco update:status`). */
  note: string | null;
  error: string | null;
  /** When the state last changed (ISO): a node in flight for too long is reported as stalled. */
  at: string;
}

export const hostKeys = {
  desired: 'update/desired',
  bad: (version: string) => `update/bad/${version}`,
  badPrefix: 'update/bad/',
  status: (node: string) => `obs/${node}/host`,
};
