/**
 * The pure parts of images between nodes: chain IDs (as the OCI image spec defines them), the bounds on an image
 * config from a peer, the labels that decide whether it may be loaded, and what the records say about an image.
 */
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PleacoError } from '../../src/errors.js';
import { keys, type Build, type Release, type SlotStatus, type StateReader } from '../../src/model/index.js';
import { chainIds, imageRecords, parseImageConfig } from '../../src/runtime/index.js';

const d = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;

function reader(entries: Record<string, unknown>): StateReader {
  return {
    get: <T>(k: string) => entries[k] as T | undefined,
    list: <T>(prefix: string) => Object.keys(entries).sort().filter((k) => k.startsWith(prefix)).map((key) => ({ key, value: entries[key] as T })),
  };
}

test('chain IDs: the first is the first diffID, each next one hashes the previous chain, a space and the diffID', () => {
  const [a, b, c] = [d('a'), d('b'), d('c')];
  const chains = chainIds([a, b, c]);
  assert.is(chains[0], a);
  assert.is(chains[1], d(`${a} ${b}`));
  assert.is(chains[2], d(`${chains[1]} ${c}`));
  assert.equal(chainIds([]), []);
  // The same layer on another base is another chain: it is not "present" because its diffID is.
  assert.is.not(chainIds([c, b])[1], chains[1]);
});

test('an image config from a peer: its layers and labels, within bounds', () => {
  const cfg = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));
  const good = parseImageConfig(cfg({ rootfs: { type: 'layers', diff_ids: [d('a'), d('b')] }, config: { Labels: { 'io.pleaco.managed': 'true', n: 1 } } }));
  assert.equal(good.diffIds, [d('a'), d('b')]);
  assert.equal(good.labels, { 'io.pleaco.managed': 'true' }, 'labels that are no strings are left out');
  const refused = (o: unknown, why: RegExp): void => {
    try {
      parseImageConfig(typeof o === 'string' ? Buffer.from(o) : cfg(o));
      assert.unreachable(`accepted ${JSON.stringify(o).slice(0, 80)}`);
    } catch (err) {
      assert.instance(err, PleacoError);
      assert.match((err as Error).message, why);
    }
  };
  refused('{not json', /not JSON/);
  refused({ rootfs: { type: 'layers' } }, /no rootfs/);
  refused({ rootfs: { type: 'layers', diff_ids: [] } }, /0 layers/);
  refused({ rootfs: { type: 'layers', diff_ids: Array.from({ length: 201 }, (_, i) => d(String(i))) } }, /201 layers/);
  refused({ rootfs: { type: 'layers', diff_ids: ['sha256:../../../etc/passwd'] } }, /not a sha256 digest/);
  refused({ rootfs: { type: 'layers', diff_ids: [d('a')] }, config: { Labels: ['x'] } }, /labels are not a map/);
});

test('the records: which members should have an image, and its tag; null when no record of the app names it', () => {
  const img = d('image');
  const build: Build = { id: 'b7', app: 'web', ref: 'main', status: 'succeeded', stage: 'done', trigger: 'api', createdAt: '2026-01-01T00:00:00Z', node: 'n1', image: 'pleaco/web:b7', imageId: img };
  const release = { app: 'web', number: 3, imageId: img, image: 'pleaco/web:b7', build: 'b7' } as Release;
  const slot = (node: string, rel: number, state: SlotStatus['state'] = 'running'): SlotStatus => ({ app: 'web', slot: 'web#0', node, release: rel, containerId: 'c', state, host: '127.0.0.1', hostPort: 1, restarts: 0, since: '' });
  const state = reader({
    [keys.build('web', 'b7')]: build,
    [keys.release('web', 3)]: release,
    [keys.slot('n2', 'web', 0)]: slot('n2', 3),
    [keys.slot('n3', 'web', 0)]: slot('n3', 2), // another release: not this image
    [keys.slot('n4', 'web', 1)]: slot('n4', 3, 'crashed'),
    [keys.slot('n5', 'other', 0)]: { ...slot('n5', 3), app: 'other' },
  });
  assert.equal(imageRecords(state, 'web', img), { nodes: ['n1', 'n2'], tag: 'pleaco/web:b7' });
  assert.is(imageRecords(state, 'web', d('other')), null);
  assert.is(imageRecords(state, 'other', img), null, 'another app\'s records do not name it');
});

test.run();
