/**
 * GitHub webhook payloads (push and ping), parsed from `unknown` into the few fields pleaco acts on, and matching of
 * the repository URLs a payload names against an app's configured repository.
 * Shapes: https://docs.github.com/en/webhooks/webhook-events-and-payloads#push
 */
import { PleacoError } from '../errors.js';
import { isCommitSha } from '../model/index.js';

export interface PushEvent {
  /** Every URL GitHub gives for the repository (clone_url, ssh_url, git_url, html_url, svn_url), for matching. */
  repoUrls: string[];
  /** Full ref that was pushed, e.g. `refs/heads/main` or `refs/tags/v1`. */
  ref: string;
  /** Branch name when `ref` is a branch, else null (tags). */
  branch: string | null;
  /** Commit sha the ref points to after the push (all zeros when deleted). */
  after: string;
  deleted: boolean;
  headCommitMessage?: string;
}

export interface PingEvent {
  zen: string;
  hookId: number | null;
  repoUrls: string[];
}

const URL_FIELDS = ['clone_url', 'ssh_url', 'git_url', 'html_url', 'svn_url'] as const;

function bad(message: string): PleacoError {
  return new PleacoError('bad_request', `invalid webhook payload: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function repositoryUrls(payload: Record<string, unknown>): string[] {
  const repo = payload.repository;
  if (!isObject(repo)) throw bad('"repository" must be an object');
  const urls: string[] = [];
  for (const f of URL_FIELDS) {
    const v = repo[f];
    if (typeof v === 'string' && v !== '' && v.length <= 2048 && !urls.includes(v)) urls.push(v);
  }
  if (urls.length === 0) throw bad(`"repository" has none of ${URL_FIELDS.join(', ')}`);
  return urls;
}

/** Parses a `push` event body (already JSON-decoded). Throws PleacoError('bad_request') on a malformed shape. */
export function parsePushEvent(payload: unknown): PushEvent {
  if (!isObject(payload)) throw bad('the body must be a JSON object');
  const { ref, after } = payload;
  if (typeof ref !== 'string' || !ref.startsWith('refs/') || ref.length > 1024) throw bad('"ref" must be a full ref like refs/heads/main');
  if (typeof after !== 'string' || !isCommitSha(after)) throw bad('"after" must be a commit sha');
  if (payload.deleted !== undefined && typeof payload.deleted !== 'boolean') throw bad('"deleted" must be a boolean');
  const deleted = payload.deleted === true || /^0+$/.test(after);
  const event: PushEvent = {
    repoUrls: repositoryUrls(payload),
    ref,
    branch: ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : null,
    after,
    deleted,
  };
  const head = payload.head_commit;
  if (head !== undefined && head !== null && !isObject(head)) throw bad('"head_commit" must be an object or null');
  if (isObject(head) && typeof head.message === 'string') event.headCommitMessage = head.message;
  return event;
}

/** Parses a `ping` event (sent when a webhook is created). */
export function parsePingEvent(payload: unknown): PingEvent {
  if (!isObject(payload)) throw bad('the body must be a JSON object');
  if (typeof payload.zen !== 'string') throw bad('"zen" must be a string');
  const hookId = typeof payload.hook_id === 'number' ? payload.hook_id : null;
  return { zen: payload.zen, hookId, repoUrls: repositoryUrls(payload) };
}

/**
 * Reduces a repository URL to `host/path` for comparison: scheme, userinfo and port dropped, host and path lowercased
 * (GitHub owner and repository names are case-insensitive), trailing `/` and `.git` stripped. Local paths and
 * file:// URLs reduce to the absolute path. Returns null when the string is not a recognisable repository address.
 */
export function normalizeRepoForMatch(url: string): string | null {
  if (typeof url !== 'string') return null;
  let s = url.trim();
  if (s === '' || s.startsWith('-') || /^[A-Za-z0-9][A-Za-z0-9+.-]*::/.test(s)) return null;
  let key: string;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(s);
  if (scheme) {
    const kind = (scheme[1] ?? '').toLowerCase();
    const rest = scheme[2] ?? '';
    if (kind === 'file') {
      key = rest.replace(/^[^/]*/, '');
    } else {
      const slash = rest.indexOf('/');
      const authority = slash < 0 ? rest : rest.slice(0, slash);
      const path = slash < 0 ? '' : rest.slice(slash);
      const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
      const host = hostPort.startsWith('[') ? hostPort.slice(0, hostPort.indexOf(']') + 1) : hostPort.replace(/:\d*$/, '');
      key = `${host}/${path.replace(/^\/+/, '').replace(/^~/, '')}`;
    }
  } else if (s.startsWith('/')) {
    key = s;
  } else {
    const m = /^(?:[^@/]+@)?([^:/]+|\[[^\]]+\]):(.+)$/.exec(s);
    if (!m) return null;
    key = `${m[1]}/${(m[2] ?? '').replace(/^\/+/, '')}`;
  }
  s = key.toLowerCase().replace(/[?#].*$/, '');
  for (;;) {
    const t = s.replace(/\/+$/, '').replace(/\.git$/, '');
    if (t === s) break;
    s = t;
  }
  return s === '' || !s.includes('/') ? null : s;
}

/** True when `appRepo` names the same repository as any of `candidates` (e.g. a push event's repoUrls). */
export function repoUrlMatches(appRepo: string, candidates: string[]): boolean {
  const want = normalizeRepoForMatch(appRepo);
  if (want === null) return false;
  return candidates.some((c) => normalizeRepoForMatch(c) === want);
}
