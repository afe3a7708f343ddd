/**
 * The systemd units of a node (systemd/) and the cloud-init examples (cloud-init/), as a user relies on them:
 * `systemd-analyze verify` finds nothing to say, every service restarts always and says when it is ready
 * (Type=notify), only the agent, the builder and the runner reach the Docker socket, each runs sandboxed with the
 * capabilities docs/decisions.md names, and `systemd-analyze security --offline=yes` rates each at most
 * MAX_EXPOSURE. The example user-data writes a cluster file pleaco accepts, and pleaco-node (the first-boot script)
 * makes a first node's key, the join instructions and the console banner.
 *
 * systemd-analyze runs against a temp root: a copy of this host's systemd units, ours in /etc/systemd/system, and
 * stubs for the executables the units name (/usr/local/bin/node, /opt/pleaco/libexec/pleaco-node), which exist only
 * in the image.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { generateKey, parseKey } from '../../src/cluster/index.js';
import { loadConfig, readClusterFile } from '../../src/config/index.js';
import { tempDir } from '../helpers/tmp.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const UNITS = join(REPO, 'systemd');
const CLOUD = join(REPO, 'cloud-init');
/** The bound on `systemd-analyze security` exposure (0 safest .. 10): 3.5 is within systemd's "OK" band. */
const MAX_EXPOSURE = 3.5;
const SERVICES = ['agent', 'builder', 'runner', 'proxy'] as const;
/** Every unit with a process (templates by an instance: pleaco-retry@pleaco-agent). */
const ALL = [...SERVICES.map((s) => `pleaco-${s}.service`), 'pleaco-firstboot.service', 'pleaco-issue.service', 'pleaco-retry@pleaco-agent.service', 'pleaco-host.service', 'pleaco-update-gate.service'];
/** The capability bounding set of each unit (docs/decisions.md, "Systemd units"). */
const CAPS: Record<string, string> = {
  'pleaco-agent.service': '',
  'pleaco-builder.service': 'CAP_DAC_READ_SEARCH',
  'pleaco-runner.service': 'CAP_SYS_ADMIN CAP_SYS_PTRACE',
  'pleaco-proxy.service': 'CAP_NET_BIND_SERVICE',
  'pleaco-firstboot.service': '',
  'pleaco-issue.service': '',
  'pleaco-retry@pleaco-agent.service': '',
  'pleaco-host.service': '',
  'pleaco-update-gate.service': '',
};
const DOCKER = new Set(['pleaco-agent.service', 'pleaco-builder.service', 'pleaco-runner.service']);

const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const noAnalyze = analyze.error || analyze.status !== 0 ? 'systemd-analyze is missing (Debian package systemd)' : null;

