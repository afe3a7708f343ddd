import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fixedAbove, isAffected, matchInventory } from '../../src/scan/match.js';
import { cvss2BaseScore, cvss3BaseScore, severityOf } from '../../src/scan/severity.js';
import { atLeast } from '../../src/model/index.js';
import type { AdvisoryLookup, OsvAffected, OsvEvent, OsvRecord, Package } from '../../src/model/index.js';
import { compareDebian, compareFor, compareGo, compareNpm, comparePep440, normalizeName } from '../../src/scan/versions/index.js';

// Test records: small OSV-shaped advisories written for these tests (not real advisories).

const range = (type: string, ...events: OsvEvent[]): OsvAffected => ({ ranges: [{ type, events }] });
const affectedBy = (a: OsvAffected, cmp: (x: string, y: string) => number, yes: string[], no: string[]): void => {
  for (const v of yes) assert.ok(isAffected(v, a, cmp), `${v} should be affected`);
  for (const v of no) assert.not.ok(isAffected(v, a, cmp), `${v} should not be affected`);
};

test('a version inside [introduced, fixed) is affected; the fixed version itself is not', () => {
  const a = range('SEMVER', { introduced: '0' }, { fixed: '4.17.21' });
  affectedBy(a, compareNpm, ['0.0.1', '4.17.20', '4.17.21-rc.1'], ['4.17.21', '4.17.22', '5.0.0']);
  assert.is(fixedAbove('4.17.20', a, compareNpm), '4.17.21');
  assert.is(fixedAbove('4.17.21', a, compareNpm), undefined);
});

test('last_affected is inclusive; introduced is inclusive; below introduced is not affected', () => {
  const a = range('ECOSYSTEM', { introduced: '1.0.0' }, { last_affected: '1.2.0' });
  affectedBy(a, compareNpm, ['1.0.0', '1.1.9', '1.2.0'], ['0.9.9', '1.2.1', '1.0.0-beta.1']);
});

test('limit bounds a range from above; a "*" limit is infinity; no events after introduced "0" means every version', () => {
  affectedBy(range('SEMVER', { introduced: '0' }, { limit: '2.0.0' }), compareNpm, ['1.9.9'], ['2.0.0', '3.0.0']);
  affectedBy(range('SEMVER', { introduced: '0' }, { limit: '*' }), compareNpm, ['99.0.0'], []);
  affectedBy(range('ECOSYSTEM', { introduced: '0' }), compareDebian, ['0~', '1:9.9-9'], []);
});

