/**
 * ClusterNode on real sockets (UDP + TCP on 127.0.0.1, sealed with a cluster key), three in one process:
 * a member whose process is gone (sockets closed without a leave) is found by probes whose fallback ping
 * the kernel refuses (ECONNREFUSED), so they end at once instead of at the probe deadline; the member is
 * suspected, then failed. Fast timing (probe 200 ms) so the test is short; no time is asserted.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ClusterNode, Keyring, generateKey } from '../../src/cluster/index.js';
import { createLogger, setLogSink } from '../../src/log.js';
import type { MemberEvent } from '../../src/cluster/index.js';
import { until } from './_agents.js';

const SWIM = { probeIntervalMs: 200, probeTimeoutMs: 100, gossipIntervalMs: 50, suspicionMult: 2, suspicionMaxTimeoutMult: 3, pushPullIntervalMs: 0, reconnectIntervalMs: 0 };

/** Waits (bounded) until `cond` holds; throws naming `what` when it does not. */
const holds = (what: string, cond: () => boolean, ms: number): Promise<true> => until(what, async () => (cond() ? true : null), ms);

test('a member whose agent is gone is suspected through refused stream pings, then failed everywhere', async () => {
  const lines: string[] = [];
  const restore = setLogSink((l) => lines.push(l));
  const keyring = new Keyring(generateKey());
  const nodes: ClusterNode[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const seeds = i === 0 ? [] : [nodes[0]!.addr];
      const n = new ClusterNode({ id: `c${i}`, bindHost: '127.0.0.1', port: 0, keyring, seeds, swim: SWIM, log: createLogger({ node: i }) });
      await n.start();
      nodes.push(n);
    }
    const allAlive = () => nodes.every((n) => n.members().filter((m) => m.state === 'alive').length === 3);
    await holds('three members alive everywhere', allAlive, 10_000);

    const events: Array<[string, string]> = [];
    for (const n of nodes.slice(0, 2)) n.on('member', (ev: MemberEvent) => events.push([ev.type, ev.member.id]));
    await nodes[2]!.close(); // like a crash: no leave, both sockets gone, the host still answers
    const failed = () => nodes.slice(0, 2).every((n) => n.members().find((m) => m.id === 'c2')?.state === 'dead');
    await holds('c2 failed on both survivors', failed, 20_000);

    const refusals = nodes.slice(0, 2).reduce((s, n) => s + (n.health().transport.swim.stream_refusals ?? 0), 0);
    assert.ok(refusals >= 1, `probes ended by a refused stream ping: ${refusals}`);
    assert.ok(events.some(([t, id]) => t === 'suspect' && id === 'c2'), 'suspected before it failed: the suspect can still refute');
    assert.ok(nodes.slice(0, 2).every((n) => n.members().find((m) => m.id !== 'c2' && m.id !== n.health().self.id)?.state === 'alive'), 'the survivors see each other alive');
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
    restore();
  }
});

test.run();
