/** GitMirror over the network, loopback only: a real `git daemon`, closed ports, and a server that never answers. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GitMirror } from '../../src/source/index.js';
import { commitFiles, rejection, fakeLogger, closedPort, git, initRepo, removeDir, startGitDaemon, startSilentServer, tempDir, type Daemon } from './_helpers.js';

const MODULE = new URL('../../src/source/index.js', import.meta.url).href;

interface Ctx {
  dir: string;
  work: string;
  served: string;
  root: string;
  mirror: GitMirror;
  daemon: Daemon;
  silent: { port: number; stop(): Promise<void> };
  closedPort: number;
  head: string;
}

const ctx = {} as Ctx;
const test = suite('GitMirror (network, loopback)');


async function rootEntries(): Promise<string[]> {
  return existsSync(ctx.root) ? (await readdir(ctx.root)).sort() : [];
}

test.before(async () => {
  ctx.dir = await tempDir('remote');
  ctx.work = await initRepo(join(ctx.dir, 'work'));
  ctx.head = await commitFiles(ctx.work, { Dockerfile: 'FROM busybox:latest\n', 'app.txt': 'v1\n' }, 'Initial');
  ctx.served = join(ctx.dir, 'served');
  await git(ctx.dir, 'clone', '-q', '--bare', '--', ctx.work, join(ctx.served, 'web.git'));
  ctx.daemon = await startGitDaemon(ctx.served);
  ctx.silent = await startSilentServer();
  ctx.closedPort = await closedPort();
  ctx.root = join(ctx.dir, 'mirrors');
  ctx.mirror = new GitMirror({ root: ctx.root, log: fakeLogger(), timeoutMs: 15_000 });
});

test.after(async () => {
  await ctx.daemon?.stop();
  await ctx.silent?.stop();
  await removeDir(ctx.dir);
});

test('sync from a real git daemon over git://127.0.0.1', async () => {
  await ctx.mirror.sync('web', ctx.daemon.url('web.git'));
  assert.is(await ctx.mirror.resolve('web', 'main'), ctx.head);
  assert.is((await ctx.mirror.readFile('web', 'main', 'app.txt'))?.toString(), 'v1\n');
});

test('a push to the served repository is fetched by the next sync', async () => {
  const next = await commitFiles(ctx.work, { 'app.txt': 'v2\n' }, 'Second');
  await git(ctx.work, 'push', '-q', join(ctx.served, 'web.git'), 'main');
  await ctx.mirror.sync('web', ctx.daemon.url('web.git'));
  assert.is(await ctx.mirror.resolve('web', 'main'), next);
  assert.is((await ctx.mirror.readFile('web', next, 'app.txt'))?.toString(), 'v2\n');
  ctx.head = next;
});

test('lsRemoteHead reads the branch head from the daemon; a missing branch is null', async () => {
  assert.is(await ctx.mirror.lsRemoteHead(ctx.daemon.url('web.git'), 'main'), ctx.head);
  assert.is(await ctx.mirror.lsRemoteHead(ctx.daemon.url('web.git'), 'does-not-exist'), null);
  assert.is(await ctx.mirror.lsRemoteHead(`file://${join(ctx.served, 'web.git')}`, 'main'), ctx.head);
});

test('a repository missing on the daemon: git_failed, clear message, no mirror left', async () => {
  const err = await rejection(ctx.mirror.sync('gone', ctx.daemon.url('nothing-here.git')));
  assert.is(err.code, 'git_failed');
  assert.match(err.message, `cannot fetch ${ctx.daemon.url('nothing-here.git')}: repository not found or unreachable (`);
  assert.not.ok(existsSync(join(ctx.root, 'gone.git')));
  assert.equal(await rootEntries(), ['web.git']);
});

test('file:///nonexistent: git_failed naming the URL and git\'s reason, no partial mirror', async () => {
  const err = await rejection(ctx.mirror.sync('missing', 'file:///nonexistent/pleaco-repo'));
  assert.is(err.code, 'git_failed');
  assert.match(err.message, /^cannot fetch file:\/\/\/nonexistent\/pleaco-repo: repository not found or unreachable \(.*does not appear to be a git repository/);
  assert.not.ok(existsSync(join(ctx.root, 'missing.git')));
  assert.equal(await rootEntries(), ['web.git'], 'no temp dir left either');
});

test('git:// to a closed port: git_failed with git\'s connection error', async () => {
  const url = `git://127.0.0.1:${ctx.closedPort}/x.git`;
  const err = await rejection(ctx.mirror.sync('closed', url));
  assert.is(err.code, 'git_failed');
  assert.match(err.message, `cannot fetch ${url}: repository not found or unreachable (unable to connect to 127.0.0.1`);
  assert.match(err.message, /Connection refused/);
  assert.not.ok(existsSync(join(ctx.root, 'closed.git')));
  assert.is((await rejection(ctx.mirror.lsRemoteHead(url, 'main'))).code, 'git_failed');
  // ssh: the reason is ssh's own line, not git's generic "Could not read from remote repository."
  const ssh = await rejection(ctx.mirror.sync('closed', `ssh://git@127.0.0.1:${ctx.closedPort}/srv/x.git`));
  assert.is(ssh.code, 'git_failed');
  assert.match(ssh.message, `127.0.0.1:${ctx.closedPort}/srv/x.git: repository not found or unreachable (`);
  assert.match(ssh.message, /Connection refused|cannot run ssh/);
});

test('credentials in the URL never reach the error message nor progress lines', async () => {
  const url = `https://user:s3cret@127.0.0.1:${ctx.closedPort}/x.git`;
  const lines: string[] = [];
  const err = await rejection(ctx.mirror.sync('creds', url, (l) => lines.push(l)));
  assert.is(err.code, 'git_failed');
  assert.match(err.message, `cannot fetch https://***@127.0.0.1:${ctx.closedPort}/x.git`);
  assert.not.match(err.message, /s3cret/);
  assert.not.match(err.message, /user:/);
  assert.not.match(JSON.stringify(err.toJSON()), /s3cret/);
  assert.not.match(lines.join('\n'), /s3cret/);
  const ls = await rejection(ctx.mirror.lsRemoteHead(`https://tok3n-abc@127.0.0.1:${ctx.closedPort}/x.git`, 'main'));
  assert.not.match(ls.message, /tok3n-abc/);
  assert.not.ok(existsSync(join(ctx.root, 'creds.git')));
});

test('a remote that never answers is killed at the timeout; no partial mirror', async () => {
  const quick = new GitMirror({ root: ctx.root, log: fakeLogger(), timeoutMs: 1500 });
  const started = Date.now();
  const err = await rejection(quick.sync('hang', `git://127.0.0.1:${ctx.silent.port}/x.git`));
  const took = Date.now() - started;
  assert.is(err.code, 'git_failed');
  assert.match(err.message, /timed out after 1.5s/);
  assert.ok(took < 10_000, `took ${took} ms`);
  assert.not.ok(existsSync(join(ctx.root, 'hang.git')));
  assert.equal(await rootEntries(), ['web.git']);
  const ls = await rejection(quick.lsRemoteHead(`git://127.0.0.1:${ctx.silent.port}/x.git`, 'main'));
  assert.match(ls.message, /timed out/);
});

test('a crash in the middle of a clone never leaves a half mirror in place', async () => {
  // A separate node process (own process group) clones from the silent server; the whole group is SIGKILLed while
  // git is inside the clone, as in a power cut. Nothing may appear at <root>/crash.git.
  const code = `const { GitMirror } = await import(process.argv[1]);
    await new GitMirror({ root: process.argv[2], timeoutMs: 60000 }).sync('crash', process.argv[3]);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code, MODULE, ctx.root, `git://127.0.0.1:${ctx.silent.port}/x.git`], {
    detached: true,
    stdio: 'ignore',
  });
  const pid = child.pid ?? 0;
  const exited = new Promise((r) => child.once('exit', r));
  try {
    const deadline = Date.now() + 10_000;
    while (!(await rootEntries()).some((n) => n.startsWith('.tmp-crash-'))) {
      assert.ok(Date.now() < deadline, 'the clone started');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    process.kill(-pid, 'SIGKILL');
    await exited;
  }
  assert.not.ok(existsSync(join(ctx.root, 'crash.git')), 'no mirror in place');
  assert.ok((await rootEntries()).some((n) => n.startsWith('.tmp-crash-')), 'the crash left only a temp dir');
  await ctx.mirror.sync('crash', ctx.daemon.url('web.git'));
  assert.is(await ctx.mirror.resolve('crash', 'main'), ctx.head);
  assert.equal(await rootEntries(), ['crash.git', 'web.git'], 'the next sync removed the leftover');
  await ctx.mirror.remove('crash');
});

test('a failed fetch leaves the existing mirror usable', async () => {
  const err = await rejection(ctx.mirror.sync('web', `git://127.0.0.1:${ctx.closedPort}/web.git`));
  assert.is(err.code, 'git_failed');
  assert.is(await ctx.mirror.resolve('web', 'main'), ctx.head);
  // and the right URL again works (remote set-url back)
  await ctx.mirror.sync('web', ctx.daemon.url('web.git'));
  assert.is(await ctx.mirror.resolve('web', 'main'), ctx.head);
});

test.run();
