/**
 * Real git for the source tests: repositories in temp dirs, a real `git daemon` and a real smart-HTTP server
 * (`git http-backend`, Basic auth) on 127.0.0.1, a TCP server that never answers (for timeouts), a sampler of the
 * process list, and a tar reader. Nothing here runs on import.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import * as assert from 'uvu/assert';
import { PleacoError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { startGitDaemon as startSharedDaemon, type Daemon } from '../helpers/gitrepo.js';

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

export { closedPort } from '../helpers/net.js';
export type { Daemon } from '../helpers/gitrepo.js';

/** A real `git daemon` serving every repository under `baseDir` on 127.0.0.1, with this suite's clean git env. */
export function startGitDaemon(baseDir: string): Promise<Daemon> {
  return startSharedDaemon(baseDir, GIT_ENV);
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

export interface HttpGitServer {
  port: number;
  /** `http://[user:password@]127.0.0.1:<port>/<repo>` */
  url(repo: string, userinfo?: string): string;
  /** Requests answered 401 (no or wrong Authorization), and all requests. */
  stats: { unauthorized: number; requests: number };
  stop(): Promise<void>;
}

/**
 * A real smart-HTTP git server on 127.0.0.1: `git http-backend` (CGI) behind node:http, serving every repository
 * under `projectRoot`, and requiring HTTP Basic auth as `user`:`password` on every request (401 with
 * WWW-Authenticate otherwise). `delayMs` holds each request back that long, so git's processes live long enough to
 * be observed.
 */
export async function startHttpGitServer(projectRoot: string, opts: { user: string; password: string; delayMs?: number }): Promise<HttpGitServer> {
  const expected = `Basic ${Buffer.from(`${opts.user}:${opts.password}`).toString('base64')}`;
  const stats = { unauthorized: 0, requests: 0 };
  const children = new Set<ChildProcess>();
  const srv = createHttpServer((req, res) => {
    stats.requests++;
    if (req.headers.authorization !== expected) {
      stats.unauthorized++;
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="pleaco-test"', 'Content-Type': 'text/plain' });
      res.end('authentication required\n');
      return;
    }
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const start = (): void => {
      const env: Record<string, string> = {
        ...GIT_ENV,
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(u.pathname),
        QUERY_STRING: u.search.replace(/^\?/, ''),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: opts.user,
        REMOTE_ADDR: '127.0.0.1',
      };
      if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
      if (req.headers['content-encoding']) env.HTTP_CONTENT_ENCODING = String(req.headers['content-encoding']);
      if (req.headers['git-protocol']) env.GIT_PROTOCOL = String(req.headers['git-protocol']);
      const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'ignore'] });
      children.add(child);
      child.on('close', () => children.delete(child));
      child.on('error', () => res.destroy());
      req.pipe(child.stdin);
      child.stdin.on('error', () => undefined);
      // CGI output: headers (Status: ... for errors), a blank line, the body.
      let head = Buffer.alloc(0);
      let body = false;
      child.stdout.on('data', (b: Buffer) => {
        if (body) {
          res.write(b);
          return;
        }
        head = Buffer.concat([head, b]);
        const text = head.toString('latin1');
        const m = /\r?\n\r?\n/.exec(text);
        if (!m) return;
        let status = 200;
        const headers: Record<string, string> = {};
        for (const line of text.slice(0, m.index).split(/\r?\n/)) {
          const i = line.indexOf(':');
          if (i < 0) continue;
          const name = line.slice(0, i).trim();
          const value = line.slice(i + 1).trim();
          if (name.toLowerCase() === 'status') status = parseInt(value, 10);
          else headers[name] = value;
        }
        res.writeHead(status, headers);
        body = true;
        const rest = head.subarray(Buffer.byteLength(text.slice(0, m.index + m[0].length), 'latin1'));
        if (rest.length) res.write(rest);
      });
      child.stdout.on('end', () => {
        if (!body) res.writeHead(502);
        res.end();
      });
    };
    if (opts.delayMs) setTimeout(start, opts.delayMs);
    else start();
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  if (!addr || typeof addr === 'string') throw new Error('no port');
  const port = addr.port;
  return {
    port,
    url: (repo, userinfo) => `http://${userinfo ? `${userinfo}@` : ''}127.0.0.1:${port}/${repo}`,
    stats,
    stop: async () => {
      for (const c of children) c.kill('SIGKILL');
      srv.closeAllConnections();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}

/**
 * Samples the argv (/proc/<pid>/cmdline) of every process on the host every few ms until stop() is called; returns
 * each distinct command line seen (NUL separators as spaces).
 */
export function sampleCommandLines(): { stop(): Promise<string[]> } {
  const seen = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const pids = (await readdir('/proc').catch(() => [] as string[])).filter((n) => /^\d+$/.test(n));
      await Promise.all(
        pids.map(async (pid) => {
          const raw = await readFile(`/proc/${pid}/cmdline`).catch(() => null);
          if (raw && raw.length > 0) seen.add(raw.toString('utf8').replace(/\0+$/, '').split('\0').join(' '));
        }),
      );
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return [...seen];
    },
  };
}
