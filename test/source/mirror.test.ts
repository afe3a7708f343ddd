/** GitMirror against real local repositories (file:// and absolute paths). */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PleacoError } from '../../src/errors.js';
import { GitMirror } from '../../src/source/index.js';
import { collect, commitFiles, rejection, fakeLogger, git, initRepo, readTar, removeDir, tempDir } from './_helpers.js';

const BINARY = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const DOCKERFILE = 'FROM busybox:latest\nCOPY . /app\nCMD ["httpd", "-f", "-p", "5000"]\n';

interface Ctx {
  dir: string;
  src: string;
  root: string;
  mirror: GitMirror;
  first: string;
  second: string;
}

const ctx = {} as Ctx;
const test = suite('GitMirror (local repositories)');


test.before(async () => {
  ctx.dir = await tempDir('mirror');
  ctx.src = await initRepo(join(ctx.dir, 'src'));
  ctx.first = await commitFiles(ctx.src, { Dockerfile: DOCKERFILE, 'pleaco.json': '{"port":5000}\n', 'sub/dir/file.txt': 'deep\n', 'logo.bin': BINARY }, 'First commit');
  await git(ctx.src, 'tag', '-a', '-m', 'release 1', 'v1');
  ctx.root = join(ctx.dir, 'mirrors');
  ctx.mirror = new GitMirror({ root: ctx.root, log: fakeLogger(), timeoutMs: 20_000 });
});

test.after(async () => {
  await removeDir(ctx.dir);
});

test('sync clones a bare mirror from a file:// URL and resolves the branch', async () => {
  const lines: string[] = [];
  await ctx.mirror.sync('web', `file://${ctx.src}`, (l) => lines.push(l));
  assert.ok(existsSync(join(ctx.root, 'web.git', 'HEAD')), 'mirror at <root>/web.git');
  assert.is(await git(join(ctx.root, 'web.git'), 'rev-parse', '--is-bare-repository'), 'true');
  assert.is(await ctx.mirror.resolve('web', 'main'), ctx.first);
  assert.ok(lines.length > 0, 'progress lines were reported');
  assert.equal((await readdir(ctx.root)).sort(), ['web.git'], 'no temp dir left beside the mirror');
});

test('a new commit pushed to the source appears after the next sync', async () => {
  ctx.second = await commitFiles(ctx.src, { 'README.md': '# web\n' }, 'Add a readme\n\nWith a body.');
  assert.is(await ctx.mirror.resolve('web', 'main'), ctx.first, 'not before the sync');
  await ctx.mirror.sync('web', `file://${ctx.src}`);
  assert.is(await ctx.mirror.resolve('web', 'main'), ctx.second);
});

test('resolve: annotated tag, full ref, short and full sha', async () => {
  assert.is(await ctx.mirror.resolve('web', 'v1'), ctx.first, 'annotated tag peeled to its commit');
  assert.is(await ctx.mirror.resolve('web', 'refs/tags/v1'), ctx.first);
  assert.is(await ctx.mirror.resolve('web', 'refs/heads/main'), ctx.second);
  assert.is(await ctx.mirror.resolve('web', ctx.first.slice(0, 8)), ctx.first);
  assert.is(await ctx.mirror.resolve('web', ctx.second), ctx.second);
});

test('unknown refs are unknown_ref; hostile refs are refused before git runs', async () => {
  const err = await rejection(ctx.mirror.resolve('web', 'nope'));
  assert.is(err.code, 'unknown_ref');
  assert.is(err.message, `unknown ref "nope" in web's repository`);
  assert.is((await rejection(ctx.mirror.resolve('web', 'f'.repeat(40)))).code, 'unknown_ref');
  assert.is((await rejection(ctx.mirror.resolve('web', '--output=/tmp/pleaco-x'))).code, 'invalid_ref');
  assert.not.ok(existsSync('/tmp/pleaco-x'));
  assert.is((await rejection(ctx.mirror.resolve('api', 'main'))).code, 'not_found', 'app without a mirror');
});

test('branches deleted at the source are pruned; tags are fetched', async () => {
  await git(ctx.src, 'branch', 'feature/x');
  await git(ctx.src, 'tag', 'v2');
  await ctx.mirror.sync('web', `file://${ctx.src}`);
  assert.is(await ctx.mirror.resolve('web', 'feature/x'), ctx.second);
  assert.is(await ctx.mirror.resolve('web', 'v2'), ctx.second);
  await git(ctx.src, 'branch', '-D', 'feature/x');
  await ctx.mirror.sync('web', `file://${ctx.src}`);
  assert.is((await rejection(ctx.mirror.resolve('web', 'feature/x'))).code, 'unknown_ref');
});

