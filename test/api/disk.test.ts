/**
 * The disk watch against a REAL small file system: the test agent's state dir is a 16 MiB tmpfs (mounted here as
 * root) and PLEACO_MIN_FREE_DISK 12m. Filling it below the minimum refuses deploys with `insufficient_storage`
 * naming the path; freeing it lets them through again.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PleacoError } from '../../src/errors.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';

const dir = mkdtempSync(join(tmpdir(), 'pleaco-disk-'));
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', dir], { stdio: 'pipe' });
  mounted = true;
} catch (err) {
  process.stdout.write(`SKIP disk: cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]})\n`);
}

let a: TestAgent | undefined;
test.after(async () => {
  await a?.close();
  if (mounted) execFileSync('umount', [dir]);
  rmSync(dir, { recursive: true, force: true });
});

(mounted ? test : test.skip)(`deploys are refused with insufficient_storage while the state dir's file system is below PLEACO_MIN_FREE_DISK${mounted ? '' : ' (skipped: cannot mount a tmpfs)'}`, async () => {
  a = await startTestAgent({ PLEACO_STATE_DIR: dir, PLEACO_MIN_FREE_DISK: '12m' });
  await a.client.request('POST', '/v1/apps', { body: { name: 'full', repo: 'https://git.example.invalid/f.git' } });
  const filler = join(dir, 'filler');
  writeFileSync(filler, Buffer.alloc(8 * 1024 * 1024, 1));
  const err = await a.client.request('POST', '/v1/apps/full/deploys', { body: {} }).then(() => null, (e: unknown) => e as PleacoError);
  assert.ok(err, 'the deploy is refused');
  assert.equal([err.code, err.status], ['insufficient_storage', 507]);
  assert.match(err.message, new RegExp(`^the deploy was refused: ${dir} has [\\d.]+ MiB free of 16 MiB, below the 12 MiB pleaco keeps free \\(PLEACO_MIN_FREE_DISK\\)`));
  assert.equal(a.apps.builds('full'), [], 'nothing was queued');
  rmSync(filler);
  const ok = await a.client.request<{ build: { status: string } }>('POST', '/v1/apps/full/deploys', { body: {} });
  assert.is(ok.build.status, 'queued');
});

test.run();
