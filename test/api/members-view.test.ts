/**
 * What the agent tells its subsystems about the members (the watch stream's `members` event): itself always, and
 * `ready` only once a full state exchange with a peer completed after the agent started — a node back from an
 * absence must not act on state that may be behind. The cluster member is a fake here (the sync's figures are what
 * the real Replica reports; test/cluster/owner.test.ts runs real agents).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { membersView, type ClusterView } from '../../src/api/index.js';

function fakeCluster(members: { id: string; state: 'alive' | 'suspect' | 'dead' | 'left' }[], syncedAt: number): ClusterView {
  return {
    members: () => members.map((m) => ({ ...m, addr: '127.0.0.1:1', incarnation: 1, meta: {}, since: 0 })),
    health: () => ({ sync: { syncedAt } }) as unknown as ReturnType<ClusterView['health']>,
    on: () => undefined,
    off: () => undefined,
  };
}

test('a node on its own is ready and sees itself alive', () => {
  assert.equal(membersView({ nodeId: 'a', cluster: null }), { self: 'a', members: [{ id: 'a', state: 'alive' }], ready: true });
});

test('with live peers: not ready until a full sync completed after the agent started', () => {
  const peers = [{ id: 'b', state: 'alive' as const }, { id: 'c', state: 'dead' as const }];
  const before = membersView({ nodeId: 'a', cluster: fakeCluster(peers, Date.now() - 3600_000) });
  assert.is(before.ready, false, 'a sync from before this start does not count');
  assert.equal(before.members.map((m) => m.id), ['a', 'b', 'c']);
  assert.is(membersView({ nodeId: 'a', cluster: fakeCluster(peers, 0) }).ready, false, 'never synced');
  assert.is(membersView({ nodeId: 'a', cluster: fakeCluster(peers, Date.now()) }).ready, true);
});

test('peers known but none alive (the others are down): ready, it is the cluster for now', () => {
  assert.is(membersView({ nodeId: 'a', cluster: fakeCluster([{ id: 'b', state: 'dead' }], 0) }).ready, true);
});

test.run();