test('readFile and hasFile read files at a commit', async () => {
  assert.is((await ctx.mirror.readFile('web', ctx.first, 'Dockerfile'))?.toString(), DOCKERFILE);
  assert.is((await ctx.mirror.readFile('web', 'main', './sub/dir/file.txt'))?.toString(), 'deep\n');
  assert.ok((await ctx.mirror.readFile('web', ctx.first, 'logo.bin'))?.equals(BINARY), 'binary content intact');
  assert.is(await ctx.mirror.readFile('web', ctx.first, 'README.md'), null, 'added only in the second commit');
  assert.is((await ctx.mirror.readFile('web', ctx.second, 'README.md'))?.toString(), '# web\n');
  assert.is(await ctx.mirror.readFile('web', ctx.first, 'missing.yaml'), null);
  assert.is(await ctx.mirror.readFile('web', ctx.first, 'sub'), null, 'a directory is not a file');
  assert.ok(await ctx.mirror.hasFile('web', ctx.first, 'pleaco.json'));
  assert.not.ok(await ctx.mirror.hasFile('web', ctx.first, 'pleaco.yaml'));
  assert.not.ok(await ctx.mirror.hasFile('web', ctx.first, 'sub/dir'));
  assert.is((await rejection(ctx.mirror.readFile('web', ctx.first, '../etc/passwd'))).code, 'bad_request');
  assert.is((await rejection(ctx.mirror.readFile('web', 'nope', 'Dockerfile'))).code, 'unknown_ref');
});

test('archive streams a tar of the tree at the commit', async () => {
  const tar = await collect(ctx.mirror.archive('web', ctx.first));
  const { files } = readTar(tar);
  assert.equal([...files.keys()].sort(), ['Dockerfile', 'logo.bin', 'pleaco.json', 'sub/dir/file.txt']);
  assert.is(files.get('Dockerfile')?.toString(), DOCKERFILE);
  assert.ok(files.get('logo.bin')?.equals(BINARY));
  // And the system's tar agrees.
  const file = join(ctx.dir, 'first.tar');
  await writeFile(file, tar);
  const { stdout } = await promisify(execFile)('tar', ['-tf', file]);
  const listed = stdout.split('\n').filter((l) => l !== '');
  for (const name of ['Dockerfile', 'pleaco.json', 'sub/dir/file.txt', 'logo.bin']) assert.ok(listed.includes(name), name);
  assert.not.ok(listed.includes('README.md'));
  const second = readTar(await collect(ctx.mirror.archive('web', ctx.second)));
  assert.ok(second.files.has('README.md'));
});

test('archive of an unknown commit errors the stream with git_failed', async () => {
  const err = await rejection(collect(ctx.mirror.archive('web', 'e'.repeat(40))));
  assert.is(err.code, 'git_failed');
  assert.match(err.message, /git archive/);
});

test('commitInfo gives sha, subject, author and date', async () => {
  const info = await ctx.mirror.commitInfo('web', 'main');
  assert.is(info.sha, ctx.second);
  assert.is(info.subject, 'Add a readme');
  assert.is(info.author, 'Ada Tester <ada@example.test>');
  assert.ok(!Number.isNaN(Date.parse(info.date)), info.date);
});

test('a changed repository URL is followed (remote set-url), here an absolute path', async () => {
  const other = await initRepo(join(ctx.dir, 'other'));
  const head = await commitFiles(other, { Dockerfile: 'FROM debian:bookworm-slim\n' }, 'Other history');
  await ctx.mirror.sync('web', other);
  assert.is(await ctx.mirror.resolve('web', 'main'), head);
  assert.is(await git(join(ctx.root, 'web.git'), 'config', '--get', 'remote.origin.url'), other);
});

test('concurrent syncs of one app are serialized and both succeed', async () => {
  await Promise.all([ctx.mirror.sync('api', `file://${ctx.src}`), ctx.mirror.sync('api', `file://${ctx.src}`)]);
  assert.is(await ctx.mirror.resolve('api', 'main'), ctx.second);
});

test('app names are asserted: no "/", no ".."', async () => {
  for (const bad of ['../web', 'a/b', '..', 'Web', '']) {
    assert.is((await rejection(ctx.mirror.sync(bad, `file://${ctx.src}`))).code, 'invalid_name', bad);
  }
  assert.throws(() => ctx.mirror.archive('../x', 'main'), (e: unknown) => (e as PleacoError).code === 'invalid_name');
});

test('a hostile URL is refused by the mirror too', async () => {
  const err = await rejection(ctx.mirror.sync('web', 'ext::sh -c touch% /tmp/pleaco-pwned'));
  assert.is(err.code, 'invalid_repo_url');
  assert.not.ok(existsSync('/tmp/pleaco-pwned'));
});

test('remove deletes the mirror', async () => {
  await ctx.mirror.remove('web');
  assert.not.ok(existsSync(join(ctx.root, 'web.git')));
  assert.is((await rejection(ctx.mirror.resolve('web', 'main'))).code, 'not_found');
  await ctx.mirror.remove('web');
});

test.run();
