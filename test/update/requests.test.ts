/** The request files between the agent and pleaco-host (update/requests.ts): a round trip, and what is refused. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { answer, askHost, bundlePath, hostDir, takeRequests } from '../../src/update/index.js';
import { tempDir } from '../helpers/tmp.js';

const tmp = tempDir('pleaco-requests-');
const id = 'ab'.repeat(32);

test('the agent asks, pleaco-host takes the request (removing it) and answers; the agent gets the answer', async () => {
  const asked = askHost(tmp.dir, { op: 'stage', bundle: bundlePath(tmp.dir, id) }, 10_000);
  let taken: Awaited<ReturnType<typeof takeRequests>> = [];
  for (let i = 0; i < 50 && taken.length === 0; i++) {
    taken = await takeRequests(tmp.dir);
    if (taken.length === 0) await new Promise((r) => setTimeout(r, 20));
  }
  assert.is(taken.length, 1);
  assert.equal({ op: taken[0]!.op, bundle: (taken[0] as { bundle: string }).bundle }, { op: 'stage', bundle: bundlePath(tmp.dir, id) });
  assert.equal(readdirSync(hostDir(tmp.dir)).filter((f) => f.startsWith('request-')), [], 'taken means removed');
  await answer(tmp.dir, { id: taken[0]!.id, ok: false, error: 'no spare slot', at: new Date().toISOString() });
  const r = await asked;
  assert.equal([r.ok, r.error], [false, 'no spare slot']);
  assert.equal(readdirSync(hostDir(tmp.dir)), [], 'the answer is removed once read');
});

test('a request naming a file outside the bundles directory, or an unknown op, is answered with a refusal', async () => {
  const dir = hostDir(tmp.dir);
  writeFileSync(join(dir, `request-${'1'.repeat(16)}.json`), JSON.stringify({ id: '1'.repeat(16), op: 'stage', bundle: '/etc/shadow' }));
  writeFileSync(join(dir, `request-${'2'.repeat(16)}.json`), JSON.stringify({ id: '2'.repeat(16), op: 'stage', bundle: join(tmp.dir, 'host', 'bundles', '..', '..', `${id}.bundle`) }));
  writeFileSync(join(dir, `request-${'3'.repeat(16)}.json`), JSON.stringify({ id: '3'.repeat(16), op: 'format', bundle: bundlePath(tmp.dir, id) }));
  assert.equal(await takeRequests(tmp.dir), []);
  const answers = readdirSync(dir).filter((f) => f.startsWith('result-')).sort();
  assert.is(answers.length, 3);
  const errors = answers.map((f) => (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { ok: boolean; error: string }));
  assert.ok(errors.every((e) => !e.ok));
  assert.match(errors[0]!.error, /must be a file in/);
  assert.match(errors[1]!.error, /must be a file in/);
  assert.match(errors[2]!.error, /unknown request/);
});

test('an agent whose request nobody takes gets a clear error, and its request is withdrawn', async () => {
  const other = tempDir('pleaco-requests-');
  try {
    await askHost(other.dir, { op: 'stage', bundle: bundlePath(other.dir, id) }, 600);
    assert.unreachable('answered');
  } catch (err) {
    assert.match((err as Error).message, /pleaco-host did not answer a stage request within 1 s/);
  }
  assert.equal(readdirSync(hostDir(other.dir)), []);
  other.cleanup();
});

test.after(() => tmp.cleanup());
test.run();
