/**
 * Validation of what users give us as a repository URL, a ref or a branch, before any of it reaches git's argv.
 * git interprets a "URL" very liberally (`ext::<command>` runs a program, `--upload-pack=<cmd>` is an option, a
 * bare word is a remote name or a relative path), so only the forms below are accepted, everything else is refused
 * with a message saying what would be accepted.
 */
import { posix } from 'node:path';
import { PleacoError } from '../errors.js';
import { redactUrl } from './redact.js';

export interface RepoUrlOptions {
  /** Accept file://, absolute local paths, git:// and http:// (PLEACO_ALLOW_LOCAL_REPOS=true; tests and `make up`). */
  allowLocal: boolean;
}

const MAX_URL = 2048;
const MAX_REF = 255;
const ALLOW_HINT = 'set PLEACO_ALLOW_LOCAL_REPOS=true to allow it';
const EXPECTED = 'expected https://host/owner/repo, ssh://[user@]host[:port]/path or user@host:path';
// A DNS name or IPv4 address (never starting with '-', which ssh would read as an option), or a bracketed IPv6 address.
const HOST = String.raw`(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])`;
const USER = String.raw`[A-Za-z0-9_.~%+!$&'()*,;=-]+`;
const SSH_RE = new RegExp(String.raw`^(ssh|git\+ssh|ssh\+git)://(?:(${USER})@)?(${HOST})(?::(\d{1,5}))?(/.*)$`, 'i');
const GIT_RE = new RegExp(String.raw`^git://(${HOST})(?::(\d{1,5}))?(/.*)$`, 'i');
const SCP_RE = new RegExp(String.raw`^(?:(${USER})@)?(${HOST}):(.+)$`);

/** Removes `user:password@` (or a bare token used as user) from a repository URL, for messages and logs. */
export function redactRepoUrl(url: string): string {
  return redactUrl(url);
}

function shown(url: string): string {
  const r = redactRepoUrl(url);
  return JSON.stringify(r.length > 120 ? `${r.slice(0, 117)}...` : r);
}

function refuse(url: string, why: string): PleacoError {
  return new PleacoError('invalid_repo_url', `invalid repository URL ${shown(url)}: ${why}`);
}

function checkPort(url: string, port: string | undefined): void {
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw refuse(url, `port ${port} is out of range`);
}

/**
 * A user name (or host) that ssh would read as an option: `ssh -oProxyCommand=...@host` runs a program. git refuses
 * such a host today; pleaco refuses it itself, in every URL form, also when the '-' is %-escaped.
 */
function checkNotOption(url: string, part: string | undefined, what: 'user name' | 'host'): void {
  if (part === undefined || part === '') return;
  let decoded = part;
  try {
    decoded = decodeURIComponent(part);
  } catch {
    // an invalid escape is left as written: it cannot decode to a leading '-'
  }
  if (part.startsWith('-') || decoded.startsWith('-')) throw refuse(url, `the ${what} starts with "-" and would be read by ssh as an option`);
}

