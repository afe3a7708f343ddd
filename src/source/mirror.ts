/**
 * One bare mirror per app at `<root>/<app>.git`: fetched from the app's repository through simple-git (its guards
 * on, only the GIT_* variables we name admitted), read locally with direct git spawns to resolve refs, read files
 * and stream `git archive` tars (binary output). Every git process gets a fixed argv array (user input only after
 * validation and `--`/`--end-of-options`), a clean environment (no prompts), and a deadline.
 *
 * Credentials in a repository URL never reach git's argv (visible to every user in `ps`) nor the mirror's config:
 * git gets the URL without them and the credentials through its environment (see remoteAuth). The root is 0700.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { isAppName, isCommitSha } from '../model/index.js';
import { PleacoError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { gitReason, networkGit, remoteAuth, runGit, scrub, spawnGit, type GitRun, type RemoteAuth } from './internal/git.js';
import { redactRepoUrl, validateBranch, validateRef, validateRepoUrl } from '../model/index.js';

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

/** After the deadline, how long git and its transport helpers have after SIGINT/SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2000;

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
    if (typeof app !== 'string' || !isAppName(app) || app.includes('/') || app.includes('..')) {
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
      await this.ensureRoot();
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
    const candidates = isCommitSha(ref) ? [ref] : [`refs/heads/${ref}`, `refs/tags/${ref}`, ref];
    for (const c of candidates) {
      const r = await this.local(dir, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${c}^{commit}`]);
      const sha = r.stdout.toString('utf8').trim();
      if (r.code === 0 && isCommitSha(sha)) return sha;
    }
    throw new PleacoError('unknown_ref', `unknown ref "${ref}" in ${app}'s repository`);
  }

  /**
   * Whether commit `ancestor` is an ancestor of (or equal to) commit `descendant` in the app's mirror
   * (`git merge-base --is-ancestor`); null when git cannot tell (a commit the mirror does not hold).
   */
  async isAncestor(app: string, ancestor: string, descendant: string): Promise<boolean | null> {
    if (!isCommitSha(ancestor) || !isCommitSha(descendant)) throw new PleacoError('bad_request', 'isAncestor needs two full commit shas');
    const r = await this.local(this.requireMirror(app), ['merge-base', '--is-ancestor', '--end-of-options', ancestor, descendant]);
    return r.code === 0 ? true : r.code === 1 ? false : null;
  }

  /** Sha of `refs/heads/<branch>` on the remote, or null when the branch does not exist there. */
  async lsRemoteHead(url: string, branch: string): Promise<string | null> {
    const target = validateRepoUrl(url, { allowLocal: true });
    const ref = `refs/heads/${validateBranch(branch)}`;
    await this.ensureRoot();
    const auth = remoteAuth(target);
    const r = await this.remote(this.root, auth, ['ls-remote', '--', auth.url, ref]);
    if (r.code !== 0 || r.timedOut) throw this.fetchError(target, auth, r);
    for (const line of r.stdout.toString('utf8').split('\n')) {
      const [sha, name] = line.trim().split('\t');
      if (name === ref && sha !== undefined && isCommitSha(sha)) return sha;
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
    if (r.code !== 0 || !isCommitSha(obj)) return null;
    const t = await this.local(this.pathOf(app), ['cat-file', '-t', obj]);
    return t.code === 0 && t.stdout.toString('utf8').trim() === 'blob' ? obj : null;
  }

  /**
   * A local read of a mirror (rev-parse, cat-file, show): a direct spawn (runGit), not simple-git, because file
   * contents come back as raw bytes (binary files, any encoding) and simple-git's raw() decodes output as UTF-8;
   * archive() likewise streams git's stdout. Nothing here talks to a remote or sees credentials.
   */
  private async local(dir: string, args: string[]): Promise<GitRun> {
    const r = await runGit(['--git-dir', dir, ...args], this.timeoutMs);
    if (r.timedOut) throw new PleacoError('git_failed', `git ${args[0] ?? ''} timed out after ${+(this.timeoutMs / 1000).toFixed(1)}s`);
    return r;
  }

  /** Creates the root 0700, and makes an existing one 0700: mirrors hold private code (and older ones credentials). */
  private async ensureRoot(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await chmod(this.root, 0o700);
  }

  /**
   * Runs a git command through simple-git (networkGit). For one that talks to the remote `auth` describes, its URL
   * (without credentials) is in `args` and its credentials go in git's environment; without `auth` git gets no
   * credentials (the config commands around a fetch). Progress lines go to `onProgress`, with credentials removed.
   */
  private remote(cwd: string, auth: RemoteAuth | null, args: string[], onProgress?: (line: string) => void): Promise<GitRun> {
    let partial = '';
    const onStderr = onProgress
      ? (chunk: string): void => {
          const lines = (partial + chunk).split(/[\r\n]/);
          partial = lines.pop() ?? '';
          for (const line of lines) if (line.trim() !== '') onProgress(scrub(line.trim(), auth?.url));
        }
      : undefined;
    return networkGit(args, { cwd, timeoutMs: this.timeoutMs, killGraceMs: KILL_GRACE_MS, env: auth?.env ?? {}, ...(onStderr ? { onStderr } : {}) });
  }

  private async clone(app: string, dir: string, url: string, onProgress?: (line: string) => void): Promise<void> {
    const tmp = join(this.root, `.tmp-${app}-${randomBytes(6).toString('hex')}.git`);
    const auth = remoteAuth(url);
    try {
      // --no-local: a local path goes through the normal transport too (no hardlinks, no copying of its files).
      // The clone records auth.url (no credentials) as remote.origin.url.
      const r = await this.remote(this.root, auth, ['clone', '--mirror', '--no-local', ...(onProgress ? ['--progress'] : []), '--', auth.url, tmp], onProgress);
      if (r.code !== 0 || r.timedOut) throw this.fetchError(url, auth, r);
      if (!isBareRepo(tmp)) throw this.fetchError(url, auth, { ...r, stderr: 'fatal: clone produced no repository' });
      await rename(tmp, dir);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  private async fetch(dir: string, url: string, onProgress?: (line: string) => void): Promise<void> {
    const auth = remoteAuth(url);
    // The remote URL in the mirror's config never has credentials; this also rewrites one that an older version stored.
    const current = await this.remote(dir, null, ['config', '--get', 'remote.origin.url']);
    if (current.timedOut) throw this.fetchError(url, auth, current);
    const configured = current.code === 0 ? current.stdout.toString('utf8').trim() : null;
    if (configured !== auth.url) {
      const set = await this.remote(dir, null, configured === null ? ['remote', 'add', '--', 'origin', auth.url] : ['remote', 'set-url', '--', 'origin', auth.url]);
      if (set.code !== 0 || set.timedOut) throw this.fetchError(url, auth, set);
    }
    const progress = onProgress ? ['--progress'] : [];
    const r = await this.remote(dir, auth, ['fetch', '--prune', ...progress, 'origin', '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*'], onProgress);
    if (r.code !== 0 || r.timedOut) throw this.fetchError(url, auth, r);
  }

  private fetchError(url: string, auth: RemoteAuth, r: Pick<GitRun, 'stderr' | 'timedOut'>): PleacoError {
    const shown = redactRepoUrl(url);
    let message: string;
    if (r.timedOut) {
      message = `cannot fetch ${shown}: timed out after ${+(this.timeoutMs / 1000).toFixed(1)}s`;
    } else {
      const reason = gitReason(r.stderr, url);
      // git reports a refused login (HTTP 401) as its failure to prompt for a user name (prompts are off), which
      // would only confuse: say what happened instead.
      const authFailed = /Authentication failed|could not read (Username|Password)|terminal prompts disabled/i.test(reason);
      message = !authFailed
        ? `cannot fetch ${shown}: repository not found or unreachable (${reason})`
        : auth.hasCredentials
          ? `cannot fetch ${shown}: authentication failed: the server refused the credentials in the repository URL`
          : `cannot fetch ${shown}: authentication failed: the server requires credentials and the repository URL has none`;
    }
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
