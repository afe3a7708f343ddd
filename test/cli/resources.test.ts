/** resources, resources:set and the OOM state in ps, against the CLI's fake agent (canned answers; the API side is test/api). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ago, cli, fakeAgent, type FakeAgent } from './_fake-agent.js';
import { slot } from './_fixtures.js';

let agent: FakeAgent;
const MiB = 1024 ** 2;

test.before(async () => {
  agent = await fakeAgent({
    'GET /v1/apps/web/resources': { json: { resources: { cpus: 1 }, defaults: { memoryBytes: 512 * MiB, cpus: null, pids: 1024 }, effective: { memoryBytes: 512 * MiB, cpus: 1, pids: 1024 } } },
    'PUT /v1/apps/web/resources': { json: { resources: { memoryBytes: 768 * MiB, cpus: 1 }, defaults: { memoryBytes: 512 * MiB, cpus: null, pids: 1024 }, effective: { memoryBytes: 768 * MiB, cpus: 1, pids: 1024 }, release: { number: 6 } } },
    'GET /v1/apps/web/ps': { json: { replicas: 1, processes: [slot(0, { state: 'crashed', lastExitCode: 137, oomKilled: true, hostPort: null, nextRetryAt: new Date(Date.parse(ago(0)) + 10_000).toISOString() })] } },
  });
});

test.after(() => agent.close());

test('resources: each limit with where it comes from', async () => {
  const r = await cli(['resources', 'web'], agent);
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.out, ['=== web resources', 'Memory:    512 MiB (default)', 'CPUs:      1 (set)', 'Processes: 1024 (default)']);
});

test('resources:set sends the flags as given (default → null) and says a release rolls them out', async () => {
  const r = await cli(['resources:set', 'web', '--memory', '768m', '--pids', 'default'], agent);
  assert.is(r.code, 0, r.stderr);
  assert.equal(agent.requests.at(-1)!.body, { memoryBytes: '768m', pids: null });
  assert.is(r.out[0], 'Set the limits of web to memory 768 MiB, 1 CPU: released v6, rolling out');
  const none = await cli(['resources:set', 'web'], agent);
  assert.is(none.code, 2, 'no flag: a usage error');
});

test('ps says when a replica was killed for memory', async () => {
  const r = await cli(['ps', 'web'], agent);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.out.join('\n'), /web#0\s+crashed \(out of memory\), retry in 10 seconds/);
});

test.run();
