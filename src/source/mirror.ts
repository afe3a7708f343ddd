/**
 * One bare mirror per app at `<root>/<app>.git`: fetched from the app's repository (simple-git, with its guards
 * against dangerous options left on), read locally to resolve refs, read files and stream `git archive` tars.
 * Every git process gets an argv array, a clean environment (no prompts), and a deadline.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { simpleGit, type SimpleGit } from 'simple-git';
import { APP_NAME_RE } from '../core/model.js';
import { PleacoError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { gitEnv, gitReason, runGit, scrub, spawnGit } from './internal/git.js';
import { redactRepoUrl, validateBranch, validateRef, validateRepoUrl } from './url.js';

export interface GitMirrorOptions {
  root: string;
  log?: Logger;
  /** Deadline for one git command (clone, fetch, ls-remote, rev-parse...); git is killed after it. Default 120 s. */
  timeoutMs?: number;
}

export interface CommitInfo {
  sha: string;
  subject: string;
  /** `Name <email>` */
  author: string;
  /** Author date, ISO 8601. */
  date: string;
}

const SHA_RE = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

function checkPath(path: string): string {
  const p = typeof path === 'string' ? path.replace(/^(\.\/)+/, '') : '';
  // eslint-disable-next-line no-control-regex
  if (p === '' || p.length > 4096 || p.startsWith('/') || /[\u0000-\u001f\u007f]/.test(p) || p.split('/').some((c) => c === '..' || c === '')) {
    throw new PleacoError('bad_request', `invalid path in repository: ${JSON.stringify(path)}`);
  }
  return p;
}

function isBareRepo(dir: string): boolean {
  return existsSync(join(dir, 'HEAD')) && existsSync(join(dir, 'objects')) && existsSync(join(dir, 'refs'));
}

export class GitMirror {
  readonly root: string;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly locks = new Map<string, Promise<void>>();

  constructor(opts: GitMirrorOptions) {
    this.root = resolvePath(opts.root);
    this.log = opts.log ?? createLogger({ subsystem: 'source' });
    this.timeoutMs = opts.timeoutMs ?? 120_000;
  }

  /** Path of an app's bare mirror. */
  pathOf(app: string): string {
    if (typeof app !== 'string' || !APP_NAME_RE.test(app) || app.includes('/') || app.includes('..')) {
      throw new PleacoError('invalid_name', `invalid app name ${JSON.stringify(app)}`);
    }
    return join(this.root, `${app}.git`);
  }

  /** Creates (clone --mirror into a temp dir, then rename) or updates (fetch --prune) the app's mirror from `url`. */
  async sync(app: string, url: string, onProgress?: (line: string) => void): Promise<void> {
    const dir = this.pathOf(app);
    // The caller applies the cluster's policy (allowLocal); this only refuses what is never safe to hand to git.
    const target = validateRepoUrl(url, { allowLocal: true });
    await this.exclusive(app, async () => {
      const started = Date.now();
      await mkdir(this.root, { recursive: true });
      await this.removeTemps(app);
      if (isBareRepo(dir)) {
        await this.fetch(dir, target, onProgress);
        this.log.info('mirror fetched', { app, repo: redactRepoUrl(target), ms: Date.now() - started });
        return;
      }
      if (existsSync(dir)) {
        this.log.warn('mirror is damaged; cloning it again', { app });
        await rm(dir, { recursive: true, force: true });
      }
      await this.clone(app, dir, target, onProgress);
      this.log.info('mirror cloned', { app, repo: redactRepoUrl(target), ms: Date.now() - started });
    });
  }