/** A unit file's settings: every value of each key, in order, per section (no continuation lines in ours). */
function parseUnit(file: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      section = line.slice(1, -1);
      continue;
    }
    const eq = line.indexOf('=');
    const k = `${section}.${line.slice(0, eq)}`;
    out.set(k, [...(out.get(k) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

function unitFile(name: string): string {
  return join(UNITS, name.replace(/@[^.]+\./, '@.'));
}

function one(u: Map<string, string[]>, key: string): string | undefined {
  return u.get(key)?.at(-1);
}

/** The temp root systemd-analyze works in. */
function makeRoot(): { dir: string; cleanup: () => void } {
  const t = tempDir('pleaco-units-');
  const sys = join(t.dir, 'etc/systemd/system');
  mkdirSync(sys, { recursive: true });
  if (existsSync('/usr/lib/systemd/system')) cpSync('/usr/lib/systemd/system', join(t.dir, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  for (const f of readdirSync(UNITS)) if (/\.(service|target|path)$/.test(f)) cpSync(join(UNITS, f), join(sys, f));
  symlinkSync('pleaco-retry@.service', join(sys, 'pleaco-retry@pleaco-agent.service'));
  for (const exe of ['usr/local/bin/node', 'opt/pleaco/libexec/pleaco-node', 'bin/sleep', 'bin/systemctl']) {
    mkdirSync(join(t.dir, exe, '..'), { recursive: true });
    writeFileSync(join(t.dir, exe), '#!/bin/sh\n', { mode: 0o755 });
  }
  return t;
}

const root = noAnalyze ? null : makeRoot();
const maybe = noAnalyze ? test.skip : test;

maybe(`systemd-analyze verify: every unit loads with nothing to say${noAnalyze ? ` (skipped: ${noAnalyze})` : ''}`, () => {
  const sys = join(root!.dir, 'etc/systemd/system');
  const files = [...ALL, 'pleaco.target'].map((u) => join(sys, u));
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', `--root=${root!.dir}`, ...files], { encoding: 'utf8', timeout: 20_000 });
  assert.is(`${r.stdout}${r.stderr}`.trim(), '', 'verify warns or fails');
  assert.is(r.status, 0);
  // and it does catch a broken unit here (a setting it cannot parse, an executable that does not exist)
  const bad = join(sys, 'pleaco-bad.service');
  writeFileSync(bad, readFileSync(join(sys, 'pleaco-agent.service'), 'utf8').replace('Restart=always', 'Restart=alwayz').replace('/usr/local/bin/node', '/usr/local/bin/nodex'));
  const b = spawnSync('systemd-analyze', ['verify', '--man=no', `--root=${root!.dir}`, bad], { encoding: 'utf8', timeout: 20_000 });
  assert.match(b.stderr, /alwayz/);
  assert.match(b.stderr, /nodex is not executable/);
});

maybe(`systemd-analyze security --offline: every unit's exposure is at most ${MAX_EXPOSURE}`, () => {
  const scores: Record<string, number> = {};
  for (const u of ALL) {
    const r = spawnSync('systemd-analyze', ['security', '--offline=yes', `--root=${root!.dir}`, '--no-pager', u], { encoding: 'utf8', timeout: 20_000 });
    const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(r.stdout);
    assert.ok(m, `no score for ${u}: ${r.stderr}`);
    scores[u] = Number(m[1]);
  }
  console.log('exposure:', JSON.stringify(scores));
  for (const [u, s] of Object.entries(scores)) assert.ok(s <= MAX_EXPOSURE, `${u}: exposure ${s} > ${MAX_EXPOSURE}`);
});

test('the four services: Restart=always, Type=notify (NotifyAccess=all), after the agent and Docker, in pleaco.target', () => {
  for (const s of SERVICES) {
    const u = parseUnit(join(UNITS, `pleaco-${s}.service`));
    assert.is(one(u, 'Service.Restart'), 'always', s);
    assert.is(one(u, 'Service.Type'), 'notify', s);
    assert.is(one(u, 'Service.NotifyAccess'), 'all', s);
    assert.ok(Number(one(u, 'Service.RestartSec')) >= 1, `${s}: RestartSec`);
    assert.is(one(u, 'Service.ExecStart'), `/usr/local/bin/node /opt/pleaco/dist/src/main/${s}.js`);
    assert.ok(existsSync(join(REPO, `src/main/${s}.ts`)), `${s}: no entry point`);
    assert.ok(Number(one(u, 'Unit.StartLimitBurst')) > 1, `${s}: StartLimitBurst`);
    assert.is(one(u, 'Unit.OnFailure'), 'pleaco-retry@%N.service');
    assert.is(one(u, 'Install.WantedBy'), 'pleaco.target');
    assert.is(one(u, 'Unit.PartOf'), 'pleaco.target');
    const after = (u.get('Unit.After') ?? []).join(' ').split(/\s+/);
    assert.ok(after.includes('network-online.target'), `${s}: after network-online`);
    // The runner and builder need the engine to start; the agent only wants it started (it follows its health).
    if (s === 'runner' || s === 'builder') assert.ok(after.includes('docker.service'), `${s}: after docker`);
    if (s === 'agent') assert.ok((u.get('Unit.Wants') ?? []).join(' ').includes('docker.service'), 'agent: wants docker');
    if (s !== 'agent') assert.ok(after.includes('pleaco-agent.service'), `${s}: after the agent`);
    const env = (u.get('Service.EnvironmentFile') ?? []);
    assert.equal(env, ['-/run/pleaco/node.env', '-/etc/pleaco/pleaco.env'], `${s}: environment files, the admin's last`);
  }
  const agent = parseUnit(join(UNITS, 'pleaco-agent.service'));
  assert.ok((agent.get('Unit.After') ?? []).join(' ').includes('pleaco-firstboot.service'));
  const target = parseUnit(join(UNITS, 'pleaco.target'));
  assert.is(one(target, 'Install.WantedBy'), 'multi-user.target');
  for (const s of SERVICES) assert.ok(one(target, 'Unit.Wants')!.includes(`pleaco-${s}.service`));
  const boot = parseUnit(join(UNITS, 'pleaco-firstboot.service'));
  assert.is(one(boot, 'Service.Type'), 'oneshot');
  assert.ok(one(boot, 'Unit.After')!.includes('cloud-init.service'), 'first boot after cloud-init wrote its files');
  assert.not.ok(one(boot, 'Unit.After')!.includes('cloud-final'), 'cloud-final is after multi-user.target on Debian: a cycle');
});

test('sandboxing: read-only system, no new privileges, the named capabilities only; the Docker socket for agent, builder and runner only', () => {
  for (const name of ALL) {
    const u = parseUnit(unitFile(name));
    for (const [k, v] of [['ProtectSystem', 'strict'], ['NoNewPrivileges', 'yes'], ['PrivateTmp', 'yes'], ['ProtectKernelTunables', 'yes'], ['ProtectKernelModules', 'yes'], ['RestrictSUIDSGID', 'yes'], ['LockPersonality', 'yes']] as const) {
      assert.is(one(u, `Service.${k}`), v, `${name}: ${k}`);
    }
    assert.ok(['yes', 'tmpfs'].includes(one(u, 'Service.ProtectHome') ?? ''), `${name}: ProtectHome`);
    assert.is(one(u, 'Service.CapabilityBoundingSet'), CAPS[name], `${name}: capabilities`);
    assert.not.ok((u.get('Service.AmbientCapabilities') ?? ['']).some((v) => v !== ''), `${name}: ambient capabilities`);
    const denied = (u.get('Service.InaccessiblePaths') ?? []).join(' ').split(/\s+/);
    assert.is(denied.includes('-/run/docker.sock'), !DOCKER.has(name), `${name}: Docker socket ${DOCKER.has(name) ? 'reachable' : 'denied'}`);
    const writable = (u.get('Service.ReadWritePaths') ?? []).join(' ');
    assert.not.match(writable, /docker|^\/run$|\s\/run\s/, `${name}: writes what it must not`);
  }
  // the runner enters a container's network namespace (nsenter --net): only that kind of namespace
  assert.is(one(parseUnit(join(UNITS, 'pleaco-runner.service')), 'Service.RestrictNamespaces'), 'net');
});

test('the example user-data writes a cluster file (0600) that readClusterFile and loadConfig accept', () => {
  const text = readFileSync(join(CLOUD, 'user-data.example.yaml'), 'utf8');
  assert.ok(text.startsWith('#cloud-config\n'));
  const doc = parseYaml(text) as { write_files: { path: string; permissions: string; owner: string; content: string }[] };
  const entry = doc.write_files.find((f) => f.path === '/etc/pleaco/cluster.yaml');
  assert.ok(entry, 'no write_files entry for /etc/pleaco/cluster.yaml');
  assert.is(entry.permissions, '0600');
  assert.is(entry.owner, 'root:root');
  const t = tempDir('pleaco-ud-');
  try {
    const p = join(t.dir, 'cluster.yaml');
    writeFileSync(p, entry.content);
    chmodSync(p, parseInt(entry.permissions, 8));
    const f = readClusterFile(p);
    assert.is(f.keys.length, 1);
    parseKey(f.keys[0]!); // 32 bytes of base64
    assert.is(f.id, 'prod-eu');
    assert.equal(f.seeds, ['10.0.0.5:7946', 'seeds.example.com:7946']);
    assert.is(f.domain, 'apps.example.com');
    assert.equal(f.labels, { zone: 'a', disk: 'ssd' });
    // the optional unit settings it writes are PLEACO_* settings loadConfig takes
    const envFile = doc.write_files.find((x) => x.path === '/etc/pleaco/pleaco.env');
    const env: Record<string, string> = { PLEACO_CONFIG: '', PLEACO_CLUSTER_FILE: p, PLEACO_STATE_DIR: t.dir };
    for (const line of envFile?.content.split('\n') ?? []) if (/^PLEACO_[A-Z_]+=/.test(line)) env[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    const c = loadConfig(env);
    assert.is(c.proxy.domain, 'apps.example.com');
    assert.equal(c.cluster.seeds, ['10.0.0.5:7946', 'seeds.example.com:7946']);
  } finally {
    t.cleanup();
  }
  const meta = parseYaml(readFileSync(join(CLOUD, 'meta-data.example'), 'utf8')) as Record<string, string>;
  assert.ok(meta['instance-id']);
  assert.match(readFileSync(join(CLOUD, 'terraform/main.tf'), 'utf8'), /user_data\s*=/);
});

function runNodeScript(dir: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync('bash', [join(UNITS, 'pleaco-node'), ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: {
      PATH: process.env.PATH,
      PLEACO_CONFIG: '',
      PLEACO_NODE_BIN: process.execPath,
      PLEACO_BIN: join(REPO, 'bin/pleaco'),
      PLEACO_STATE_DIR: join(dir, 'state'),
      PLEACO_CLUSTER_FILE: join(dir, 'etc/cluster.yaml'),
      PLEACO_RUN_DIR: join(dir, 'run'),
      PLEACO_ISSUE_FILE: join(dir, 'issue'),
      PLEACO_NODE_ADDR: '10.9.8.7',
      PLEACO_CLUSTER_BIND: '0.0.0.0',
    },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('pleaco-node: a node without a key is told to make one (boot), then join.txt and the banner (issue); a second boot changes nothing', () => {
  assert.is(spawnSync('bash', ['-n', join(UNITS, 'pleaco-node')]).status, 0, 'bash syntax');
  const t = tempDir('pleaco-boot-');
  try {
    const r = runNodeScript(t.dir, ['boot']);
    assert.is(r.status, 0, r.out);
    const cf = join(t.dir, 'etc/cluster.yaml');
    assert.not.ok(existsSync(cf), 'boot wrote the cluster file: it is the agent\'s (PLEACO_INIT) and pleaco init\'s job');
    assert.is(readFileSync(join(t.dir, 'run/node.env'), 'utf8'), 'PLEACO_BIND_HOST=10.9.8.7\nPLEACO_CLUSTER_ADVERTISE=10.9.8.7\nPLEACO_INIT=1\n');
    assert.ok(readFileSync(join(t.dir, 'issue'), 'utf8').includes('http://10.9.8.7:7070'));
    const i = runNodeScript(t.dir, ['issue']);
    assert.is(i.status, 0, i.out);
    assert.is(statSync(cf).mode & 0o777, 0o600);
    const key = readClusterFile(cf).keys[0]!;
    parseKey(key);
    const joinTxt = join(t.dir, 'state/join.txt');
    assert.is(statSync(joinTxt).mode & 0o777, 0o600);
    const j = readFileSync(joinTxt, 'utf8');
    assert.ok(j.includes('#cloud-config') && j.includes(`key: ${key}`) && j.includes('seeds: [10.9.8.7:7946]'), j);
    const issue = readFileSync(join(t.dir, 'issue'), 'utf8');
    assert.ok(issue.includes('http://10.9.8.7:7070') && issue.includes(`${t.dir}/state/token`) && issue.includes('join.txt'), issue);
    assert.not.ok(issue.includes(key), 'the banner shows the key');
    assert.is(runNodeScript(t.dir, ['boot']).status, 0);
    assert.is(readFileSync(join(t.dir, 'run/node.env'), 'utf8'), 'PLEACO_BIND_HOST=10.9.8.7\nPLEACO_CLUSTER_ADVERTISE=10.9.8.7\n', 'a node with a key is not told to make one');
    assert.is(runNodeScript(t.dir, ['issue']).status, 0);
    assert.is(readClusterFile(cf).keys[0], key, 'a second boot made another key');
  } finally {
    t.cleanup();
  }
});

test('pleaco-node issue: the key the agent made (PLEACO_INIT, its key file) is the one written to the cluster file', () => {
  const t = tempDir('pleaco-boot-');
  try {
    mkdirSync(join(t.dir, 'state'), { recursive: true });
    const agentKey = generateKey();
    writeFileSync(join(t.dir, 'state/cluster.key'), `${agentKey}\n`, { mode: 0o600 });
    assert.is(runNodeScript(t.dir, ['boot']).status, 0);
    assert.not.ok(readFileSync(join(t.dir, 'run/node.env'), 'utf8').includes('PLEACO_INIT'), 'a key file is a key');
    const i = runNodeScript(t.dir, ['issue']);
    assert.is(i.status, 0, i.out);
    assert.is(readClusterFile(join(t.dir, 'etc/cluster.yaml')).keys[0], agentKey);
    assert.ok(readFileSync(join(t.dir, 'state/join.txt'), 'utf8').includes(`key: ${agentKey}`));
  } finally {
    t.cleanup();
  }
});

test.after(() => root?.cleanup());
test.run();
