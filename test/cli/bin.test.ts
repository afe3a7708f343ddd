/** bin/pleaco as a real subprocess (needs `tsc` first): version, usage errors, and a request over a unix socket. */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fakeAgent, TOKEN } from './_fake-agent.js';

const BIN = fileURLToPath(new URL('../../../bin/pleaco', import.meta.url));
let tmp: string;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a pleaco executable with a clean environment (no PLEACO_* from the caller). */
function pleaco(args: string[], env: Record<string, string> = {}, cwd = tmp, bin = BIN): Promise<Ran> {
  const base: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp };
  return new Promise((resolve) => {
    execFile(bin, args, { cwd, env: { ...base, ...env }, timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

test.before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pleaco-cli-bin-'));
});
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('bin/pleaco version runs without a node', async () => {
  const r = await pleaco(['version'], { PLEACO_STATE_DIR: join(tmp, 'none') });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^pleaco \d+\.\d+\.\d+ \(cli, node\.js 20\./);
  assert.is(r.stderr, '');
});

test('bin/pleaco: usage errors exit 2, no node exits 1 with how to start one', async () => {
  const usage = await pleaco(['ps:scale', 'web=x']);
  assert.is(usage.code, 2);
  assert.match(usage.stderr, /^error: replicas must be a whole number.*\nSee `pleaco help ps:scale`\.\n$/);
  const none = await pleaco(['apps'], { PLEACO_STATE_DIR: join(tmp, 'none') });
  assert.is(none.code, 1);
  assert.match(none.stderr, /no pleaco node socket at .*none\/agent\.sock/);
  assert.match(none.stderr, /make up/);
  assert.not.match(none.stdout + none.stderr, /\u001b\[/, 'no colour on a pipe');
});

test('bin/pleaco finds the node through ./.pleaco and sends the token file in the header', async () => {
  const repo = join(tmp, 'repo');
  const state = join(repo, '.pleaco');
  mkdirSync(state, { recursive: true });
  writeFileSync(join(state, 'token'), `${TOKEN}\n`, { mode: 0o600 });
  const agent = await fakeAgent({ 'GET /v1/apps': { json: { apps: [{ name: 'web', repo: 'r', branch: 'main', release: 1, replicas: 1, running: 1, url: null }] } } }, { socketPath: join(state, 'agent.sock') });
  try {
    const r = await pleaco(['apps'], {}, repo);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NAME\s+RELEASE.*\nweb\s+v1\s+1\/1/);
    assert.is(agent.requests[0]?.authorization, `Bearer ${TOKEN}`);
    assert.not.match(r.stdout + r.stderr, new RegExp(TOKEN));
    const stopped = await pleaco(['apps'], { PLEACO_STATE_DIR: state });
    assert.is(stopped.code, 0);
  } finally {
    await agent.close();
  }
  // A node that died leaves its socket file behind: nothing listens on it any more.
  writeFileSync(join(state, 'agent.sock'), '');
  const down = await pleaco(['apps'], {}, repo);
  assert.is(down.code, 1);
  assert.match(down.stderr, /^error: the pleaco node isn't reachable at .*\.pleaco\/agent\.sock \(ECONNREFUSED\)\n.*make up/);
});

test('bin/pleaco without dist says how to build', async () => {
  const bare = join(tmp, 'bare', 'bin');
  mkdirSync(bare, { recursive: true });
  copyFileSync(BIN, join(bare, 'pleaco'));
  const r = await pleaco(['version'], {}, tmp, join(bare, 'pleaco'));
  assert.is(r.code, 1);
  assert.is(r.stderr, 'pleaco is not built yet: run `npm run build` (or `make build`)\n');
});

test.run();
