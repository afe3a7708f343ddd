/**
 * Real git for the source tests: repositories in temp dirs, a real `git daemon` on 127.0.0.1, a TCP server that
 * never answers (for timeouts), and a tar reader. Nothing here runs on import.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import * as assert from 'uvu/assert';
import { PleacoError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';

const run = promisify(execFile);

const GIT_ENV = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^GIT_/i.test(k))),
  GIT_AUTHOR_NAME: 'Ada Tester',
  GIT_AUTHOR_EMAIL: 'ada@example.test',
  GIT_COMMITTER_NAME: 'Ada Tester',
  GIT_COMMITTER_EMAIL: 'ada@example.test',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `pleaco-${prefix}-`));
}

export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/** Runs git with an argv array in `cwd`; returns trimmed stdout. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('git', args, { cwd, env: GIT_ENV, maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

/** Writes files (path → content) into a work tree and commits them; returns the new commit sha. */
export async function commitFiles(repo: string, files: Record<string, string | Buffer>, message: string): Promise<string> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(repo, path)), { recursive: true });
    await writeFile(join(repo, path), content);
    await git(repo, 'add', '--', path);
  }
  await git(repo, 'commit', '-q', '--no-gpg-sign', '-m', message);
  return git(repo, 'rev-parse', 'HEAD');
}

/** A new non-bare repository on branch main. */
export async function initRepo(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await git(dir, 'init', '-q', '-b', 'main');
  return dir;
}

/** A port on 127.0.0.1 that was free a moment ago (nothing listens on it after this returns). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`git daemon exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s: Socket = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`git daemon did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Daemon {
  port: number;
  url(repo: string): string;
  stop(): Promise<void>;
}

/** A real `git daemon` serving every repository under `baseDir` on 127.0.0.1 (loopback only). */
export async function startGitDaemon(baseDir: string): Promise<Daemon> {
  const port = await freePort();
  const child = spawn(
    'git',
    ['daemon', '--reuseaddr', `--base-path=${baseDir}`, '--export-all', '--listen=127.0.0.1', `--port=${port}`, baseDir],
    { env: GIT_ENV, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  try {
    await waitForPort(port, child);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}: ${stderr}`);
  }
  return {
    port,
    url: (repo) => `git://127.0.0.1:${port}/${repo}`,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A TCP server on 127.0.0.1 that accepts connections and never says anything (a remote that hangs). */
export async function startSilentServer(): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const srv: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return {
    port: addr.port,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

/** Reads a tar archive: path → content for regular files, plus the directories (ustar and pax headers). */
export function readTar(buf: Buffer): { files: Map<string, Buffer>; dirs: string[] } {
  const files = new Map<string, Buffer>();
  const dirs: string[] = [];
  let off = 0;
  let paxPath: string | null = null;
  const str = (b: Buffer): string => b.toString('utf8').replace(/\0.*$/s, '');
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const size = parseInt(str(h.subarray(124, 136)).trim() || '0', 8);
    const type = String.fromCharCode(h[156] ?? 0);
    const prefix = str(h.subarray(345, 500));
    const name = paxPath ?? (prefix ? `${prefix}/${str(h.subarray(0, 100))}` : str(h.subarray(0, 100)));
    const body = buf.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      const m = /\d+ path=([^\n]*)\n/.exec(body.toString('utf8'));
      paxPath = m?.[1] ?? null;
      continue;
    }
    paxPath = null;
    if (type === 'g') continue;
    if (type === '5') dirs.push(name);
    else if (type === '0' || type === '\0') files.set(name, Buffer.from(body));
  }
  return { files, dirs };
}

export interface LogRecord {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

/** A fake Logger that keeps what it is given. */
export function fakeLogger(records: LogRecord[] = []): Logger & { records: LogRecord[] } {
  const make = (base: Record<string, unknown>): Logger => {
    const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
      records.push({ level, msg, fields: { ...base, ...fields } });
    };
    return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (f) => make({ ...base, ...f }) };
  };
  return Object.assign(make({}), { records });
}

/** The PleacoError that `fn` throws (fails the test when it throws nothing or something else). */
export function thrown(fn: () => unknown): PleacoError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, PleacoError);
    return err as PleacoError;
  }
  assert.unreachable('expected a PleacoError to be thrown');
  throw new Error('unreachable');
}

/** The PleacoError that `p` rejects with (fails the test when it resolves or rejects with something else). */
export async function rejection(p: Promise<unknown>): Promise<PleacoError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, PleacoError);
    return err as PleacoError;
  }
  assert.unreachable('expected a rejection with a PleacoError');
  throw new Error('unreachable');
}
