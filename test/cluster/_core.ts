/**
 * What the pure-core suites (swim-suspicion, swim-dead, swim-fast) share: addresses by node id, a node n1 that
 * knows its peers alive (as after a join), and the messages an output sends, compound parts unpacked.
 */
import { SwimNode, seededRandom, type CoreOutput, type PacketPart, type PushPullMember, type SwimConfig } from '../../src/cluster/index.js';

export const addr = (id: string) => `127.0.0.${id.replace(/\D/g, '')}:7946`;
/** Peer ids n2, n3, ... (k of them). */
export const ids = (k: number) => Array.from({ length: k }, (_, i) => `n${i + 2}`);
export const stateOf = (n: SwimNode, id: string) => n.members().find((m) => m.id === id)!.state;

/**
 * A node `id` (default n1; push-pull and reconnects off, plus `config`) seeded with `seed`, that knows `others`
 * alive at incarnation 1 through a push-pull reply at time 0.
 */
export function nodeKnowing(others: string[], o: { id?: string; seed?: number; config?: Partial<SwimConfig> } = {}): SwimNode {
  const id = o.id ?? 'n1';
  const n = new SwimNode({ id, addr: addr(id), random: seededRandom(o.seed ?? 7), config: { pushPullIntervalMs: 0, reconnectIntervalMs: 0, ...o.config } });
  n.start(0);
  const members: PushPullMember[] = others.map((x) => ({ id: x, addr: addr(x), state: 'alive', inc: 1, meta: {} }));
  n.receive(addr(others[0]!), { t: 'push-pull', from: others[0]!, addr: addr(others[0]!), join: false, reply: true, members }, 0);
  return n;
}

/** Every message sent in `out` with its destination and channel, compound parts unpacked. */
export function sent(out: CoreOutput): { to: string; channel: string; msg: PacketPart }[] {
  return out.send.flatMap((s) => (s.msg.t === 'compound' ? s.msg.parts : [s.msg as PacketPart]).map((msg) => ({ to: s.to, channel: s.channel, msg })));
}

/** Every message sent in `outs`, compound parts unpacked. */
export function parts(outs: CoreOutput[]): PacketPart[] {
  return outs.flatMap((o) => sent(o).map((s) => s.msg));
}
