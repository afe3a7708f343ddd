/** `pleaco init`: the first node's key, and user-data that really joins another node (parsed as cloud-init would). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { initCluster } from '../../src/main/init.js';
import { run } from '../../src/cli/index.js';
import { readClusterFile, loadConfig } from '../../src/config/index.js';
import { loadKeyring } from '../../src/main/cluster.js';
import { PleacoError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

function envFor(dir: string): NodeJS.ProcessEnv {
  return { PLEACO_CONFIG: '', PLEACO_STATE_DIR: join(dir, 'state'), PLEACO_CLUSTER_FILE: join(dir, 'etc', 'cluster.yaml'), PLEACO_CLUSTER_BIND: '10.9.8.7' };
}

async function cli(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(argv, {
    out: { out: (l) => void (out += l + '\n'), err: (l) => void (err += l + '\n'), color: false, errColor: false },
    connect: () => { throw new Error('init must not talk to an agent'); },
    version: 'test',
    init: (o) => initCluster(env, o),
  });
  return { code, out, err };
}

test('a node without a key refuses to start its cluster member, saying how to get one', () => {
  const t = tempDir('pleaco-init-');
  try {
    loadKeyring(loadConfig(envFor(t.dir)));
    assert.unreachable('started without a key');
  } catch (err) {
    assert.instance(err, PleacoError);
    assert.match((err as Error).message, /no cluster key: on the first node of a cluster run `pleaco init`/);
  }
});

test('pleaco init writes a key 0600 and prints user-data that cloud-init turns into a working cluster file', async () => {
  const t = tempDir('pleaco-init-');
  const env = envFor(t.dir);
  const r = await cli(['init'], env);
  assert.is(r.code, 0, r.err);
  const path = env.PLEACO_CLUSTER_FILE!;
  assert.is(statSync(path).mode & 0o777, 0o600);
  const mine = readClusterFile(path);
  assert.is(mine.keys.length, 1);
  assert.match(r.out, /^Made cluster c-[0-9a-f]{12}: its key is in /);
  // The #cloud-config block, as cloud-init would read it.
  const start = r.out.indexOf('#cloud-config');
  const end = r.out.indexOf('\nor run this as root');
  const userData = parseYaml(r.out.slice(start, end)) as { write_files: { path: string; permissions: string; content: string }[] };
  const wf = userData.write_files[0]!;
  assert.equal([wf.path, wf.permissions], [path, '0600']);
  const other = join(t.dir, 'other.yaml');
  writeFileSync(other, wf.content);
  chmodSync(other, 0o600);
  const joined = readClusterFile(other);
  assert.equal(joined.keys, mine.keys);
  assert.equal(joined.seeds, ['10.9.8.7:7946']);
  // The same key gives the same keyring on the joining node.
  const ring = loadKeyring(loadConfig({ ...envFor(join(t.dir, 'b')), PLEACO_CLUSTER_FILE: other }));
  assert.match(r.out, new RegExp(ring.clusterId()));
  // The shell variant carries the same file through stdin.
  assert.match(r.out, /install -m 600 \/dev\/stdin .*cluster\.yaml <<'EOF'\nkey: /);
});

test('pleaco init on a node that has a key changes nothing and prints the same key', async () => {
  const t = tempDir('pleaco-init-');
  const env = envFor(t.dir);
  await cli(['init'], env);
  const before = readFileSync(env.PLEACO_CLUSTER_FILE!, 'utf8');
  const again = await cli(['init', '--json'], env);
  assert.is(again.code, 0);
  const j = JSON.parse(again.out) as { created: boolean; key: string };
  assert.is(j.created, false);
  assert.is(readFileSync(env.PLEACO_CLUSTER_FILE!, 'utf8'), before);
  assert.ok(before.includes(`key: ${j.key}`));
  const renamed = await cli(['init', '--id', 'other-name'], env);
  assert.is(renamed.code, 1);
  assert.match(renamed.err, /already belongs to cluster c-[0-9a-f]{12}; pleaco init changes nothing/);
  assert.is(readFileSync(env.PLEACO_CLUSTER_FILE!, 'utf8'), before);
});

test('pleaco init --id names the cluster; --seed sets the printed address; a loopback member is warned about', async () => {
  const t = tempDir('pleaco-init-');
  const env = envFor(t.dir);
  const r = await cli(['init', '--id', 'prod-eu', '--seed', 'node-1.lan:7000'], env);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /Made cluster prod-eu/);
  assert.match(r.out, /seeds: \[node-1\.lan:7000\]/);
  assert.match(r.out, /      id: prod-eu/);
  assert.is(readClusterFile(env.PLEACO_CLUSTER_FILE!).id, 'prod-eu');
  const t2 = tempDir('pleaco-init-');
  const local = await cli(['init'], { ...envFor(t2.dir), PLEACO_CLUSTER_BIND: '127.0.0.1' });
  assert.match(local.err, /warning: other nodes cannot reach this one yet: its cluster member listens on 127\.0\.0\.1 only/);
  const bad = await cli(['init', '--id', 'X'], envFor(tempDir('pleaco-init-').dir));
  assert.is.not(bad.code, 0);
  assert.match(bad.err, /--id must be 3-63/);
});

test('PLEACO_INIT: the first node creates its key file 0600 when it has none', () => {
  const t = tempDir('pleaco-init-');
  const cfg = loadConfig({ ...envFor(t.dir), PLEACO_INIT: '1' });
  mkdirSync(cfg.stateDir, { recursive: true });
  const ring = loadKeyring(cfg);
  assert.is(statSync(join(cfg.stateDir, 'cluster.key')).mode & 0o777, 0o600);
  assert.is(loadKeyring(cfg).clusterId(), ring.clusterId(), 'made once');
});

test.run();
