/**
 * The few things both the mirror's simple-git calls and its direct `git` spawns share: a clean environment (no
 * ambient GIT_* variables, never a prompt, English messages), a runner for local plumbing commands that need binary
 * output, and turning git's stderr into a one-line reason with credentials removed.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { redactUrl } from '../../log.js';

const STDERR_CAP = 64 * 1024;

/**
 * process.env without GIT_* variables (they could redirect git to another repository or config) nor the program
 * hooks simple-git guards (EDITOR, PAGER, ...), plus: never prompt, C locale so git's messages are stable.
 */
export function gitEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(git_.*|editor|visual|pager|ssh_askpass|prefix)$/i.test(k)) env[k] = v;
  }
  env.GIT_TERMINAL_PROMPT = '0';
  env.LC_ALL = 'C';
  return env;
}

export interface GitRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  timedOut: boolean;
}

/** Spawns `git <args>` (argv array, no shell) for a local repository command. */
export function spawnGit(args: string[]): ChildProcessWithoutNullStreams {
  return spawn('git', args, { env: gitEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs `git <args>` to completion, collecting stdout as a Buffer; kills git after `timeoutMs`. Never rejects on exit code. */
export function runGit(args: string[], timeoutMs: number, maxStdout = 64 * 1024 * 1024): Promise<GitRun> {
  return new Promise((resolve, reject) => {
    const child = spawnGit(args);
    child.stdin.end();
    const out: Buffer[] = [];
    let outLen = 0;
    let err = '';
    let timedOut = false;
    let overflow = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      outLen += b.length;
      if (outLen > maxStdout) {
        overflow = true;
        child.kill('SIGKILL');
      } else out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      err = (err + b.toString('utf8')).slice(-STDERR_CAP);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (overflow) err += `\nfatal: output larger than ${maxStdout} bytes`;
      resolve({ code: overflow ? 1 : code, stdout: Buffer.concat(out), stderr: err, timedOut });
    });
  });
}

/**
 * Removes credentials of `url` from `text`: any `scheme://userinfo@`, and literally the password (and, for http(s),
 * a user name long enough to be a token, as in `https://<token>@host/...`). ssh user names are not secrets.
 */
export function scrub(text: string, url?: string): string {
  let s = redactUrl(text);
  const m = url ? /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/@]*)@/.exec(url) : null;
  if (m) {
    const [user = '', password] = (m[2] ?? '').split(/:(.*)/s);
    const secrets = password !== undefined && password !== '' ? [password] : [];
    if (/^https?$/i.test(m[1] ?? '') && (password === undefined || password === '') && user.length >= 6) secrets.push(user);
    for (const p of [...secrets, ...secrets.map(safeDecode)]) {
      if (p.length >= 3) s = s.split(p).join('***');
    }
  }
  return s;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * git's reason for a failure in one line: the first `fatal:` (else `error:`, else last non-empty) line, joined with
 * the next line when git wrapped it (`unable to connect to host:` / `<errno>`), credentials removed.
 */
export function gitReason(stderr: string, url?: string): string {
  const lines = stderr
    .split(/[\r\n]+/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^(Cloning into|remote: (Counting|Compressing|Enumerating|Total)|Receiving objects|Resolving deltas)/.test(l));
  let i = lines.findIndex((l) => l.startsWith('fatal:'));
  if (i < 0) i = lines.findIndex((l) => l.startsWith('error:'));
  if (i < 0) i = lines.length - 1;
  // ssh and servers explain themselves on the line before git's generic "Could not read from remote repository."
  const before = lines[i - 1];
  if (/Could not read from remote repository/.test(lines[i] ?? '') && before !== undefined && !/^(fatal|error):/.test(before)) i -= 1;
  let line = lines[i] ?? 'git failed without a message';
  const next = lines[i + 1];
  if (line.endsWith(':') && next !== undefined && !/^(fatal|error):/.test(next)) line = `${line} ${next}`;
  line = line.replace(/^(fatal|error):\s*/, '');
  return scrub(line.length > 300 ? `${line.slice(0, 297)}...` : line, url);
}
