/**
 * What every git process of the mirror shares: a clean environment (no ambient GIT_* variables, never a prompt,
 * English messages), runners with an argv array and a deadline (simple-git for commands that talk to a remote, a
 * direct spawn for local reads that need binary output), the split of a repository URL into what git may
 * see in its argv and config (never a password or token) and the credentials it gets through its environment, and
 * turning git's stderr into a one-line reason with credentials removed.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { simpleGit } from 'simple-git';
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

/**
 * Spawns `git <args>` (argv array, no shell) for a local read of a mirror. Local reads do not go through simple-git:
 * they need git's output as raw bytes (file contents, `git archive` tars streamed to the caller), which simple-git
 * only offers as a whole-output string or Buffer collected in memory.
 */
export function spawnGit(args: string[]): ChildProcessWithoutNullStreams {
  return spawn('git', args, { env: gitEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs a local `git <args>` to completion, collecting stdout as a Buffer; SIGKILLs git after `timeoutMs`. Never rejects on exit code. */
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
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      err = (err + s).slice(-STDERR_CAP);
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

export interface NetworkGitOptions {
  /** Working directory of git (must exist). */
  cwd: string;
  /** The deadline: git and every process it started are ended after it. */
  timeoutMs: number;
  /** After the deadline, how long git's processes have after SIGINT/SIGTERM before SIGKILL. */
  killGraceMs: number;
  /** Added to gitEnv(): the credentials of remoteAuth() (GIT_CONFIG_COUNT/KEY_0/VALUE_0), or nothing. */
  env?: Record<string, string>;
  /** Called with git's stderr as it comes (progress). */
  onStderr?: (chunk: string) => void;
}

/** Environment variable that marks every process of one networkGit() run (git and the helpers it starts). */
const RUN_VAR = 'PLEACO_GIT_RUN';

/**
 * Runs `git <args>` through simple-git, for the commands of the mirror that talk to a remote (clone, fetch,
 * ls-remote) and the config changes around them. Never rejects: a failure is a GitRun with a non-zero `code`.
 *
 * simple-git's guards stay on. Its environment guard admits exactly the GIT_* variables named here:
 * GIT_TERMINAL_PROMPT and, only when the URL had credentials, GIT_CONFIG_COUNT/KEY_0/VALUE_0; its argument guard
 * still checks the config those carry (an http.extraHeader) and needs `allowUnsafeConfigEnvCount` for the count,
 * which is given only with credentials.
 *
 * The deadline is simple-git's `abort` signal, which sends SIGINT to `git` only. git does not pass that on: its
 * transport helpers (git-remote-http(s), fetch-pack, ssh) would stay behind, orphaned, holding the connection.
 * simple-git does not let git run in a process group of its own (spawnOptions is only uid/gid) nor tell us its
 * pid, so each run marks its processes with a random RUN_VAR in their environment (inherited by every helper) and
 * at the deadline every process carrying the mark gets SIGTERM, then SIGKILL after `killGraceMs`; the run returns
 * only when they are gone. Finding them reads /proc (Linux); elsewhere only simple-git's SIGINT is sent.
 */
export async function networkGit(args: string[], opts: NetworkGitOptions): Promise<GitRun> {
  const extra = opts.env ?? {};
  const run = randomBytes(12).toString('hex');
  const controller = new AbortController();
  let ended: Promise<void> = Promise.resolve();
  const timer = setTimeout(() => {
    controller.abort();
    ended = endMarkedProcesses(run, opts.killGraceMs);
  }, opts.timeoutMs);
  let result: { exitCode: number | null; stdErr: Buffer[] } | undefined;
  try {
    const git = simpleGit({
      baseDir: opts.cwd,
      abort: controller.signal,
      allowEnvironment: ['GIT_TERMINAL_PROMPT', ...Object.keys(extra)],
      unsafe: { allowUnsafeConfigEnvCount: 'GIT_CONFIG_COUNT' in extra },
      // Any non-zero exit is a failure (simple-git's default ignores one without stderr, e.g. git killed by a signal).
      errors: (error, r) => {
        result = r;
        return error ?? (r.exitCode === 0 ? undefined : Buffer.from(`git exited with ${String(r.exitCode)}`));
      },
    }).env({ ...gitEnv(), ...extra, [RUN_VAR]: run });
    const onStderr = opts.onStderr;
    if (onStderr) {
      git.outputHandler((_cmd, _stdout, stderr) => {
        // A decoder of our own: setEncoding() would turn the chunks simple-git collects into strings.
        const decoder = new StringDecoder('utf8');
        stderr.on('data', (b: Buffer) => onStderr(decoder.write(b)));
      });
    }
    const out = await git.raw(args);
    return { code: 0, stdout: Buffer.from(out, 'utf8'), stderr: stderrOf(result), timedOut: false };
  } catch (err) {
    if (controller.signal.aborted) await ended;
    let stderr = stderrOf(result);
    const spawnFailed = /^Error: (spawn .*)/.exec(stderr);
    if (spawnFailed) stderr = `fatal: cannot run git: ${spawnFailed[1] ?? ''}`;
    // Refused by simple-git before git ran (a guard, a missing directory): its message is the reason.
    else if (result === undefined) stderr = `fatal: ${err instanceof Error ? err.message : String(err)}`;
    return { code: result?.exitCode || 1, stdout: Buffer.alloc(0), stderr, timedOut: controller.signal.aborted };
  } finally {
    clearTimeout(timer);
  }
}

function stderrOf(r: { stdErr: Buffer[] } | undefined): string {
  return r ? Buffer.concat(r.stdErr).toString('utf8').slice(-STDERR_CAP) : '';
}

/** Pids of the processes whose environment holds RUN_VAR=`run` ([] where there is no /proc). */
async function markedPids(run: string): Promise<number[]> {
  const needle = Buffer.from(`\0${RUN_VAR}=${run}\0`);
  const names = await readdir('/proc').catch(() => [] as string[]);
  const pids = await Promise.all(
    names
      .filter((n) => /^\d+$/.test(n))
      .map(async (n) => {
        // Processes of other users are unreadable (and are not ours); a zombie's environment is empty.
        const env = await readFile(`/proc/${n}/environ`).catch(() => null);
        return env && Buffer.concat([Buffer.from('\0'), env]).includes(needle) ? Number(n) : null;
      }),
  );
  return pids.filter((p): p is number => p !== null && p !== process.pid);
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** SIGTERM to every process of the run, SIGKILL to those still there after `graceMs`. */
async function endMarkedProcesses(run: string, graceMs: number): Promise<void> {
  let pids = await markedPids(run);
  signalAll(pids, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    pids = await markedPids(run);
  }
  signalAll(pids, 'SIGKILL');
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