  /** Full commit sha of a branch, tag, full ref or (abbreviated) sha; branches win over tags of the same name. */
  async resolve(app: string, ref: string): Promise<string> {
    validateRef(ref);
    const dir = this.requireMirror(app);
    const candidates = SHA_RE.test(ref) ? [ref] : [`refs/heads/${ref}`, `refs/tags/${ref}`, ref];
    for (const c of candidates) {
      const r = await this.local(dir, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${c}^{commit}`]);
      const sha = r.stdout.toString('utf8').trim();
      if (r.code === 0 && SHA_RE.test(sha)) return sha;
    }
    throw new PleacoError('unknown_ref', `unknown ref "${ref}" in ${app}'s repository`);
  }

  /** Sha of `refs/heads/<branch>` on the remote, or null when the branch does not exist there. */
  async lsRemoteHead(url: string, branch: string): Promise<string | null> {
    const target = validateRepoUrl(url, { allowLocal: true });
    const ref = `refs/heads/${validateBranch(branch)}`;
    await mkdir(this.root, { recursive: true });
    const { git, signal } = this.git(this.root, target);
    let out: string;
    try {
      out = await git.raw(['ls-remote', '--', target, ref]);
    } catch (err) {
      throw this.fetchError(target, err, signal);
    }
    for (const line of out.split('\n')) {
      const [sha, name] = line.trim().split('\t');
      if (name === ref && sha !== undefined && SHA_RE.test(sha)) return sha;
    }
    return null;
  }

  /** Content of `path` at `commit`, or null when there is no such file (directories and submodules are not files). */
  async readFile(app: string, commit: string, path: string): Promise<Buffer | null> {
    const obj = await this.blob(app, commit, path);
    if (!obj) return null;
    const r = await this.local(this.pathOf(app), ['cat-file', 'blob', obj]);
    if (r.code !== 0) throw new PleacoError('git_failed', `cannot read ${path} in ${app}: ${gitReason(r.stderr)}`);
    return r.stdout;
  }

  async hasFile(app: string, commit: string, path: string): Promise<boolean> {
    return (await this.blob(app, commit, path)) !== null;
  }

  /**
   * A tar stream of the tree at `commit` (`git archive --format=tar`). The stream fails with PleacoError('git_failed')
   * when git does; destroying it early kills git.
   */
  archive(app: string, commit: string): Readable {
    const dir = this.pathOf(app);
    validateRef(commit);
    const out = new PassThrough();
    const child = spawnGit(['--git-dir', dir, 'archive', '--format=tar', commit]);
    child.stdin.end();
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString('utf8')).slice(-16_384);
    });
    child.stdout.pipe(out, { end: false });
    child.on('error', (e) => out.destroy(new PleacoError('git_failed', `cannot run git: ${e.message}`)));
    child.on('close', (code) => {
      if (out.destroyed) return;
      if (code === 0) out.end();
      else out.destroy(new PleacoError('git_failed', `git archive of ${app} at ${commit} failed: ${gitReason(stderr)}`));
    });
    out.on('close', () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    return out;
  }

  async commitInfo(app: string, commit: string): Promise<CommitInfo> {
    const sha = await this.resolve(app, commit);
    const r = await this.local(this.pathOf(app), ['show', '-s', '--no-show-signature', '--format=%H%x00%s%x00%an <%ae>%x00%aI', sha]);
    const [full, subject, author, date] = r.stdout.toString('utf8').replace(/\n$/, '').split('\0');
    if (r.code !== 0 || full !== sha || subject === undefined || author === undefined || date === undefined) {
      throw new PleacoError('git_failed', `cannot read commit ${sha} in ${app}: ${gitReason(r.stderr)}`);
    }
    return { sha, subject, author, date };
  }

  /** Deletes the app's mirror (no error when there is none). */
  async remove(app: string): Promise<void> {
    const dir = this.pathOf(app);
    await this.exclusive(app, async () => {
      await rm(dir, { recursive: true, force: true });
      await this.removeTemps(app);
    });
  }

  // --- internals -------------------------------------------------------------------------------------------------

  private requireMirror(app: string): string {
    const dir = this.pathOf(app);
    if (!isBareRepo(dir)) throw new PleacoError('not_found', `${app} has no mirror of its repository yet (sync it first)`);
    return dir;
  }

  /** Object name of the blob at `commit:path`, or null when absent or not a file. */
  private async blob(app: string, commit: string, path: string): Promise<string | null> {
    const p = checkPath(path);
    const sha = await this.resolve(app, commit);
    const r = await this.local(this.pathOf(app), ['rev-parse', '--verify', '--quiet', '--end-of-options', `${sha}:${p}`]);
    const obj = r.stdout.toString('utf8').trim();
    if (r.code !== 0 || !SHA_RE.test(obj)) return null;
    const t = await this.local(this.pathOf(app), ['cat-file', '-t', obj]);
    return t.code === 0 && t.stdout.toString('utf8').trim() === 'blob' ? obj : null;
  }

