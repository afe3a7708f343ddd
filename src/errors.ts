/**
 * One error model for all of pleaco (after undici's lib/core/errors.js and koa's `expose`):
 * every failure a user can see is a PleacoError with a stable `code`, an HTTP `status`, and
 * `expose` deciding whether its message may reach a client. 5xx errors are never exposed.
 */
export type ErrorCode =
  | 'bad_request'
  | 'invalid_name'
  | 'invalid_repo_url'
  | 'invalid_ref'
  | 'invalid_config'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'insufficient_storage'
  | 'unsupported_media_type'
  | 'unavailable'
  | 'docker_unavailable'
  | 'git_failed'
  | 'unknown_ref'
  | 'no_dockerfile'
  | 'build_failed'
  | 'test_failed'
  | 'test_timeout'
  | 'superseded'
  | 'interrupted'
  | 'rollout_failed'
  | 'scan_blocked'
  | 'scan_failed'
  | 'digest_mismatch'
  | 'peer_error'
  | 'bundle_refused'
  | 'internal';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  invalid_name: 400,
  invalid_repo_url: 400,
  invalid_ref: 400,
  invalid_config: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  /** A disk pleaco writes to (the state dir, Docker's data root) is below its minimum free space. */
  insufficient_storage: 507,
  unsupported_media_type: 415,
  unavailable: 503,
  docker_unavailable: 503,
  git_failed: 502,
  unknown_ref: 422,
  no_dockerfile: 422,
  build_failed: 422,
  test_failed: 422,
  test_timeout: 422,
  superseded: 409,
  interrupted: 500,
  rollout_failed: 500,
  scan_blocked: 422,
  scan_failed: 422,
  digest_mismatch: 422,
  /** A cluster peer answered outside the protocol. */
  peer_error: 502,
  /** A host update bundle that is unsigned, wrongly signed, truncated, tampered with or older than the running host. */
  bundle_refused: 422,
  internal: 500,
};

export interface PleacoErrorOptions {
  status?: number;
  /** Whether the message may be shown to an API client. Defaults to status < 500, or true for 503 and 507 (they say what to do). */
  expose?: boolean;
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class PleacoError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly expose: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: PleacoErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'PleacoError';
    this.code = code;
    this.status = opts.status ?? STATUS[code];
    this.expose = opts.expose ?? (this.status < 500 || this.status === 503 || this.status === 507);
    this.details = opts.details;
  }

  /** The JSON body an API client receives: `{error:{code,message}}`; 5xx stay generic unless exposed. */
  toJSON(): { error: { code: string; message: string; details?: Record<string, unknown> } } {
    if (!this.expose) return { error: { code: 'internal', message: 'internal error' } };
    const body: { code: string; message: string; details?: Record<string, unknown> } = { code: this.code, message: this.message };
    if (this.details) body.details = this.details;
    return { error: body };
  }
}

/** A stable error code (one a peer's answer may carry). */
export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === 'string' && Object.hasOwn(STATUS, s);
}

export function isPleacoError(err: unknown): err is PleacoError {
  return err instanceof PleacoError;
}

/** Wraps anything thrown into a PleacoError; unknown errors become an unexposed `internal`. */
export function toPleacoError(err: unknown): PleacoError {
  if (err instanceof PleacoError) return err;
  return new PleacoError('internal', err instanceof Error ? err.message : String(err), { cause: err });
}
