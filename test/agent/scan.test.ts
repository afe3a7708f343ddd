/**
 * The scan gate and policies: evaluate() (threshold, unknown severity, allow-list by id or alias, expiry),
 * the report bound (fitReport), Go toolchain versions, and the policy routes of a real agent API (validation,
 * inheritance from the cluster default, allow-list add/remove).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fitReport } from '../../src/scan/stage.js';
import type { Finding, Severity } from '../../src/model/index.js';
import { goPackages } from '../../src/scan/inventory/go.js';
import { compareGo } from '../../src/scan/versions/index.js';
import { evaluate } from '../../src/scan/policy.js';
import type { EffectivePolicy } from '../../src/model/index.js';
import type { ScanReport } from '../../src/model/index.js';
import { PleacoError } from '../../src/errors.js';
import { startTestAgent } from '../helpers/agent.js';

function finding(id: string, severity: Severity, aliases: string[] = []): Finding {
  return { id, aliases, severity, package: { type: 'npm', ecosystem: 'npm', name: 'lodash', version: '4.17.20', purl: 'pkg:npm/lodash@4.17.20', locations: ['/app/node_modules/lodash/package.json'] }, fixed: '4.17.21' };
}
const NOW = new Date('2026-11-25T00:00:00Z');
const entry = (id: string, until: string) => ({ id, until, reason: 'test', addedAt: NOW.toISOString(), scope: 'app' as const });

test('a finding at or above the threshold blocks; below, unknown or allowed ones do not', () => {
  const fs = [finding('A', 'critical'), finding('B', 'high'), finding('C', 'medium'), finding('D', 'unknown'), finding('GHSA-x', 'high', ['CVE-2021-1'])];
  const policy: Pick<EffectivePolicy, 'failOn' | 'allow'> = { failOn: 'high', allow: [entry('CVE-2021-1', '2026-12-01T00:00:00Z'), entry('B', '2026-11-01T00:00:00Z')] };
  const v = evaluate(fs, policy, NOW);
  assert.equal(v.blocking.map((f) => f.id), ['A', 'B'], 'B is allowed only until a past date');
  assert.equal(v.allowed.map((a) => a.finding.id), ['GHSA-x'], 'allowed through its CVE alias');
  assert.equal(v.expired, ['B']);
  assert.equal(evaluate(fs, { failOn: 'none', allow: [] }, NOW).blocking, []);
  assert.equal(evaluate(fs, { failOn: 'low', allow: [] }, NOW).blocking.map((f) => f.id), ['A', 'B', 'C', 'GHSA-x'], 'unknown never blocks');
});

test('a report with too many findings is cut to fit one state entry, most severe kept', () => {
  const findings = Array.from({ length: 3000 }, (_, i) => ({ ...finding(`GHSA-${i}`, i < 10 ? 'critical' : 'low'), summary: 'x'.repeat(200), blocking: i < 10 }));
  const r = { findings, truncated: 0, expired: [] } as unknown as ScanReport;
  fitReport(r);
  assert.ok(Buffer.byteLength(JSON.stringify(r)) <= 900 * 1024);
  assert.is(r.findings.length + r.truncated, 3000);
  assert.ok(r.findings.slice(0, 10).every((f) => f.blocking), 'the blocking findings are kept');
});

test('Go toolchain versions in a binary become the stdlib semver the Go advisories compare with', () => {
  for (const [toolchain, want] of [['go1.20', 'v1.20.0'], ['go1.22rc2', 'v1.22.0-rc.2'], ['go1.19.8', 'v1.19.8']] as const) {
    const [pkg] = goPackages({ goVersion: toolchain, modInfo: '' }, '/usr/bin/x');
    assert.equal([pkg!.name, pkg!.version], ['stdlib', want]);
    assert.ok(compareGo(pkg!.version, '1.22.1') < 0);
  }
});

test('policy routes: validation, cluster default, inheritance, allow-list', async () => {
  const a = await startTestAgent();
  try {
    await a.client.request('POST', '/v1/apps', { body: { name: 'pol', repo: 'file:///srv/git/pol.git' } });
    const patch = (path: string, body: unknown) => a.client.request<{ policy: EffectivePolicy }>('PATCH', path, { body });
    const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: PleacoError) => e.code);
    assert.is(await code(patch('/v1/apps/pol/scan-policy', { failon: 'high' })), 'bad_request', 'a misspelt field is refused, not ignored');
    assert.is(await code(patch('/v1/apps/pol/scan-policy', { failOn: 'severe' })), 'bad_request');
    assert.is(await code(patch('/v1/apps/pol/scan-policy', { inherit: 'true' })), 'bad_request');
    assert.is(await code(patch('/v1/apps/pol/scan-policy', { allow: { id: 'GHSA-35jh-r3h4-6jhm', reason: 'ok', until: '2099-01-01' } })), 'bad_request', 'more than two years ahead, and too short a reason');
    assert.is(await code(patch('/v1/apps/pol/scan-policy', { allow: { id: 'GHSA-35jh-r3h4-6jhm', reason: 'not reachable', until: '2020-01-01' } })), 'bad_request', 'already past');
    assert.is(await code(patch('/v1/apps/pol/scan-policy', { remove: ['GHSA-none'] })), 'not_found');
    assert.is(await code(patch('/v1/apps/nope/scan-policy', { failOn: 'high' })), 'not_found');

    let p = (await a.client.request<{ policy: EffectivePolicy }>('GET', '/v1/apps/pol/scan-policy')).policy;
    assert.equal([p.failOn, p.from], ['critical', 'default']);
    await patch('/v1/scan/policy', { failOn: 'medium' });
    p = (await a.client.request<{ policy: EffectivePolicy }>('GET', '/v1/apps/pol/scan-policy')).policy;
    assert.equal([p.failOn, p.from], ['medium', 'cluster']);
    const until = new Date(Date.now() + 30 * 86_400_000).toISOString();
    p = (await patch('/v1/apps/pol/scan-policy', { failOn: 'high', allow: { id: 'GHSA-35jh-r3h4-6jhm', reason: 'no user input reaches templates', until } })).policy;
    assert.equal([p.failOn, p.from, p.allow.map((x) => [x.id, x.scope])], ['high', 'app', [['GHSA-35jh-r3h4-6jhm', 'app']]]);
    p = (await patch('/v1/apps/pol/scan-policy', { inherit: true, remove: ['GHSA-35jh-r3h4-6jhm'] })).policy;
    assert.equal([p.failOn, p.from, p.allow], ['medium', 'cluster', []]);
    assert.is(await code(patch('/v1/scan/policy', { inherit: true })), 'bad_request', 'the cluster default has nothing to inherit from');
  } finally {
    await a.close();
  }
});

test.run();
