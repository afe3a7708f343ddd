import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import {
  compareApk, compareDebian, compareFor, compareGo, compareNpm, comparePep440, goToSemver, isValidApk, isValidDebian,
  normalizeName, parsePep440,
} from '../../src/scan/versions/index.js';

/** Asserts that `list` is strictly ascending under `cmp`, checking every pair (and both directions). */
function ascending(cmp: (a: string, b: string) => number, list: string[]): void {
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      assert.ok(cmp(list[i]!, list[j]!) < 0, `${list[i]} < ${list[j]}`);
      assert.ok(cmp(list[j]!, list[i]!) > 0, `${list[j]} > ${list[i]}`);
    }
  }
}

const equal = (cmp: (a: string, b: string) => number, a: string, b: string): void => assert.is(cmp(a, b), 0, `${a} == ${b}`);

test('dpkg: tilde before everything, epochs first, revision at the last hyphen, numbers as numbers', () => {
  ascending(compareDebian, ['1.0~~', '1.0~~a', '1.0~', '1.0', '1.0a', '1.0+', '1.0.', '1.0.1']); // deb-version(7)
  ascending(compareDebian, ['1.0~rc1', '1.0', '2.0', '1:0.1']);
  ascending(compareDebian, ['2.36-9+deb12u3', '2.36-9+deb12u9', '2.36-9+deb12u14']);
  ascending(compareDebian, ['1.0-1', '1.0-1+b1', '1.0-2', '1.0-10']);
  ascending(compareDebian, ['3.0.11-1~deb12u2', '3.0.11-1', '3.0.13-1~deb12u1', '3.0.15-1~deb12u1']);
  ascending(compareDebian, ['1.0-beta-1', '1.0-beta-2', '1.0.1-1']); // upstream "1.0-beta", revision "1"
  ascending(compareDebian, ['1.9', '1.10', '1.100']);
  equal(compareDebian, '1.010', '1.10');
  equal(compareDebian, '0:1.2.3', '1.2.3');
  equal(compareDebian, '1.0', '1.0-0');
});

test('dpkg: what dpkg rejects throws; isValidDebian also wants what dpkg only warns about', () => {
  for (const bad of ['', '1:', 'a:1.0', '1.0-', '1 0', '-1']) assert.throws(() => compareDebian(bad, '1.0'), undefined, bad);
  for (const ok of ['1.0', '1:2.36-9+deb12u3', '3.0.11-1~deb12u2', '20230311.0-1']) assert.ok(isValidDebian(ok), ok);
  for (const bad of ['', 'a1.0', '1.0_1', '1.0-1:2', '1.0-']) assert.not.ok(isValidDebian(bad), bad);
});

/** Real dpkg on this host, or else inside the debian image (a labelled container removed afterwards). */
function withDpkg<T>(fn: (run: (args: string[]) => number) => T): T {
  if (spawnSync('dpkg', ['--version']).status === 0) return fn((args) => spawnSync('dpkg', args).status ?? -1);
  const labels = ['--label', 'io.pleaco.managed=true', '--label', 'io.pleaco.role=test-dpkg-oracle'];
  const started = spawnSync('docker', ['run', '-d', ...labels, 'debian:bookworm-slim', 'sleep', '600'], { encoding: 'utf8' });
  assert.is(started.status, 0, `no dpkg on this host and the debian image did not start: ${started.stderr}`);
  const id = started.stdout.trim();
  try {
    return fn((args) => spawnSync('docker', ['exec', id, 'dpkg', ...args]).status ?? -1);
  } finally {
    spawnSync('docker', ['rm', '-f', id]);
  }
}

test('dpkg: sorting real and tricky versions gives the order dpkg --compare-versions gives', () => {
  const versions = [
    '2.36-9+deb12u14', '1:2.0', '1.0~rc1', '3.0.11-1~deb12u2', '2.36-9+deb12u3', '1.0', '1.0-1+b1', '0.9.8zh-1',
    '1.0~rc1~git20230101', '7.88.1-10+deb12u5', '7.88.1-10+deb12u12', '1.0a', '1.0+dfsg-1', '1.0.0', '2.4.57-2',
    '1.0-1', '252.22-1~deb12u1', '252.33-1~deb12u1', '5.2.15-2+b7', '5.2.15-2+b2', '1.2.13.dfsg-1', '1.2.13~rc1-1',
  ];
  const sorted = [...versions].sort(compareDebian);
  withDpkg((dpkg) => {
    for (let i = 0; i + 1 < sorted.length; i++) {
      const [a, b] = [sorted[i]!, sorted[i + 1]!];
      const op = compareDebian(a, b) === 0 ? 'eq' : 'lt';
      assert.is(dpkg(['--compare-versions', a, op, b]), 0, `dpkg agrees that ${a} ${op} ${b}`);
    }
  });
});