test('several introduced/fixed pairs and several ranges are OR-ed, in any event order', () => {
  const pairs = [{ introduced: '1.0.0' }, { fixed: '1.0.2' }, { introduced: '3.0.0' }, { fixed: '3.2.5' }];
  const shuffled = [pairs[3]!, pairs[0]!, pairs[2]!, pairs[1]!];
  for (const events of [pairs, shuffled]) {
    affectedBy({ ranges: [{ type: 'SEMVER', events }] }, compareNpm, ['1.0.0', '1.0.1', '3.0.0', '3.2.4'], ['0.9.0', '1.0.2', '2.0.0', '3.2.5']);
  }
  const two: OsvAffected = { ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.5' }] }, { type: 'ECOSYSTEM', events: [{ introduced: '2.0' }, { fixed: '2.1.3' }] }] };
  affectedBy(two, comparePep440, ['1.4', '2.0', '2.1.2'], ['1.5', '1.9', '2.1.3']);
  assert.is(fixedAbove('1.0.1', { ranges: [{ type: 'SEMVER', events: pairs }] }, compareNpm), '1.0.2');
  assert.is(fixedAbove('3.0.0', { ranges: [{ type: 'SEMVER', events: shuffled }] }, compareNpm), '3.2.5');
});

test('an explicit versions list matches those versions only (PyPI: equal under PEP 440); GIT ranges are ignored', () => {
  const listed: OsvAffected = { versions: ['1.0', '1.0.1'] };
  affectedBy(listed, comparePep440, ['1.0', '1.0.0', '1.0.1'], ['1.0.2', '0.9']);
  const git: OsvAffected = { ranges: [{ type: 'GIT', repo: 'https://example.invalid/x.git', events: [{ introduced: '0' }, { fixed: 'a'.repeat(40) }] }] };
  affectedBy(git, compareNpm, [], ['1.0.0']);
});

test('ECOSYSTEM order is the ecosystem\'s: Debian deb12u9 < deb12u10, Alpine _rc1 < final, Go pseudo-versions', () => {
  affectedBy(range('ECOSYSTEM', { introduced: '0' }, { fixed: '2.36-9+deb12u10' }), compareDebian, ['2.36-9+deb12u9', '2.36-9'], ['2.36-9+deb12u10', '2.36-10']);
  affectedBy(range('ECOSYSTEM', { introduced: '0' }, { fixed: '1.2.3-r0' }), compareFor('Alpine:v3.19')!, ['1.2.3_rc1-r0', '1.2.2-r9'], ['1.2.3-r0', '1.2.3_p1-r0']);
  affectedBy(range('SEMVER', { introduced: '0' }, { fixed: '0.17.0' }), compareGo, ['v0.0.0-20230101120000-abcdef123456', 'v0.16.0'], ['v0.17.0']);
});

test('a malformed range or an unparseable version throws from isAffected (the walk below turns that into a skip)', () => {
  assert.throws(() => isAffected('1.0.0', range('SEMVER', { fixed: '1.0.0' }), compareNpm), /no "introduced"/);
  assert.throws(() => isAffected('1.0.0', { ranges: [{ type: 'SEMVER', events: [{ introduced: '0', fixed: '2.0.0' }] }] }, compareNpm), /bad event/);
  assert.throws(() => isAffected('not-a-version', range('SEMVER', { introduced: '1.0.0' }), compareNpm), /invalid npm version/);
});

/** A fake AdvisoryLookup over in-memory test records (the real one reads the advisory DB). */
function fakeLookup(records: OsvRecord[]): AdvisoryLookup {
  return {
    lookup: (ecosystem, name) =>
      records.filter((r) => r.affected?.some((a) => a.package?.ecosystem === ecosystem && normalizeName(ecosystem, a.package.name) === name)),
  };
}

const pkg = (p: Partial<Package> & Pick<Package, 'type' | 'ecosystem' | 'name' | 'version'>): Package => ({
  purl: `pkg:${p.type}/${p.name}@${p.version}`, locations: ['/x'], ...p,
});

const TEST_OPENSSL: OsvRecord = {
  id: 'TEST-DSA-0001-1', aliases: ['CVE-0000-0001'], summary: 'test record: openssl',
  affected: [{ package: { ecosystem: 'Debian:12', name: 'openssl' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.13-1~deb12u1' }] }] }],
};

test('Debian packages are looked up by source package and compared by source version; a bare "Debian" matches nothing', () => {
  const inv = {
    packages: [
      pkg({ type: 'deb', ecosystem: 'Debian:12', name: 'libssl3', version: '3.0.11-1~deb12u2+b1', sourceName: 'openssl', sourceVersion: '3.0.11-1~deb12u2' }),
      pkg({ type: 'deb', ecosystem: 'Debian:12', name: 'openssl', version: '3.0.13-1~deb12u1', sourceName: 'openssl', sourceVersion: '3.0.13-1~deb12u1' }),
      pkg({ type: 'deb', ecosystem: 'Debian', name: 'libssl1', version: '1.0-1', sourceName: 'openssl' }),
    ],
  };
  const noRelease: OsvRecord = { ...TEST_OPENSSL, id: 'TEST-NORELEASE', affected: [{ ...TEST_OPENSSL.affected![0]!, package: { ecosystem: 'Debian', name: 'openssl' } }] };
  const { findings, skipped } = matchInventory(inv, fakeLookup([TEST_OPENSSL, noRelease]));
  assert.is(findings.length, 1);
  assert.is(findings[0]!.package.name, 'libssl3');
  assert.is(findings[0]!.package.sourceVersion, '3.0.11-1~deb12u2');
  assert.is(findings[0]!.fixed, '3.0.13-1~deb12u1');
  assert.equal(findings[0]!.aliases, ['CVE-0000-0001']);
  assert.equal(skipped, []);
});

test('PyPI names are matched after PEP 503 normalization (installed "Requests", advisory "requests")', () => {
  const rec: OsvRecord = { id: 'TEST-PYSEC-1', affected: [{ package: { ecosystem: 'PyPI', name: 'requests' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '2.31.0' }] }] }] };
  const inv = { packages: [pkg({ type: 'pypi', ecosystem: 'PyPI', name: 'Requests', version: '2.28.1' }), pkg({ type: 'pypi', ecosystem: 'PyPI', name: 'requests', version: '2.31.0' })] };
  const { findings } = matchInventory(inv, fakeLookup([rec]));
  assert.equal(findings.map((f) => `${f.package.name}@${f.package.version}`), ['Requests@2.28.1']);
});

test('withdrawn records are skipped; bad versions and malformed ranges are reported, not thrown', () => {
  const withdrawn: OsvRecord = { ...TEST_OPENSSL, id: 'TEST-WITHDRAWN', withdrawn: '2024-01-01T00:00:00Z' };
  const npmRec = (id: string, events: OsvEvent[]): OsvRecord => ({ id, affected: [{ package: { ecosystem: 'npm', name: 'left-pad' }, ranges: [{ type: 'SEMVER', events }] }] });
  const inv = {
    packages: [
      pkg({ type: 'deb', ecosystem: 'Debian:12', name: 'openssl', version: '3.0.11-1~deb12u2' }),
      pkg({ type: 'npm', ecosystem: 'npm', name: 'left-pad', version: 'not-a-version' }),
    ],
  };
  const r1 = matchInventory(inv, fakeLookup([withdrawn, npmRec('TEST-GHSA-1', [{ introduced: '0' }])]));
  assert.equal(r1.findings, []);
  assert.is(r1.skipped.length, 1);
  assert.is(r1.skipped[0]!.id, 'TEST-GHSA-1');
  assert.is(r1.skipped[0]!.package, 'left-pad@not-a-version');
  assert.match(r1.skipped[0]!.reason, /invalid npm version/);
  const ok = { packages: [pkg({ type: 'npm', ecosystem: 'npm', name: 'left-pad', version: '1.0.0' })] };
  const r2 = matchInventory(ok, fakeLookup([npmRec('TEST-GHSA-2', [{ fixed: '2.0.0' }]), npmRec('TEST-GHSA-3', [{ introduced: '0' }, { fixed: 'soon' }])]));
  assert.equal(r2.findings, []);
  assert.equal(r2.skipped.map((s) => s.id), ['TEST-GHSA-2', 'TEST-GHSA-3']);
});

test('one finding per advisory and package (locations merged); sorted by severity, then package name', () => {
  const rec = (id: string, name: string, severity: string): OsvRecord => ({
    id, database_specific: { severity },
    affected: [
      { package: { ecosystem: 'npm', name }, ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '9.0.0' }] }] },
      { package: { ecosystem: 'npm', name }, versions: ['1.0.0'] },
    ],
  });
  const inv = {
    packages: [
      pkg({ type: 'npm', ecosystem: 'npm', name: 'b-lib', version: '1.0.0', locations: ['/app/node_modules/b-lib'] }),
      pkg({ type: 'npm', ecosystem: 'npm', name: 'b-lib', version: '1.0.0', locations: ['/app/node_modules/x/node_modules/b-lib'] }),
      pkg({ type: 'npm', ecosystem: 'npm', name: 'a-lib', version: '1.0.0' }),
      pkg({ type: 'npm', ecosystem: 'npm', name: 'c-lib', version: '1.0.0' }),
    ],
  };
  const { findings } = matchInventory(inv, fakeLookup([rec('TEST-1', 'a-lib', 'LOW'), rec('TEST-2', 'b-lib', 'HIGH'), rec('TEST-3', 'c-lib', 'HIGH')]));
  assert.equal(findings.map((f) => [f.id, f.severity]), [['TEST-2', 'high'], ['TEST-3', 'high'], ['TEST-1', 'low']]);
  assert.equal(findings[0]!.package.locations, ['/app/node_modules/b-lib', '/app/node_modules/x/node_modules/b-lib']);
  assert.is(findings[0]!.fixed, '9.0.0');
});