function checkRepoPath(url: string, path: string): void {
  if (path.replace(/\/+$/, '') === '' || path === '~') throw refuse(url, 'the repository path is missing');
  if (/[?#]/.test(path)) throw refuse(url, 'a repository URL has no query string or fragment');
}

/** Validates a repository URL and returns its normalized form (lowercase scheme and host, no `..` segments). */
export function validateRepoUrl(url: string, opts: RepoUrlOptions): string {
  if (typeof url !== 'string' || url === '') throw new PleacoError('invalid_repo_url', 'repository URL is empty');
  if (url.length > MAX_URL) throw new PleacoError('invalid_repo_url', `repository URL is longer than ${MAX_URL} characters`);
  if (url.startsWith('-')) throw refuse(url, 'it starts with "-" and would be read by git as an option');
  if (/^[A-Za-z0-9][A-Za-z0-9+.-]*::/.test(url)) {
    throw refuse(url, 'git remote-helper forms like ext:: or fd:: run programs and are never allowed');
  }
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f\u0080-\u009f\u2028\u2029]/.test(url)) throw refuse(url, 'it contains whitespace or control characters');

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'https' || scheme === 'http') {
    if (scheme === 'http' && !opts.allowLocal) {
      throw refuse(url, `http:// sends code and credentials unencrypted; use https:// (http:// is only for local test servers: ${ALLOW_HINT})`);
    }
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw refuse(url, 'it is not a valid URL');
    }
    if (!u.hostname || u.hostname.startsWith('-')) throw refuse(url, 'the host is missing or invalid');
    checkNotOption(url, u.username, 'user name');
    if (u.search || u.hash || /[?#]/.test(url)) throw refuse(url, 'a repository URL has no query string or fragment');
    checkRepoPath(url, u.pathname);
    return u.href;
  }
  if (scheme === 'ssh' || scheme === 'git+ssh' || scheme === 'ssh+git') {
    const m = SSH_RE.exec(url);
    if (!m) throw refuse(url, `not a valid ssh URL; ${EXPECTED}`);
    const [, , user, host = '', port, path = ''] = m;
    checkNotOption(url, user, 'user name');
    checkNotOption(url, host, 'host');
    checkPort(url, port);
    checkRepoPath(url, path);
    return `ssh://${user ? `${user}@` : ''}${host.toLowerCase()}${port ? `:${port}` : ''}${path}`;
  }
  if (scheme === 'git') {
    if (!opts.allowLocal) {
      throw refuse(url, `git:// is unauthenticated and unencrypted, so anyone on the path could substitute the code; use https:// or ssh:// (git:// is only for local test servers: ${ALLOW_HINT})`);
    }
    const m = GIT_RE.exec(url);
    if (!m) throw refuse(url, 'not a valid git:// URL (git://host[:port]/path)');
    const [, host = '', port, path = ''] = m;
    checkNotOption(url, host, 'host');
    checkPort(url, port);
    checkRepoPath(url, path);
    return `git://${host.toLowerCase()}${port ? `:${port}` : ''}${path}`;
  }
  if (scheme === 'file') {
    if (!opts.allowLocal) throw refuse(url, `local repositories are not allowed on this cluster; ${ALLOW_HINT}`);
    if (!url.startsWith('file:///')) throw refuse(url, 'only file:///absolute/path is accepted (no host)');
    const path = localPath(url, decodeURIComponentSafe(url, url.slice('file://'.length)));
    return `file://${path}`;
  }
  if (scheme !== undefined) throw refuse(url, `the ${scheme}:// scheme is not supported; ${EXPECTED}`);

  if (url.startsWith('/')) {
    if (!opts.allowLocal) throw refuse(url, `local repositories are not allowed on this cluster; ${ALLOW_HINT}`);
    return localPath(url, url);
  }
  const scp = SCP_RE.exec(url);
  // git reads `host:path` as scp-like ssh only when no '/' comes before the first ':'.
  if (scp && !url.slice(0, url.indexOf(':')).includes('/')) {
    const [, user, host = '', path = ''] = scp;
    checkNotOption(url, user, 'user name');
    checkNotOption(url, host, 'host');
    if (path.startsWith('-')) throw refuse(url, 'the path starts with "-"');
    checkRepoPath(url, path);
    return `${user ? `${user}@` : ''}${host.toLowerCase()}:${path}`;
  }
  if (url.startsWith('.') || !url.includes(':')) {
    throw refuse(url, opts.allowLocal ? 'relative local paths are not allowed; use an absolute path or file:///path' : EXPECTED);
  }
  throw refuse(url, EXPECTED);
}

function decodeURIComponentSafe(url: string, s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw refuse(url, 'it contains an invalid %-escape');
  }
}

function localPath(url: string, path: string): string {
  if (!path.startsWith('/') || path.startsWith('//')) throw refuse(url, 'a local repository must be an absolute path');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) throw refuse(url, 'it contains control characters');
  if (/[?#]/.test(path)) throw refuse(url, 'a repository URL has no query string or fragment');
  const norm = posix.normalize(path);
  if (norm === '/') throw refuse(url, 'the repository path is missing');
  return norm;
}

function checkRefName(kind: 'ref' | 'branch', ref: string): string {
  const bad = (why: string): PleacoError => {
    const s = typeof ref === 'string' ? JSON.stringify(ref.length > 80 ? `${ref.slice(0, 77)}...` : ref) : String(ref);
    return new PleacoError('invalid_ref', `invalid ${kind} ${s}: ${why}`);
  };
  if (typeof ref !== 'string' || ref === '') throw bad('it is empty');
  if (ref.length > MAX_REF) throw bad(`it is longer than ${MAX_REF} characters`);
  if (ref.startsWith('-')) throw bad('it starts with "-" and would be read by git as an option');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f]/.test(ref)) throw bad('it contains spaces or control characters');
  if (/[~^:?*[\\]/.test(ref)) throw bad('it contains one of ~ ^ : ? * [ \\');
  if (ref.includes('..')) throw bad('it contains ".."');
  if (ref.includes('@{') || ref === '@') throw bad('it contains "@{" or is "@"');
  if (ref.startsWith('/') || ref.endsWith('/') || ref.includes('//')) throw bad('it has an empty path component (leading, trailing or double "/")');
  if (ref.endsWith('.') || ref.endsWith('.lock')) throw bad('it ends with "." or ".lock"');
  if (ref.split('/').some((c) => c.startsWith('.') || c.endsWith('.lock'))) {
    throw bad('a path component starts with "." or ends with ".lock"');
  }
  return ref;
}

/** Validates a branch, tag, full ref or (abbreviated) commit sha to deploy (git check-ref-format rules). */
export function validateRef(ref: string): string {
  return checkRefName('ref', ref);
}

/** Validates a branch name (same rules as refs); `refs/heads/<name>` is accepted and returned as `<name>`. */
export function validateBranch(branch: string): string {
  const b = checkRefName('branch', branch);
  return b.startsWith('refs/heads/') ? checkRefName('branch', b.slice('refs/heads/'.length)) : b;
}

const SHA_RE = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** A full commit id: 40 hex digits (SHA-1) or 64 (SHA-256 repositories). */
export function isCommitSha(s: unknown): s is string {
  return typeof s === 'string' && SHA_RE.test(s);
}
