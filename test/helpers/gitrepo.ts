/** Real git repositories for tests: a bare "server" repo, a working clone, commits and pushes, a git daemon. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';

const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 'Test', GIT_AUTHOR_EMAIL: 'test@localhost', GIT_COMMITTER_NAME: 'Test', GIT_COMMITTER_EMAIL: 'test@localhost' };

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
}

export class TestRepo {
  readonly bare: string;
  readonly work: string;
  constructor(root: string, name: string) {
    this.bare = join(root, 'server', `${name}.git`);
    this.work = join(root, 'work', name);
    mkdirSync(this.bare, { recursive: true });
    git(this.bare, 'init', '-q', '--bare', '-b', 'main');
    mkdirSync(dirname(this.work), { recursive: true });
    git(dirname(this.work), 'clone', '-q', this.bare, name);
    git(this.work, 'checkout', '-q', '-b', 'main');
  }

  /** Writes files, commits and pushes to the bare repo; returns the commit sha. */
  commit(files: Record<string, string>, message = 'change'): string {
    for (const [p, content] of Object.entries(files)) {
      mkdirSync(dirname(join(this.work, p)), { recursive: true });
      writeFileSync(join(this.work, p), content);
    }
    git(this.work, 'add', '-A');
    git(this.work, 'commit', '-q', '-m', message);
    git(this.work, 'push', '-q', 'origin', 'main');
    return git(this.work, 'rev-parse', 'HEAD');
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      done(true);
    });
    c.once('error', () => done(false));
  });
}

/** `git daemon` on 127.0.0.1 serving every repo under base (read-only). */
export async function startGitDaemon(base: string): Promise<{ url: (path: string) => string; stop: () => void; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${base}`, '--listen=127.0.0.1', `--port=${port}`, base], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (Date.now() > deadline) throw new Error('git daemon did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: (p) => `git://127.0.0.1:${port}/${p}`, stop: () => proc.kill('SIGTERM'), proc };
}