test('CVSS v3 base scores match the published scores of real vectors', () => {
  const published: Array<[string, number]> = [
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 10.0], // CVE-2021-44228 (Log4Shell), NVD
    ['CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H', 7.8], // CVE-2023-4911 (glibc "Looney Tunables"), NVD
    ['CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N', 6.1], // CVE-2013-1937 (phpMyAdmin XSS), FIRST v3.0 examples
    ['CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N', 7.5], // CVE-2014-0160 (Heartbleed), FIRST v3.0 examples
    ['CVSS:3.0/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N', 3.1], // CVE-2014-3566 (POODLE), FIRST v3.0 examples
  ];
  for (const [vector, score] of published) assert.is(cvss3BaseScore(vector), score, vector);
  assert.is(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N'), 0);
  assert.is(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:C'), 9.8); // temporal metrics do not change the base
  for (const bad of ['AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H', 'CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
    'CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N']) {
    assert.is(cvss3BaseScore(bad), null, bad);
  }
  assert.is(cvss2BaseScore('AV:N/AC:L/Au:N/C:N/I:N/A:C'), 7.8); // CVE-2002-0392, CVSS v2 guide
  assert.is(cvss2BaseScore('AV:N/AC:L/Au:N/C:C/I:C/A:C'), 10.0); // CVE-2003-0818, CVSS v2 guide
});

test('severityOf: a v3 vector first, v4 passed over, then database labels, then Debian urgency, else unknown', () => {
  const v3 = (score: string) => [{ type: 'CVSS_V3', score }];
  const base: OsvRecord = { id: 'TEST-SEV' };
  assert.equal(severityOf({ ...base, severity: v3('CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H'), database_specific: { severity: 'LOW' } }), { severity: 'high', score: 7.8 });
  assert.equal(severityOf(base, { severity: v3('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H') }), { severity: 'critical', score: 10 });
  assert.equal(severityOf({ ...base, severity: [{ type: 'CVSS_V4', score: 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N' }], database_specific: { severity: 'MODERATE' } }), { severity: 'medium' });
  assert.equal(severityOf(base, { database_specific: { severity: 'CRITICAL' } }), { severity: 'critical' });
  assert.equal(severityOf(base, { ecosystem_specific: { urgency: 'unimportant' } }), { severity: 'low' });
  assert.equal(severityOf(base, { ecosystem_specific: { urgency: 'high' } }), { severity: 'high' });
  assert.equal(severityOf(base, { ecosystem_specific: { urgency: 'not yet assigned' } }), { severity: 'unknown' });
  assert.equal(severityOf(base), { severity: 'unknown' });
  assert.equal(severityOf({ ...base, severity: v3('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N') }), { severity: 'unknown', score: 0 });
  assert.equal(severityOf({ ...base, severity: v3('CVSS:3.0/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N') }), { severity: 'low', score: 3.1 });
});

test('atLeast: unknown ranks below low', () => {
  assert.ok(atLeast('critical', 'high'));
  assert.ok(atLeast('high', 'high'));
  assert.not.ok(atLeast('medium', 'high'));
  assert.not.ok(atLeast('unknown', 'low'));
  assert.ok(atLeast('unknown', 'unknown'));
  assert.ok(atLeast('low', 'unknown'));
});

test.run();
