/** What a node announces over mDNS and how a heard announcement is judged (pure: real keys, no network). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateKey, Keyring, clusterIdOf } from '../../src/cluster/index.js';
import { announcementTxt, instanceLabel, judgeAnnouncement, type HeardAnnouncement } from '../../src/discovery/index.js';

const key = generateKey();
const ring = new Keyring(key);
const cluster = ring.clusterId();
const heard = (txt: Record<string, string>, goodbye = false): HeardAnnouncement => ({ instance: 'b', txt, port: 7946, from: '10.0.0.2', goodbye });
const txtOf = (node: string, addr: string, signer = ring, c = cluster) => announcementTxt({ cluster: c, node, addr, version: '0.1.0' }, signer);

test('a peer of this cluster is judged a peer, with its signed address', () => {
  const v = judgeAnnouncement(heard(txtOf('node-b', '10.0.0.2:7946')), { cluster, node: 'node-a' }, ring);
  assert.equal(v, { kind: 'peer', node: 'node-b', addr: '10.0.0.2:7946', goodbye: false });
});

test('the TXT never holds the key, only a MAC of the fields', () => {
  const txt = txtOf('node-b', '10.0.0.2:7946');
  const all = Object.values(txt).join(' ');
  assert.not.ok(all.includes(key));
  assert.not.ok(all.includes(Buffer.from(key, 'base64').toString('hex')));
  assert.is(txt.sig!.length, 22);
});

test('the cluster id is the same from the key on every node, and differs for another key', () => {
  assert.is(clusterIdOf(key), cluster);
  assert.is(new Keyring(key).clusterId(), cluster);
  assert.is.not(new Keyring(generateKey()).clusterId(), cluster);
  assert.match(cluster, /^c-[0-9a-f]{12}$/);
});

test('another cluster id is foreign (other-cluster); the same id with another key is foreign (wrong-key)', () => {
  const other = new Keyring(generateKey());
  const a = judgeAnnouncement(heard(txtOf('node-x', '10.0.0.9:7946', other, other.clusterId())), { cluster, node: 'node-a' }, ring);
  assert.equal(a, { kind: 'foreign', reason: 'other-cluster', node: 'node-x', cluster: other.clusterId() });
  const b = judgeAnnouncement(heard(txtOf('node-x', '10.0.0.9:7946', other, cluster)), { cluster, node: 'node-a' }, ring);
  assert.equal(b, { kind: 'foreign', reason: 'wrong-key', node: 'node-x', cluster });
});

test('a copied announcement pointed at another address fails its signature', () => {
  const txt = { ...txtOf('node-b', '10.0.0.2:7946'), addr: '10.0.0.66:7946' };
  assert.is(judgeAnnouncement(heard(txt), { cluster, node: 'node-a' }, ring).kind, 'foreign');
});

test('a previous key of the ring still verifies (rotation)', () => {
  const next = new Keyring(generateKey(), [key]);
  const v = judgeAnnouncement(heard(txtOf('node-b', '10.0.0.2:7946', ring, cluster)), { cluster, node: 'node-a' }, next);
  assert.is(v.kind, 'peer');
});

test('own announcements, malformed ones and goodbyes', () => {
  assert.equal(judgeAnnouncement(heard(txtOf('node-a', '10.0.0.1:7946')), { cluster, node: 'node-a' }, ring), { kind: 'self' });
  assert.is(judgeAnnouncement(heard({ pv: '1', cluster }), { cluster, node: 'node-a' }, ring).kind, 'malformed');
  assert.is(judgeAnnouncement(heard({ ...txtOf('node-b', '10.0.0.2:7946'), pv: '9' }), { cluster, node: 'node-a' }, ring).kind, 'malformed');
  const noAddr = judgeAnnouncement(heard({ ...txtOf('node-b', 'seeds.example.com:7946') }), { cluster, node: 'node-a' }, ring);
  assert.equal(noAddr, { kind: 'malformed', why: 'no ip:port address' });
  const bye = judgeAnnouncement(heard(txtOf('node-b', '10.0.0.2:7946'), true), { cluster, node: 'node-a' }, ring);
  assert.equal(bye, { kind: 'peer', node: 'node-b', addr: '10.0.0.2:7946', goodbye: true });
});

test('instance labels are DNS labels made from node ids', () => {
  assert.is(instanceLabel('pleaco-test-1-ab12cd'), 'pleaco-test-1-ab12cd');
  assert.is(instanceLabel('Node_7.example'), 'node-7-example');
  assert.is(instanceLabel('x'.repeat(100)).length, 63);
  assert.is(instanceLabel('___'), 'pleaco-node');
});

test.run();