test('apk: suffix ranks, letters, revisions and leading zeros as apk-tools orders them', () => {
  ascending(compareApk, ['1.2.3_rc1-r0', '1.2.3-r0', '1.2.3-r1', '1.2.3_p1-r0']);
  ascending(compareApk, ['1.0_alpha', '1.0_beta', '1.0_pre', '1.0_rc', '1.0', '1.0_cvs', '1.0_svn', '1.0_git', '1.0_hg', '1.0_p']);
  ascending(compareApk, ['1.2.3', '1.2.3a', '1.2.3b', '1.2.3.1', '1.2.4']);
  ascending(compareApk, ['1.0_p9-r0', '1.0_p10-r0', '1.3.2']);
  ascending(compareApk, ['0.1.0_alpha_pre2', '0.1.0_alpha', '0.1.0_alpha2']);
  ascending(compareApk, ['1.02', '1.1']); // a leading zero compares as a string (1.02 < 1.1)
  ascending(compareApk, ['2.9.11_pre20051101', '2.9.11_pre20051101-r3', '2.9.11_pre20061021-r1']);
  ascending(compareApk, ['3.0.0-r2', '021109-r3', '20060512']); // the first number compares numerically
  equal(compareApk, '2.16.1-r3', '2.16.1-r3');
  for (const bad of ['', '1.0bc', '1.2_foo', '1.0-r', '1.0-1', 'v1.0', '1.2a3']) {
    assert.not.ok(isValidApk(bad), bad);
    assert.throws(() => compareApk(bad, '1.0'), undefined, bad);
  }
});

test('PEP 440: the ordering PEP 440 gives, zero padding, epochs, local versions', () => {
  ascending(comparePep440, ['1.0.dev1', '1.0a1', '1.0b2.post3', '1.0rc1', '1.0', '1.0.post1', '1.1']);
  ascending(comparePep440, [
    '1.dev0', '1.0.dev456', '1.0a1', '1.0a2.dev456', '1.0a12.dev456', '1.0a12', '1.0b1.dev456', '1.0b2',
    '1.0b2.post345.dev456', '1.0b2.post345', '1.0rc1.dev456', '1.0rc1', '1.0', '1.0+abc.5', '1.0+abc.7', '1.0+5',
    '1.0.post456.dev34', '1.0.post456', '1.0.15', '1.1.dev1',
  ]);
  equal(comparePep440, '1.0', '1.0.0');
  ascending(comparePep440, ['2.0', '1!0.5']);
  ascending(comparePep440, ['1.9', '1.10']);
});

test('PEP 440: alternative spellings normalize to one version; non-versions are rejected', () => {
  const same: Array<[string, string]> = [
    ['1.0-ALPHA.1', '1.0a1'], ['1.0c1', '1.0rc1'], ['1.0pre2', '1.0rc2'], ['1.0preview', '1.0rc0'], ['1.0-1', '1.0.post1'],
    ['1.0rev', '1.0.post0'], ['1.0_r_2', '1.0.post2'], ['v1.0', '1.0'], ['1.0-dev', '1.0.dev0'], ['01.02', '1.2'],
    ['1.0+Ubuntu-1', '1.0+ubuntu.1'],
  ];
  for (const [a, b] of same) {
    assert.is(parsePep440(a)?.normalized, b, a);
    equal(comparePep440, a, b);
  }
  assert.is(parsePep440('1!2.0b3.post4.dev5+x.7')?.normalized, '1!2.0b3.post4.dev5+x.7');
  for (const bad of ['', 'latest', '1.0.x', '1.0+', '1.0+a..b', '1.0.post1.post2']) {
    assert.is(parsePep440(bad), null, bad);
    assert.throws(() => comparePep440(bad, '1.0'), undefined, bad);
  }
});

test('npm: SemVer precedence, prereleases below their release, build metadata ignored, loose parsing', () => {
  ascending(compareNpm, [
    '1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0',
  ]); // semver.org §11
  equal(compareNpm, '1.0.0+build.5', '1.0.0');
  equal(compareNpm, 'v1.2.3', '1.2.3');
  assert.throws(() => compareNpm('1.2', '1.2.0'));
  assert.throws(() => compareNpm('latest', '1.2.0'));
});

test('Go: module versions without the v; pseudo-versions are prereleases; toolchain versions mapped', () => {
  ascending(compareGo, ['v0.0.0-20230101120000-abcdef123456', 'v0.0.0-20240101120000-abcdef123456', 'v0.1.0', '0.17.0']);
  equal(compareGo, 'v2.0.0+incompatible', '2.0.0');
  assert.is(goToSemver('go1.21'), '1.21.0');
  assert.is(goToSemver('go1.22rc2'), '1.22.0-rc.2');
  ascending(compareGo, ['go1.21rc2', 'go1.21.0', 'go1.21.5', '1.22.0']);
  assert.throws(() => compareGo('v1.2', '1.2.0'));
});

test('compareFor picks the ordering by OSV ecosystem; normalizeName follows PEP 503 for PyPI only', () => {
  assert.is(compareFor('Debian:12'), compareDebian);
  assert.is(compareFor('Debian'), compareDebian);
  assert.is(compareFor('Alpine:v3.19'), compareApk);
  assert.is(compareFor('PyPI'), comparePep440);
  assert.is(compareFor('npm'), compareNpm);
  assert.is(compareFor('Go'), compareGo);
  for (const other of ['Maven', 'crates.io', 'Ubuntu:22.04:LTS', 'pypi', '']) assert.is(compareFor(other), null, other);
  assert.is(normalizeName('PyPI', 'Requests'), 'requests');
  assert.is(normalizeName('PyPI', 'zope.interface'), 'zope-interface');
  assert.is(normalizeName('PyPI', 'Foo__Bar-._baz'), 'foo-bar-baz');
  assert.is(normalizeName('npm', '@Scope/Pkg_x'), '@Scope/Pkg_x');
  assert.is(normalizeName('Debian:12', 'Foo'), 'Foo');
});

test.run();
