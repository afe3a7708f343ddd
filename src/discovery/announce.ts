/**
 * What a node says about itself over mDNS, and how a heard announcement is judged. Pure.
 *
 * The TXT record (anyone on the link reads it) holds the protocol version, the cluster id, the node id, the address
 * the node's cluster member is reached at, its pleaco version, and `sig`: a MAC of those fields under the cluster key
 * (Keyring.mac). The key never leaves the node; a node with another key cannot make a `sig` that verifies, so it is
 * never joined, and a copied announcement can only point at the node that made it (its address is signed).
 */
import { NODE_ID_RE, parseSeed } from '../model/index.js';

const LABEL = 'mdns-announce v1';
export const PROTOCOL = '1';

/** The Keyring's MAC functions (cluster/crypto.ts), which discovery needs and nothing more of the key. */
export interface AnnounceSigner {
  mac(label: string, data: string): string;
  verifyMac(label: string, data: string, mac: string): boolean;
}

/** One announcement as the mDNS adapter hands it over (src/discovery/mdns.ts `MdnsAnnouncement`). */
export interface HeardAnnouncement {
  instance: string;
  txt: Record<string, string>;
  port: number;
  from: string;
  goodbye: boolean;
}

export interface SelfAnnouncement {
  cluster: string;
  node: string;
  /** ip:port of this node's cluster member. */
  addr: string;
  version: string;
}

function signed(t: { pv: string; cluster: string; node: string; addr: string; ver: string }): string {
  return [t.pv, t.cluster, t.node, t.addr, t.ver].join('\n');
}

/** The TXT strings of this node's announcement, signed. */
export function announcementTxt(self: SelfAnnouncement, signer: AnnounceSigner): Record<string, string> {
  const t = { pv: PROTOCOL, cluster: self.cluster, node: self.node, addr: self.addr, ver: self.version.slice(0, 32) };
  return { ...t, sig: signer.mac(LABEL, signed(t)) };
}

/** The mDNS instance label of a node: its id as a DNS label (a-z, 0-9, '-', at most 63). */
export function instanceLabel(nodeId: string): string {
  const label = nodeId.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
  return label || 'pleaco-node';
}

export type Verdict =
  | { kind: 'peer'; node: string; addr: string; goodbye: boolean }
  | { kind: 'self' }
  | { kind: 'foreign'; reason: 'other-cluster' | 'wrong-key'; node: string; cluster: string }
  | { kind: 'malformed'; why: string };

/**
 * Judges a heard announcement: a peer of this cluster (its id and a signature that verifies with a key this node
 * holds), this node itself, a foreign node (another cluster id, or this id with a signature that does not verify),
 * or malformed.
 */
export function judgeAnnouncement(a: HeardAnnouncement, self: { cluster: string; node: string }, signer: AnnounceSigner): Verdict {
  const t = a.txt;
  const node = t.node ?? '';
  if (!NODE_ID_RE.test(node)) return { kind: 'malformed', why: 'no valid node id' };
  if (node === self.node) return { kind: 'self' };
  const cluster = (t.cluster ?? '').slice(0, 63);
  if (t.pv !== PROTOCOL) return { kind: 'malformed', why: `protocol ${JSON.stringify((t.pv ?? '').slice(0, 8))}` };
  if (cluster !== self.cluster) return { kind: 'foreign', reason: 'other-cluster', node, cluster };
  const addr = parseSeed(t.addr);
  if (!addr || addr.kind !== 'ip' || addr.text !== t.addr) return { kind: 'malformed', why: 'no ip:port address' };
  const fields = { pv: t.pv, cluster, node, addr: t.addr, ver: t.ver ?? '' };
  if (!signer.verifyMac(LABEL, signed(fields), t.sig ?? '')) return { kind: 'foreign', reason: 'wrong-key', node, cluster };
  return { kind: 'peer', node, addr: addr.text, goodbye: a.goodbye };
}
