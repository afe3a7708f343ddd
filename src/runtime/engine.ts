/**
 * The one way pleaco talks to Docker Engine: a dockerode client on the configured socket, plus the
 * mapping of "engine not there" errors to a clear 503 (`docker_unavailable`).
 */
import Docker from 'dockerode';
import { PleacoError } from '../errors.js';

export type Engine = Docker;

export function connectEngine(socketPath: string): Engine {
  return new Docker({ socketPath });
}

const DOWN = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EACCES']);

/** True when the error means the Engine is not reachable (as opposed to an API error it answered). */
export function isEngineDown(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && DOWN.has(code);
}

/** Wraps an Engine error: unreachable → docker_unavailable (503), everything else passes through. */
export function engineError(err: unknown, socketPath: string): unknown {
  if (isEngineDown(err)) {
    return new PleacoError('docker_unavailable', `Docker Engine is not reachable at ${socketPath}; start dockerd and try again`, { cause: err });
  }
  return err;
}

export async function pingEngine(engine: Engine): Promise<{ ok: true; version: string } | { ok: false; error: string }> {
  try {
    const v = await engine.version();
    return { ok: true, version: v.Version };
  } catch (err) {
    return { ok: false, error: isEngineDown(err) ? 'Docker Engine is not reachable' : (err as Error).message };
  }
}
