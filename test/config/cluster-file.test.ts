/** The cluster file (/etc/pleaco/cluster.yaml, as cloud-init writes it) and the seed settings. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, readClusterFile } from '../../src/config/index.js';
import { PleacoError } from '../../src/errors.js';
import { parseSeed } from '../../src/model/index.js';
import { tempDir } from '../helpers/tmp.js';

const KEY = Buffer.alloc(32, 7).toString('base64');

function file(text: string, mode = 0o600): string {
  const t = tempDir('pleaco-cf-');
  const p = join(t.dir, 'cluster.yaml');
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
}

function fails(fn: () => unknown, re: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, PleacoError);
    assert.is((err as PleacoError).code, 'invalid_config');
    assert.match((err as PleacoError).message, re);
    return;
  }
  assert.unreachable('accepted');
}

test('a cloud-init cluster file gives key, id, seeds, domain and labels', () => {
  const p = file(`key: ${KEY}\nid: prod-eu\nseeds: [10.0.0.5, seeds.example.com:7000, "[fd00::5]"]\ndomain: Apps.Example.com\nlabels: {zone: a, disk: ssd, gpu: 2}\n`);
  const f = readClusterFile(p);
  assert.equal(f.keys, [KEY]);
  assert.equal([f.id, f.domain], ['prod-eu', 'apps.example.com']);
  assert.equal(f.seeds, ['10.0.0.5:7946', 'seeds.example.com:7000', '[fd00::5]:7946']);
  assert.equal(f.labels, { zone: 'a', disk: 'ssd', gpu: '2' });
  const c = loadConfig({ PLEACO_CONFIG: '', PLEACO_CLUSTER_FILE: p, PLEACO_SEEDS: '10.0.0.6:7946' });
  assert.equal(c.cluster.seeds, ['10.0.0.5:7946', 'seeds.example.com:7000', '[fd00::5]:7946', '10.0.0.6:7946']);
  assert.equal([c.cluster.id, c.cluster.file, c.proxy.domain], ['prod-eu', p, 'apps.example.com']);
  assert.equal(c.cluster.labels, { zone: 'a', disk: 'ssd', gpu: '2' });
  assert.not.ok(JSON.stringify(c).includes(KEY), 'the key never lands in Config');
  assert.is(loadConfig({ PLEACO_CONFIG: '', PLEACO_CLUSTER_FILE: p, PLEACO_DOMAIN: 'other.test' }).proxy.domain, 'other.test');
});

test('a key readable by others is refused with the chmod to run', () => {
  const p = file(`key: ${KEY}\n`, 0o644);
  fails(() => readClusterFile(p), /readable by others \(mode 0644\): chmod 600/);
  // Without a key (seeds and labels only) the mode does not matter.
  assert.equal(readClusterFile(file('seeds: [10.0.0.5]\n', 0o644)).seeds, ['10.0.0.5:7946']);
});

test('bad cluster files say what is wrong, never quoting the key', () => {
  fails(() => readClusterFile(file('key: [1, 2]\n')), /key must be the base64 text/);
  fails(() => readClusterFile(file(`key: ${KEY}\nseed: [10.0.0.5]\n`)), /unknown field "seed"/);
  fails(() => readClusterFile(file(`key: ${KEY}\nseeds: [http://x]\n`)), /is not an address like/);
  fails(() => readClusterFile(file(`key: ${KEY}\nid: A\n`)), /id must be 3-63/);
  fails(() => readClusterFile(file(`key: ${KEY}\nlabels: {"Bad Key": x}\n`)), /label "Bad Key"/);
  fails(() => readClusterFile(file(`key: ${KEY}\n: : :\n  - [\n`)), /not valid YAML/);
  try {
    readClusterFile(file(`key: ${KEY}\nbogus: 1\n`));
  } catch (err) {
    assert.not.ok((err as Error).message.includes(KEY));
  }
});

test('PLEACO_SEEDS and the older PLEACO_JOIN: ip, ip:port, [v6]:port, DNS names; bad ones refused', () => {
  const c = loadConfig({ PLEACO_CONFIG: '', PLEACO_CLUSTER_FILE: '', PLEACO_SEEDS: '10.0.0.5, node-b.lan:7000', PLEACO_JOIN: '10.0.0.5:7946' });
  assert.equal(c.cluster.seeds, ['10.0.0.5:7946', 'node-b.lan:7000']);
  fails(() => loadConfig({ PLEACO_CONFIG: '', PLEACO_CLUSTER_FILE: '', PLEACO_SEEDS: '10.0.0.5:99999' }), /is not an address/);
  fails(() => loadConfig({ PLEACO_CONFIG: '', PLEACO_CLUSTER_FILE: '', PLEACO_MDNS: 'maybe' }), /PLEACO_MDNS must be true or false/);
  assert.is(loadConfig({ PLEACO_CONFIG: '', PLEACO_CLUSTER_FILE: '', PLEACO_MDNS: 'off' }).cluster.mdns, false);
  assert.equal(parseSeed('[fd00::5]:8000'), { text: '[fd00::5]:8000', host: 'fd00::5', port: 8000, kind: 'ip' });
  assert.equal(parseSeed('Seeds.Example.COM'), { text: 'seeds.example.com:7946', host: 'seeds.example.com', port: 7946, kind: 'dns' });
  for (const bad of ['', ':7946', '10.0.0.5:', 'a b', '[10.0.0.5]:1', 'x:0']) assert.is(parseSeed(bad), null, bad);
});

test('binding every address needs no advertise any more (the first interface address is announced)', () => {
  const c = loadConfig({ PLEACO_CONFIG: '', PLEACO_CLUSTER_FILE: '', PLEACO_CLUSTER_BIND: '0.0.0.0' });
  assert.equal([c.cluster.bindHost, c.cluster.advertise], ['0.0.0.0', null]);
});

test.run();
