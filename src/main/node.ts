/** Identity files of a node in its state dir: the node id, the API token (0600), and the version. */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentClient, pathOf, ROUTES } from '../link/index.js';
import type { Config } from '../config/index.js';
import { PleacoError } from '../errors.js';

export function readOr(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** Writes a small file atomically and durably (tmp, fsync, rename). */
export function writeDurable(path: string, text: string, mode: number): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text, { mode });
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
}

/**
 * Creates the state dir 0700, and makes it 0700 again at every start: it holds the API token, state with config
 * values, and the git mirrors (private code), and a dir created by an older version or by hand may be wider.
 */
export function ensureStateDir(cfg: Config): void {
  mkdirSync(cfg.stateDir, { recursive: true, mode: 0o700 });
  chmodSync(cfg.stateDir, 0o700);
}

export function ensureNodeId(cfg: Config): string {
  const path = join(cfg.stateDir, 'node-id');
  const existing = readOr(path);
  if (existing) return existing;
  const base = hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40) || 'node';
  const id = `${base}-${randomBytes(3).toString('hex')}`;
  writeDurable(path, id + '\n', 0o644);
  return id;
}

export function tokenPath(stateDir: string): string {
  return join(stateDir, 'token');
}

/** The API token, generated at first start and stored 0600. */
export function ensureToken(cfg: Config): string {
  const path = tokenPath(cfg.stateDir);
  const existing = readOr(path);
  if (existing) return existing;
  const token = randomBytes(32).toString('base64url');
  writeDurable(path, token + '\n', 0o600);
  return token;
}

export function readVersion(): string {
  const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'package.json');
  try {
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/**
 * Waits until the agent has written its token and answers on its socket. Subsystems pass
 * `retryUnreachableMs` so their requests ride out an agent restart instead of failing work.
 */
export async function connectToAgent(cfg: Config, timeoutMs = 30_000, retryUnreachableMs = 0): Promise<AgentClient> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    const token = readOr(tokenPath(cfg.stateDir));
    if (token) {
      const client = new AgentClient({ socketPath: cfg.socketPath, token, retryUnreachableMs });
      try {
        await client.request(ROUTES.health.method, pathOf(ROUTES.health));
        return client;
      } catch (err) {
        lastErr = err;
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new PleacoError('unavailable', `the agent did not answer on ${cfg.socketPath} within ${timeoutMs / 1000} s: ${(lastErr as Error | undefined)?.message ?? 'no token yet'}`);
}