  private async local(dir: string, args: string[]): Promise<Awaited<ReturnType<typeof runGit>>> {
    const r = await runGit(['--git-dir', dir, ...args], this.timeoutMs);
    if (r.timedOut) throw new PleacoError('git_failed', `git ${args[0] ?? ''} timed out after ${+(this.timeoutMs / 1000).toFixed(1)}s`);
    return r;
  }

  private git(baseDir: string, url: string, onProgress?: (line: string) => void): { git: SimpleGit; signal: AbortSignal } {
    const signal = AbortSignal.timeout(this.timeoutMs);
    const git = simpleGit({ baseDir, abort: signal, allowEnvironment: ['GIT_TERMINAL_PROMPT'] }).env(gitEnv());
    if (onProgress) {
      git.outputHandler((_cmd, _stdout, stderr) => {
        stderr.on('data', (b: Buffer) => {
          for (const line of b.toString('utf8').split(/[\r\n]+/)) if (line.trim() !== '') onProgress(scrub(line.trim(), url));
        });
      });
    }
    return { git, signal };
  }

  private async clone(app: string, dir: string, url: string, onProgress?: (line: string) => void): Promise<void> {
    const tmp = join(this.root, `.tmp-${app}-${randomBytes(6).toString('hex')}.git`);
    const { git, signal } = this.git(this.root, url, onProgress);
    try {
      // --no-local: a local path goes through the normal transport too (no hardlinks, no copying of its files).
      await git.raw(['clone', '--mirror', '--no-local', ...(onProgress ? ['--progress'] : []), '--', url, tmp]);
      if (!isBareRepo(tmp)) throw new Error('fatal: clone produced no repository');
      await rename(tmp, dir);
    } catch (err) {
      throw this.fetchError(url, err, signal);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  private async fetch(dir: string, url: string, onProgress?: (line: string) => void): Promise<void> {
    const { git, signal } = this.git(dir, url, onProgress);
    try {
      const current = await git.raw(['config', '--get', 'remote.origin.url']).then((s) => s.trim(), () => null);
      if (current === null) await git.raw(['remote', 'add', '--', 'origin', url]);
      else if (current !== url) await git.raw(['remote', 'set-url', '--', 'origin', url]);
      const progress = onProgress ? ['--progress'] : [];
      await git.raw(['fetch', '--prune', ...progress, 'origin', '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*']);
    } catch (err) {
      throw this.fetchError(url, err, signal);
    }
  }

  private fetchError(url: string, err: unknown, signal: AbortSignal): PleacoError {
    const shown = redactRepoUrl(url);
    const message = signal.aborted
      ? `cannot fetch ${shown}: timed out after ${+(this.timeoutMs / 1000).toFixed(1)}s`
      : `cannot fetch ${shown}: repository not found or unreachable (${gitReason(err instanceof Error ? err.message : String(err), url)})`;
    // The message is about the user's own repository and holds no credentials, so API clients may see it.
    return new PleacoError('git_failed', scrub(message, url), { expose: true, details: { repo: shown } });
  }

  /** Leftovers of a clone interrupted by a crash (only ever ours: the per-app lock is held). */
  private async removeTemps(app: string): Promise<void> {
    const re = new RegExp(`^\\.tmp-${app}-[0-9a-f]{12}\\.git$`);
    const names = await readdir(this.root).catch(() => [] as string[]);
    await Promise.all(names.filter((n) => re.test(n)).map((n) => rm(join(this.root, n), { recursive: true, force: true })));
  }

  /** Runs `fn` after every earlier sync/remove of the same app has finished. */
  private exclusive(app: string, fn: () => Promise<void>): Promise<void> {
    const run = (this.locks.get(app) ?? Promise.resolve()).then(fn);
    const tail = run.catch(() => undefined);
    this.locks.set(app, tail);
    void tail.then(() => {
      if (this.locks.get(app) === tail) this.locks.delete(app);
    });
    return run;
  }
}
