/**
 * Vulnerability scanning as a deploy gate, end to end on real parts (agent, builder, runner, proxy processes,
 * Docker Engine, git, bin/pleaco): a node loads the fixture OSV database (real published records), an app
 * whose image carries lodash 4.17.20 (GHSA-35jh-r3h4-6jhm, high) deploys under the default policy (critical)
 * and is blocked once the app's policy is `--fail-on high`; an allow-list entry lets it through; the image
 * with the fixed 4.17.21 has no finding. The report and the SBOM are served by the API and shown by the CLI. Images
 * are read layer by layer from the Engine's layer store; a rebuild reads only the layers not scanned before.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Build, Release, ScanDbRecord, ScanReport } from '../../src/model/index.js';
import { TestRepo } from '../helpers/gitrepo.js';
import { deploy, startNode, type TestNode } from '../helpers/node.js';
import { tempDir } from '../helpers/tmp.js';

const BIN = fileURLToPath(new URL('../../../bin/pleaco', import.meta.url));
const OSV = fileURLToPath(new URL('../../../test/fixtures/osv/valid', import.meta.url));
const APP = 'scan-web';
const s = suite<{ node: TestNode; repo: TestRepo; tmp: ReturnType<typeof tempDir> }>('e2e-scan');

/** busybox httpd with one npm dependency at `lodash` (its package.json as npm installs it). */
function app(lodash: string): Record<string, string> {
  return {
    Dockerfile: ['FROM busybox:latest', 'COPY index.html /www/index.html', 'COPY node_modules /app/node_modules', 'EXPOSE 5000', 'CMD ["httpd", "-f", "-p", "5000", "-h", "/www"]', ''].join('\n'),
    'index.html': `<h1>lodash ${lodash}</h1>\n`,
    'node_modules/lodash/package.json': JSON.stringify({ name: 'lodash', version: lodash, description: 'Lodash modular utilities.', license: 'MIT', main: 'lodash.js' }, null, 2),
  };
}

