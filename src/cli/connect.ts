/**
 * Finding the node to talk to, without flags when possible:
 *   1. --api URL / PLEACO_API (with --token / PLEACO_TOKEN): explicit, always wins;
 *   2. otherwise the first state dir holding an agent.sock: PLEACO_STATE_DIR, ./.pleaco (the `make up` state
 *      dir, relative to the working directory), /var/lib/pleaco; its `token` file gives the token.
 * The token is read from a file or the environment and only ever goes into the Authorization header.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { ClientOptions } from '../link/index.js';
import { CliError } from './args.js';

export interface FileSystem {
  exists(path: string): boolean;
  readFile(path: string): string;
}

export interface FindOptions {
  api?: string | undefined;
  token?: string | undefined;
  env: Record<string, string | undefined>;
  cwd: string;
  fs?: FileSystem;
}

export interface Connection {
  client: ClientOptions;
  /** The socket path or URL, for messages. */
  where: string;
  /** How it was found, e.g. `PLEACO_STATE_DIR`, `./.pleaco`, `--api`. */
  source: string;
  /** The state dir, when the node was found through one. */
  stateDir?: string;
}

const realFs: FileSystem = {
  exists: (p) => existsSync(p),
  readFile: (p) => readFileSync(p, 'utf8'),
};

export const DEFAULT_STATE_DIR = '/var/lib/pleaco';
/** Unix socket paths longer than this fail to connect on Linux (sun_path is 108 bytes). */
const MAX_SOCKET_PATH = 100;

const START_HINT = [
  'Start a node with `make up` in the pleaco repository (state in ./.pleaco),',
  'or point the CLI at one: PLEACO_API=http://HOST:7070 PLEACO_TOKEN=... pleaco ...',
];

/** `http://h:p`, `https://…`, `h:p` (http assumed), `/path/agent.sock` or `unix:/path` (a socket). */
export function parseApi(api: string, cwd: string): { url?: string; socketPath?: string } {
  if (api.startsWith('unix:')) return { socketPath: resolve(cwd, api.slice(5)) };
  if (isAbsolute(api) || api.startsWith('./') || api.endsWith('.sock')) return { socketPath: resolve(cwd, api) };
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(api) ? api : `http://${api}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new CliError(`--api ${JSON.stringify(api)} is not a URL like http://127.0.0.1:7070 or a socket path`);
  }
  if (u.protocol !== 'http:') throw new CliError(`--api must be an http:// URL or a unix socket path, got ${u.protocol}//`);
  if (u.username || u.password) throw new CliError('--api must not carry credentials; pass the token in PLEACO_TOKEN');
  return { url: `${u.protocol}//${u.host}` };
}

function readToken(dir: string, fs: FileSystem): string {
  const path = join(dir, 'token');
  let text: string;
  try {
    text = fs.readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new CliError(`cannot read the API token at ${path}: permission denied`, 1, [
        'Run pleaco as the user that runs the node (e.g. with sudo), or set PLEACO_TOKEN.',
      ]);
    }
    throw new CliError(`found a node socket in ${dir} but no token at ${path}`, 1, ['Set PLEACO_TOKEN, or check that the node finished starting.']);
  }
  const token = text.trim();
  if (!token) throw new CliError(`the token file ${path} is empty`, 1, ['Set PLEACO_TOKEN, or restart the node to generate a token.']);
  return token;
}

function socketFor(dir: string, cwd: string): string {
  const abs = join(dir, 'agent.sock');
  if (abs.length <= MAX_SOCKET_PATH) return abs;
  const rel = relative(cwd, abs);
  return rel.length < abs.length ? rel : abs;
}

/** Resolves where the node is. Throws CliError with a hint when nothing is found. */
export function findNode(o: FindOptions): Connection {
  const fs = o.fs ?? realFs;
  const envToken = o.token ?? (o.env.PLEACO_TOKEN || undefined);
  const api = o.api ?? (o.env.PLEACO_API || undefined);
  if (api) {
    const target = parseApi(api, o.cwd);
    if (!envToken) throw new CliError(`${o.api ? '--api' : 'PLEACO_API'} is set but no token: set PLEACO_TOKEN (or pass --token)`);
    const where = target.socketPath ?? target.url ?? api;
    return { client: { ...target, token: envToken }, where, source: o.api ? '--api' : 'PLEACO_API' };
  }
  const candidates: [string, string][] = [];
  const explicit = o.env.PLEACO_STATE_DIR;
  if (explicit) candidates.push([resolve(o.cwd, explicit), 'PLEACO_STATE_DIR']);
  else candidates.push([resolve(o.cwd, '.pleaco'), './.pleaco'], [DEFAULT_STATE_DIR, DEFAULT_STATE_DIR]);
  for (const [dir, source] of candidates) {
    if (!fs.exists(join(dir, 'agent.sock'))) continue;
    const socketPath = socketFor(dir, o.cwd);
    const token = envToken ?? readToken(dir, fs);
    return { client: { socketPath, token }, where: join(dir, 'agent.sock'), source, stateDir: dir };
  }
  if (explicit) {
    throw new CliError(`no pleaco node socket at ${join(resolve(o.cwd, explicit), 'agent.sock')} (PLEACO_STATE_DIR)`, 1, [
      'Is the node running? Start one with `make up`, or unset PLEACO_STATE_DIR to search the default places.',
    ]);
  }
  throw new CliError(`no pleaco node found: no agent.sock in ./.pleaco or ${DEFAULT_STATE_DIR}`, 1, START_HINT);
}
