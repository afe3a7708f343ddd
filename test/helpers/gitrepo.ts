/** Real git repositories for tests: a bare "server" repo, a working clone, commits and pushes, a git daemon. */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { accepts, reservedPort } from './net.js';

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

  /** Copies a directory tree (e.g. examples/hello) into the work tree, commits and pushes; returns the sha. */
  commitTree(src: string, message = 'import'): string {
    cpSync(src, this.work, { recursive: true });
    return this.commit({}, message);
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

export { closedPort } from './net.js';

export interface Daemon {
  port: number;
  url(repo: string): string;
  stop(): Promise<void>;
}

/**
 * A real `git daemon` serving every repository under `base`, read-only, on 127.0.0.1 — or on `listen`, an address of
 * this host the test created itself (the multi-node harness's bridge gateway, which its node containers reach).
 */
export async function startGitDaemon(base: string, env: NodeJS.ProcessEnv = GIT_ENV, listen = '127.0.0.1'): Promise<Daemon> {
  const port = await reservedPort();
  const child = spawn('git', ['daemon', '--reuseaddr', `--base-path=${base}`, '--export-all', `--listen=${listen}`, `--port=${port}`, base], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port, listen))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`git daemon did not listen on ${port}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url: (repo) => `git://${listen}:${port}/${repo}`,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
