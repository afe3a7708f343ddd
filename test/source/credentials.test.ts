/**
 * Credentials in a repository URL: a real smart-HTTP server (`git http-backend` behind node:http on 127.0.0.1) that
 * requires Basic auth. The credentials must work, and must never appear in any process's argv (sampled from /proc
 * while git runs), in the mirror's files, or in error messages; the mirrors' root is 0700.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Config } from '../../src/config/index.js';
import { ensureStateDir } from '../../src/main/node.js';
import { GitMirror } from '../../src/source/index.js';
import { remoteAuth } from '../../src/source/internal/git.js';
import { commitFiles, fakeLogger, git, initRepo, rejection, removeDir, sampleCommandLines, startHttpGitServer, tempDir, type HttpGitServer } from './_helpers.js';

const USER = 'ada';
const TOKEN = `tok-${randomBytes(12).toString('hex')}`;
const BASIC = Buffer.from(`${USER}:${TOKEN}`).toString('base64');

interface Ctx {
  dir: string;
  work: string;
  served: string;
  root: string;
  mirror: GitMirror;
  server: HttpGitServer;
  head: string;
}

const ctx = {} as Ctx;
const test = suite('GitMirror (credentials over smart HTTP)');

/** Every file under `dir`, as text. */
async function allText(dir: string): Promise<string> {
  let out = '';
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out += await allText(p);
    else if (e.isFile()) out += `\n${p}\n${(await readFile(p)).toString('latin1')}`;
  }
  return out;
}

/** Runs `fn` while sampling the process list; asserts that git talked to the server and no argv held a secret. */
async function withoutSecretsInArgv<T>(fn: () => Promise<T>): Promise<T> {
  const sampler = sampleCommandLines();
  let result: T;
  try {
    result = await fn();
  } catch (err) {
    await sampler.stop();
    throw err;
  }
  const seen = await sampler.stop();
  const ours = seen.filter((c) => c.includes(`127.0.0.1:${ctx.server.port}`));
  assert.ok(ours.some((c) => /remote-https?/.test(c)), `git's transport helper was observed (saw: ${JSON.stringify(ours)})`);
  for (const c of seen) {
    assert.not.ok(c.includes(TOKEN), `token in argv: ${c}`);
    assert.not.ok(c.includes(BASIC), `encoded credentials in argv: ${c}`);
  }
  return result;
}

test.before(async () => {
  ctx.dir = await tempDir('creds');
  ctx.work = await initRepo(join(ctx.dir, 'work'));
  ctx.head = await commitFiles(ctx.work, { Dockerfile: 'FROM busybox:latest\n', 'app.txt': 'v1\n' }, 'Initial');
  ctx.served = join(ctx.dir, 'served');
  await git(ctx.dir, 'clone', '-q', '--bare', '--', ctx.work, join(ctx.served, 'web.git'));
  // Each request is held back a little so that git's processes live long enough to be sampled.
  ctx.server = await startHttpGitServer(ctx.served, { user: USER, password: TOKEN, delayMs: 150 });
  ctx.root = join(ctx.dir, 'state', 'git');
  ctx.mirror = new GitMirror({ root: ctx.root, log: fakeLogger(), timeoutMs: 20_000 });
});

test.after(async () => {
  await ctx.server?.stop();
  await removeDir(ctx.dir);
});

