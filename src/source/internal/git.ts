/**
 * What every git process of the mirror shares: a clean environment (no ambient GIT_* variables, never a prompt,
 * English messages), a runner with an argv array and a deadline, the split of a repository URL into what git may
 * see in its argv and config (never a password or token) and the credentials it gets through its environment, and
 * turning git's stderr into a one-line reason with credentials removed.
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

export interface SpawnGitOptions {
  /** Working directory (default: the process's). */
  cwd?: string;
  /** Added to gitEnv(), e.g. the credentials of remoteAuth(). */
  env?: Record<string, string>;
}

/** Spawns `git <args>` (argv array, no shell). */
export function spawnGit(args: string[], opts: SpawnGitOptions = {}): ChildProcessWithoutNullStreams {
  return spawn('git', args, { env: { ...gitEnv(), ...opts.env }, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
}

export interface RunGitOptions extends SpawnGitOptions {
  /** stdout beyond this fails the run (default 64 MiB). */
  maxStdout?: number;
  /** Called with each chunk of stderr as it comes (progress). */
  onStderr?: (chunk: string) => void;
  /**
   * At the deadline git gets SIGTERM and, this long after, SIGKILL (default 0: SIGKILL at once). Network commands
   * use a grace period: on SIGTERM git also ends the transport helpers it started (git-remote-http, ssh), which a
   * SIGKILL of git alone would leave behind holding the connection.
   */
  killGraceMs?: number;
}

/** Runs `git <args>` to completion, collecting stdout as a Buffer; kills git after `timeoutMs`. Never rejects on exit code. */
export function runGit(args: string[], timeoutMs: number, opts: RunGitOptions = {}): Promise<GitRun> {
  const maxStdout = opts.maxStdout ?? 64 * 1024 * 1024;
  const grace = opts.killGraceMs ?? 0;
  return new Promise((resolve, reject) => {
    const child = spawnGit(args, opts);
    child.stdin.end();
    const out: Buffer[] = [];
    let outLen = 0;
    let err = '';
    let timedOut = false;
    let overflow = false;
    let killer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      if (grace <= 0) {
        child.kill('SIGKILL');
        return;
      }
      child.kill('SIGTERM');
      killer = setTimeout(() => child.kill('SIGKILL'), grace);
    }, timeoutMs);
    // After a kill at the deadline, a helper git started may still hold stdout/stderr: do not wait for it.
    child.on('exit', () => {
      if (timedOut) {
        child.stdout.destroy();
        child.stderr.destroy();
      }
    });
    child.stdout.on('data', (b: Buffer) => {
      outLen += b.length;
      if (outLen > maxStdout) {
        overflow = true;
        child.kill('SIGKILL');
      } else out.push(b);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      err = (err + s).slice(-STDERR_CAP);
      opts.onStderr?.(s);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      clearTimeout(killer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      clearTimeout(killer);
      if (overflow) err += `\nfatal: output larger than ${maxStdout} bytes`;
      resolve({ code: overflow ? 1 : code, stdout: Buffer.concat(out), stderr: err, timedOut });
    });
  });
}

export interface RemoteAuth {
  /** The URL to give git (argv, the mirror's config): without a password or token. */
  url: string;
  /** Environment for git carrying the credentials ({} when there are none). */
  env: Record<string, string>;
  /** Whether the URL carried credentials for git to send. */
  hasCredentials: boolean;
}

/**
 * Splits a (validated) repository URL into what git may see as an argument and the credentials it must not.
 *
 * An argv is public: anyone on the host can read /proc/<pid>/cmdline (`ps`), and git hands the URL on to
 * `git-remote-https <remote> <url>`. It would also be written into the mirror's config as the remote URL. So an
 * http(s) URL's `user:password@` (or a bare token as user) is removed from the URL, and git gets it as an
 * `Authorization: Basic` header through the environment (GIT_CONFIG_COUNT/KEY/VALUE, git ≥ 2.31, =
 * `-c http.extraHeader=...` without the argv). A process's environment, unlike its argv, is readable only by its
 * own user (/proc/<pid>/environ is mode 0400), i.e. by no one who could not read pleaco's state anyway; git passes
 * it on to its transport helper (git-remote-https) but never writes it anywhere.
 *
 * ssh URLs (`ssh://git@host/...`, `git@host:path`) keep their user: it is only a login name, never a secret (ssh
 * authenticates with keys), and ssh needs it. Other forms (file://, paths, git://) have no userinfo.
 */
export function remoteAuth(url: string): RemoteAuth {
  if (!/^https?:\/\//i.test(url)) return { url, env: {}, hasCredentials: false };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url, env: {}, hasCredentials: false };
  }
  if (u.username === '' && u.password === '') return { url, env: {}, hasCredentials: false };
  const basic = Buffer.from(`${safeDecode(u.username)}:${safeDecode(u.password)}`, 'utf8').toString('base64');
  u.username = '';
  u.password = '';
  return {
    url: u.href,
    env: {
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.extraHeader',
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
    },
    hasCredentials: true,
  };
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