function pleaco(node: TestNode, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(BIN, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PLEACO_STATE_DIR: node.stateDir }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const report = (node: TestNode, q = ''): Promise<{ report: ScanReport }> => node.client.request('GET', `/v1/apps/${APP}/scan${q}`);

s.before(async (ctx) => {
  ctx.tmp = tempDir('pleaco-scan-e2e-');
  ctx.repo = new TestRepo(ctx.tmp.dir, 'web');
  ctx.node = await startNode();
  await ctx.node.client.request('POST', '/v1/apps', { body: { name: APP, repo: `file://${ctx.repo.bare}` } });
});
s.after(async (ctx) => {
  await ctx.node.destroy();
  ctx.tmp.cleanup();
});

s('without an advisory database the image is inventoried, the SBOM stored, and the release not gated', async ({ node, repo }) => {
  repo.commit(app('4.17.20'), 'lodash 4.17.20');
  const out = await deploy(node.client, APP);
  assert.ok(out.ok, `deploy failed: ${JSON.stringify(out.error)}\n${out.log.join('\n')}`);
  assert.ok(out.log.some((l) => /Scanning the image/.test(l)), 'the deploy shows the scan stage');
  assert.ok(out.log.some((l) => /inventory: \d+ packages .* from \d+ layer\(s\): 0 cached, \d+ from the layer store/.test(l)), `read layer by layer from the layer store:\n${out.log.join('\n')}`);
  const { report: r } = await report(node);
  assert.is(r.status, 'unchecked');
  assert.ok(r.packages >= 1);
  const sbom = await node.client.request<{ bomFormat: string; components: Array<{ purl?: string }> }>('GET', `/v1/apps/${APP}/sbom?release=1`);
  assert.is(sbom.bomFormat, 'CycloneDX');
  assert.ok(sbom.components.some((c) => c.purl === 'pkg:npm/lodash@4.17.20'), 'the SBOM lists lodash 4.17.20');
});

s('scan:db:update loads the fixture database on the node; scan:db shows it', async ({ node }) => {
  const up = await pleaco(node, ['scan:db:update', OSV]);
  assert.is(up.code, 0, up.stderr + up.stdout);
  assert.match(up.stdout, /Loaded sha256:[0-9a-f]{12}.*advisories/);
  const { db, local } = await node.client.request<{ db: ScanDbRecord; local: { digest: string } }>('GET', '/v1/scan/db');
  assert.is(local.digest, db.digest, 'the loading node holds the copy the record names');
  assert.ok((db.byEcosystem.npm ?? 0) >= 1 && (db.byEcosystem['Debian:12'] ?? 0) >= 1, JSON.stringify(db.byEcosystem));
  const show = await pleaco(node, ['scan:db']);
  assert.match(show.stdout, /this node has it/);
  const bad = await pleaco(node, ['scan:db:update', '/nonexistent/osv']);
  assert.is(bad.code, 1, 'a missing source fails');
  assert.match(bad.stderr, /nonexistent/);
});

s('the default policy (critical) lets a high finding through and reports it', async ({ node, repo }) => {
  repo.commit({ 'index.html': '<h1>again</h1>\n' }, 'rebuild with the database');
  const out = await deploy(node.client, APP);
  assert.ok(out.ok, `deploy failed: ${JSON.stringify(out.error)}\n${out.log.join('\n')}`);
  assert.ok(out.log.some((l) => /inventory: .* layer\(s\): [1-9]\d* cached/.test(l)), `the layers scanned before come from the cache:\n${out.log.join('\n')}`);
  const { report: r } = await report(node);
  assert.is(r.status, 'passed');
  const f = r.findings.find((x) => x.id === 'GHSA-35jh-r3h4-6jhm');
  assert.ok(f, `lodash's command injection advisory is found: ${r.findings.map((x) => x.id).join(', ')}`);
  assert.is(f.package.version, '4.17.20');
  assert.is(f.fixed, '4.17.21');
  assert.is(f.severity, 'high');
  assert.is(f.blocking, false);
});

s('fail-on high blocks the deploy, naming package, version, advisory and fixed version; the release stays', async ({ node, repo }) => {
  const before = await node.client.request<{ current: number }>('GET', `/v1/apps/${APP}/releases`);
  const set = await pleaco(node, ['scan:policy', APP, '--fail-on', 'high']);
  assert.is(set.code, 0, set.stderr);
  assert.match(set.stdout, /Fail on:\s+high \(the app.s own\)/);
  repo.commit({ 'index.html': '<h1>blocked</h1>\n' }, 'should be blocked');
  const out = await deploy(node.client, APP);
  assert.not.ok(out.ok, 'the deploy fails');
  assert.is(out.error?.code, 'scan_blocked');
  assert.match(out.error!.message, /lodash 4\.17\.20: GHSA-35jh-r3h4-6jhm \(high [\d.]+\) fixed in 4\.17\.21/);
  const after = await node.client.request<{ current: number; releases: Release[] }>('GET', `/v1/apps/${APP}/releases`);
  assert.is(after.current, before.current, 'no new release');
  const build = (await node.client.request<{ builds: Build[] }>('GET', `/v1/apps/${APP}/builds`)).builds[0]!;
  assert.is(build.scan?.status, 'blocked');
  const cli = await pleaco(node, ['scan', APP]);
  assert.is(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /BLOCKED: 1 finding\(s\) at or above high/);
  assert.match(cli.stdout, /high!\s+GHSA-35jh-r3h4-6jhm\s+lodash\s+4\.17\.20\s+4\.17\.21/);
});

s('an allow-list entry with a reason and expiry lets the release through and is shown', async ({ node }) => {
  const bad = await pleaco(node, ['scan:policy', APP, '--allow', 'GHSA-35jh-r3h4-6jhm']);
  assert.is(bad.code, 2, 'an entry without --until and --reason is a usage error');
  const ok = await pleaco(node, ['scan:policy', APP, '--allow', 'GHSA-35jh-r3h4-6jhm', '--until', '30d', '--reason', 'template input is never user-controlled']);
  assert.is(ok.code, 0, ok.stderr);
  const out = await deploy(node.client, APP);
  assert.ok(out.ok, `deploy failed: ${JSON.stringify(out.error)}\n${out.log.join('\n')}`);
  assert.ok(out.log.some((l) => /allowed until .*GHSA-35jh-r3h4-6jhm/.test(l)), 'the deploy log says what was allowed');
  const { report: r } = await report(node);
  assert.is(r.status, 'passed');
  assert.is(r.findings.find((f) => f.id === 'GHSA-35jh-r3h4-6jhm')?.allowed?.reason, 'template input is never user-controlled');
  const rel = await node.client.request<{ releases: Release[] }>('GET', `/v1/apps/${APP}/releases`);
  assert.is(rel.releases[0]!.scan?.status, 'passed');
  const cli = await pleaco(node, ['scan', APP, `v${rel.releases[0]!.number}`]);
  assert.match(cli.stdout, /allowed until \d{4}-\d\d-\d\d: template input/);
});

s('the image with the fixed version has no lodash finding', async ({ node, repo }) => {
  await pleaco(node, ['scan:policy', APP, '--remove', 'GHSA-35jh-r3h4-6jhm']);
  repo.commit(app('4.17.21'), 'lodash 4.17.21');
  const out = await deploy(node.client, APP);
  assert.ok(out.ok, `deploy failed: ${JSON.stringify(out.error)}\n${out.log.join('\n')}`);
  const { report: r } = await report(node);
  assert.is(r.status, 'passed');
  assert.not.ok(r.findings.some((f) => f.package.name === 'lodash'), 'lodash 4.17.21 is past every fixture advisory');
  assert.equal(r.counts.high + r.counts.critical, 0);
});

s.run();