test('remoteAuth: http(s) credentials leave the URL for the environment; ssh user names stay', () => {
  const a = remoteAuth('https://ada:p%40ss%3Aw0rd@git.example.com/o/r.git');
  assert.is(a.url, 'https://git.example.com/o/r.git');
  assert.ok(a.hasCredentials);
  assert.equal(a.env, {
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'http.extraHeader',
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from('ada:p@ss:w0rd').toString('base64')}`,
  });
  const t = remoteAuth('https://ghp_tokenAsUser@github.com/o/r.git');
  assert.is(t.url, 'https://github.com/o/r.git');
  assert.is(t.env.GIT_CONFIG_VALUE_0, `Authorization: Basic ${Buffer.from('ghp_tokenAsUser:').toString('base64')}`);
  for (const url of ['https://github.com/o/r.git', 'ssh://git@github.com/o/r.git', 'git@github.com:o/r.git', 'file:///srv/r.git', '/srv/r.git', 'git://127.0.0.1/r.git']) {
    assert.equal(remoteAuth(url), { url, env: {}, hasCredentials: false }, url);
  }
});

test('sync with http://user:token@ works; no argv holds the token; the mirror stores the URL without it; root 0700', async () => {
  // A root left 0755 by an older version is tightened.
  await mkdir(ctx.root, { recursive: true, mode: 0o755 });
  await chmod(ctx.root, 0o755);
  const url = ctx.server.url('web.git', `${USER}:${TOKEN}`);
  const lines: string[] = [];
  await withoutSecretsInArgv(() => ctx.mirror.sync('web', url, (l) => lines.push(l)));
  assert.is(await ctx.mirror.resolve('web', 'main'), ctx.head);
  assert.is((await ctx.mirror.readFile('web', 'main', 'app.txt'))?.toString(), 'v1\n');
  assert.is(statSync(ctx.root).mode & 0o777, 0o700, 'git root is 0700');
  const dir = join(ctx.root, 'web.git');
  assert.is(await git(dir, 'config', '--get', 'remote.origin.url'), ctx.server.url('web.git'));
  assert.not.ok((await readFile(join(dir, 'config'), 'utf8')).includes(TOKEN), 'no token in the config');
  const files = await allText(dir);
  assert.not.ok(files.includes(TOKEN) || files.includes(BASIC), 'no credentials in any file of the mirror');
  assert.not.ok(lines.join('\n').includes(TOKEN));
  assert.is(ctx.server.stats.unauthorized, 0, 'the credentials were sent with the first request');
});

test('the next sync (fetch) sends the credentials too, still not in any argv', async () => {
  const next = await commitFiles(ctx.work, { 'app.txt': 'v2\n' }, 'Second');
  await git(ctx.work, 'push', '-q', join(ctx.served, 'web.git'), 'main');
  await withoutSecretsInArgv(() => ctx.mirror.sync('web', ctx.server.url('web.git', `${USER}:${TOKEN}`)));
  assert.is(await ctx.mirror.resolve('web', 'main'), next);
  ctx.head = next;
  const files = await allText(join(ctx.root, 'web.git'));
  assert.not.ok(files.includes(TOKEN) || files.includes(BASIC), 'no credentials in FETCH_HEAD or elsewhere');
});

test('lsRemoteHead with credentials', async () => {
  const sha = await withoutSecretsInArgv(() => ctx.mirror.lsRemoteHead(ctx.server.url('web.git', `${USER}:${TOKEN}`), 'main'));
  assert.is(sha, ctx.head);
  assert.is(await ctx.mirror.lsRemoteHead(ctx.server.url('web.git', `${USER}:${TOKEN}`), 'nope'), null);
});

test('a mirror whose config holds credentials (older versions) is rewritten without them on the next sync', async () => {
  const dir = join(ctx.root, 'old.git');
  await git(ctx.root, 'clone', '-q', '--mirror', '--', join(ctx.served, 'web.git'), dir);
  await git(dir, 'remote', 'set-url', 'origin', ctx.server.url('web.git', `${USER}:${TOKEN}`));
  await chmod(ctx.root, 0o755);
  await ctx.mirror.sync('old', ctx.server.url('web.git', `${USER}:${TOKEN}`));
  assert.is(await ctx.mirror.resolve('old', 'main'), ctx.head);
  assert.not.ok((await readFile(join(dir, 'config'), 'utf8')).includes(TOKEN));
  assert.is(statSync(ctx.root).mode & 0o777, 0o700);
  await ctx.mirror.remove('old');
});

test('a wrong token: git_failed saying the credentials were refused, without the token; no mirror left', async () => {
  const wrong = `wrong-${randomBytes(8).toString('hex')}`;
  for (const op of [
    () => ctx.mirror.sync('denied', ctx.server.url('web.git', `${USER}:${wrong}`)),
    () => ctx.mirror.sync('web', ctx.server.url('web.git', `${USER}:${wrong}`)),
    () => ctx.mirror.lsRemoteHead(ctx.server.url('web.git', `${USER}:${wrong}`), 'main'),
  ]) {
    const err = await rejection(op());
    assert.is(err.code, 'git_failed');
    assert.match(err.message, `cannot fetch http://***@127.0.0.1:${ctx.server.port}/web.git: authentication failed: the server refused the credentials in the repository URL`);
    const all = `${err.message} ${JSON.stringify(err.toJSON())}`;
    assert.not.ok(all.includes(wrong), all);
    assert.not.ok(all.includes(USER + ':'), all);
  }
  assert.not.ok(existsSync(join(ctx.root, 'denied.git')));
  assert.is(await ctx.mirror.resolve('web', 'main'), ctx.head, 'a failed fetch leaves the mirror usable');
});

test('no credentials for a server that wants them: git_failed saying so', async () => {
  const err = await rejection(ctx.mirror.sync('anon', ctx.server.url('web.git')));
  assert.is(err.code, 'git_failed');
  assert.match(err.message, `cannot fetch ${ctx.server.url('web.git')}: authentication failed: the server requires credentials and the repository URL has none`);
  assert.not.ok(existsSync(join(ctx.root, 'anon.git')));
});

test('ensureStateDir makes the state dir 0700 at every start, not only when it creates it', async () => {
  const stateDir = join(ctx.dir, 'state2');
  ensureStateDir({ stateDir } as Config);
  assert.is(statSync(stateDir).mode & 0o777, 0o700, 'created 0700');
  await chmod(stateDir, 0o755);
  ensureStateDir({ stateDir } as Config);
  assert.is(statSync(stateDir).mode & 0o777, 0o700, 'an existing 0755 dir is tightened');
});

test.run();
