/**
 * Runs one HAProxy in master-worker mode (`haproxy -W -db -S <dir>/master.sock,mode,600 -f <dir>/haproxy.cfg`)
 * and keeps it alive: configs are checked with `haproxy -c` before they touch the running process, reloads go
 * through the master CLI (`reload`: the master re-execs, the new worker takes the listeners over, the old one
 * finishes its requests), and if HAProxy dies it is started again from the last good config, with backoff.
 *
 * HAProxy does not outlive pleaco-proxy: it is started through util-linux's `setpriv --pdeathsig SIGKILL` (when
 * installed), so the kernel kills the master when the process that started it dies, even by SIGKILL, and its workers
 * leave with it. SIGKILL because a catchable signal is lost when it arrives while the master re-execs for a reload
 * (seen with 2.6). Whatever is still left (setpriv missing, or the parent died before the signal was armed) is ended
 * by the next start in the same dir, before it starts its own (reap.ts).
 *
 * Events: 'exit' {code, signal}, 'restarted' {pid, attempt}, 'restart-failed' {attempt, error}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PleacoError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { endHAProxies, haproxiesOf, isHAProxyOf } from './reap.js';
import { RuntimeApi, socketCommand } from './runtime.js';

export interface ConfigBundle {
  config: string;
  /** File name (inside the process dir) → content. */
  files: Record<string, string>;
}

export interface ValidateResult {
  ok: boolean;
  /** HAProxy's own error (and warning) lines when !ok. */
  message: string;
}

export interface HAProxyOptions {
  /** The process's own directory: haproxy.cfg, master.sock, haproxy.pid and the rendered files. */
  dir: string;
  /** The stats socket the config declares (level admin). */
  statsSocket: string;
  bin?: string;
  /**
   * How long a start or a reload may take before it counts as failed (default 60 s each). HAProxy starts in
   * milliseconds here; on a small or emulated machine under load (three VMs on 2 cores) it took over 15 s, and a
   * start that always fails is a proxy that never serves. The checks poll every 50 ms, so a fast start is not slowed.
   */
  startTimeoutMs?: number;
  reloadTimeoutMs?: number;
  restartMinMs?: number;
  restartMaxMs?: number;
  /**
   * The `setpriv` that arms HAProxy's parent-death signal (default /usr/bin/setpriv when it exists); null: HAProxy is
   * started directly and a leftover one is only ended by the next start.
   */
  setpriv?: string | null;
  logger?: Logger;
}

const SETPRIV = '/usr/bin/setpriv';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function writeAtomic(path: string, content: string): void {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Keeps HAProxy's ALERT/WARNING lines, without the pid column. */
function haproxyMessage(output: string): string {
  const lines = output.split('\n').filter((l) => /\[(ALERT|WARNING)\]/.test(l)).map((l) => l.replace(/^\[(\w+)\]\s+\(\d+\)\s*:\s*/, '[$1] '));
  return (lines.length ? lines : output.trim().split('\n').slice(-5)).join('\n');
}

export class HAProxyProcess extends EventEmitter {
  readonly dir: string;
  readonly configPath: string;
  readonly masterSocket: string;
  readonly runtime: RuntimeApi;
  private readonly bin: string;
  private readonly setpriv: string | null;
  private readonly log: Logger;
  private child: ChildProcess | undefined;
  private lastGood: ConfigBundle | undefined;
  private written = new Set<string>();
  private stopping = false;
  /** Set once a start succeeded: from then on an unexpected exit is followed by a restart. */
  private supervising = false;
  private attempt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private worker: number | undefined;
  private tail: string[] = [];

  constructor(private readonly opts: HAProxyOptions) {
    super();
    this.dir = opts.dir;
    this.configPath = join(opts.dir, 'haproxy.cfg');
    this.masterSocket = join(opts.dir, 'master.sock');
    this.bin = opts.bin ?? '/usr/sbin/haproxy';
    this.setpriv = opts.setpriv === undefined ? (existsSync(SETPRIV) ? SETPRIV : null) : opts.setpriv;
    this.runtime = new RuntimeApi(opts.statsSocket);
    this.log = opts.logger ?? createLogger({ component: 'haproxy' });
  }

  /** The master's pid while it runs. */
  get pid(): number | undefined {
    const c = this.child;
    return c && c.exitCode === null && c.signalCode === null ? c.pid : undefined;
  }

  /** The current worker's pid as last seen through the stats socket. */
  get workerPid(): number | undefined {
    return this.worker;
  }

  get running(): boolean {
    return this.pid !== undefined && this.worker !== undefined;
  }

  /** `haproxy -c` on the text (written to a temp file in the dir); never touches the running process. */
  async validate(configText: string): Promise<ValidateResult> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.dir, `.check-${randomBytes(4).toString('hex')}.cfg`);
    writeFileSync(tmp, configText, { mode: 0o600 });
    try {
      const { code, output } = await this.exec(['-c', '-f', tmp], 20_000);
      return code === 0 ? { ok: true, message: '' } : { ok: false, message: haproxyMessage(output).replaceAll(tmp, 'haproxy.cfg') };
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  /** Validates and persists a config without reloading (the files must agree with the running process). */
  async write(bundle: ConfigBundle): Promise<ValidateResult> {
    this.writeFiles(bundle.files);
    const result = await this.validate(bundle.config);
    if (!result.ok) {
      if (this.lastGood) this.writeFiles(this.lastGood.files);
      this.log.error('haproxy rejected the config; the previous one keeps serving', { error: result.message });
      return result;
    }
    writeAtomic(this.configPath, bundle.config);
    this.lastGood = { config: bundle.config, files: { ...bundle.files } };
    return result;
  }

  async start(bundle: ConfigBundle): Promise<void> {
    this.stopping = false;
    const result = await this.write(bundle);
    if (!result.ok) throw new PleacoError('invalid_config', `haproxy rejected the config: ${result.message}`, { details: { haproxy: result.message } });
    await this.endLeftovers();
    await this.spawnAndWait();
    this.supervising = true;
  }

  /** validate → write → reload through the master CLI → wait until the new worker answers. */
  async apply(bundle: ConfigBundle): Promise<ValidateResult & { reloaded: boolean }> {
    const result = await this.write(bundle);
    if (!result.ok) return { ...result, reloaded: false };
    if (!this.running) return { ...result, reloaded: false }; // a (re)start will load it
    await this.reload();
    return { ...result, reloaded: true };
  }

  async reload(): Promise<number> {
    const before = this.worker ?? (await this.runtime.pid());
    const failedBefore = await this.failedReloads();
    await this.master('reload');
    const deadline = Date.now() + (this.opts.reloadTimeoutMs ?? 60_000);
    while (Date.now() < deadline) {
      await sleep(50);
      const pid = await this.runtime.pid().catch(() => undefined);
      if (pid !== undefined && pid !== before) {
        this.worker = pid;
        this.log.info('haproxy reloaded', { worker: pid, previous: before });
        return pid;
      }
      if ((await this.failedReloads()) > failedBefore) throw new PleacoError('unavailable', `haproxy reload failed: ${this.tail.slice(-5).join(' | ')}`);
    }
    throw new PleacoError('unavailable', 'haproxy reload did not complete in time');
  }

  /** Stops HAProxy (SIGTERM, or SIGUSR1 to let workers finish), and does not restart it. */
  async stop(opts: { graceful?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(opts.graceful ? 'SIGUSR1' : 'SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 5000);
    await exited;
    clearTimeout(timer);
    this.worker = undefined;
  }

  /** Resolves once HAProxy answers on its stats socket (after a start or restart). */
  async whenRunning(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.running) {
      if (this.stopping || Date.now() > deadline) throw new PleacoError('unavailable', 'haproxy is not running');
      await sleep(50);
    }
  }

  private writeFiles(files: Record<string, string>): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (const [name, content] of Object.entries(files)) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new PleacoError('invalid_config', `invalid file name ${JSON.stringify(name)}`);
      writeAtomic(join(this.dir, name), content);
    }
    for (const name of this.written) if (!(name in files)) rmSync(join(this.dir, name), { force: true });
    this.written = new Set(Object.keys(files));
  }

  private async failedReloads(): Promise<number> {
    const out = await this.master('show proc').catch(() => '');
    return Number(/\[failed: (\d+)\]/.exec(out)?.[1] ?? 0);
  }

  /** A master CLI command; the master re-execs on reload, so its socket may refuse for a moment. */
  private async master(cmd: string): Promise<string> {
    for (let i = 0; ; i++) {
      try {
        return await socketCommand(this.masterSocket, cmd, { timeoutMs: 5000 });
      } catch (err) {
        if (i >= 40 || this.pid === undefined) throw err;
        await sleep(50);
      }
    }
  }

  private exec(args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.bin, args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new PleacoError('unavailable', `cannot run ${this.bin}: ${err.message}`, { cause: err }));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      });
    });
  }

  /**
   * Ends every HAProxy of this dir but our own running child: a master (and its workers) left by an earlier
   * pleaco-proxy, found by the pid file and by the command lines of all processes, checked in reap.ts.
   */
  private async endLeftovers(): Promise<void> {
    let hint = NaN;
    try {
      hint = Number(readFileSync(join(this.dir, 'haproxy.pid'), 'utf8').trim());
    } catch {
      /* no pid file */
    }
    const pids = haproxiesOf(this.configPath, this.bin, [hint]).filter((p) => p !== this.pid);
    if (pids.length === 0) return;
    this.log.warn('ending a haproxy left over from an earlier run', { pids });
    const left = await endHAProxies(pids, { configPath: this.configPath, bin: this.bin });
    if (left.length > 0) throw new PleacoError('unavailable', `a haproxy left over from an earlier run does not end (pids ${left.join(', ')})`);
  }

  private async spawnAndWait(): Promise<void> {
    const args = ['-W', '-db', '-S', `${this.masterSocket},mode,600`, '-p', join(this.dir, 'haproxy.pid'), '-f', this.configPath];
    // setpriv arms the parent-death signal and execs HAProxy (same pid); the master keeps it across its reload re-execs.
    const child = this.setpriv ? spawn(this.setpriv, ['--pdeathsig', 'SIGKILL', '--', this.bin, ...args], { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(this.bin, args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.worker = undefined;
    const startedAt = Date.now();
    const onLine = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        this.tail = [...this.tail.slice(-19), line];
        if (/\[ALERT\]/.test(line)) this.log.error('haproxy', { line });
        else if (/\[WARNING\]/.test(line)) this.log.warn('haproxy', { line });
        else this.log.debug('haproxy', { line });
      }
    };
    child.stdout?.on('data', onLine);
    child.stderr?.on('data', onLine);
    child.on('error', (err) => this.log.error('cannot start haproxy', { error: err }));
    child.on('exit', (code, signal) => this.onExit(child, code, signal, Date.now() - startedAt));
    this.log.info('haproxy starting', { pid: child.pid, config: this.configPath });
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 60_000);
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) throw new PleacoError('unavailable', `haproxy exited during start: ${this.tail.slice(-5).join(' | ')}`);
      const pid = await this.runtime.pid().catch(() => undefined);
      // Ready when the worker answers on the stats socket and the master on its CLI.
      if (pid !== undefined && (await socketCommand(this.masterSocket, 'show proc', { timeoutMs: 1000 }).then(() => true, () => false))) {
        this.worker = pid;
        this.log.info('haproxy running', { master: child.pid, worker: pid });
        return;
      }
      await sleep(50);
    }
    child.kill('SIGKILL');
    throw new PleacoError('unavailable', 'haproxy did not answer on its stats socket in time');
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, uptimeMs: number): void {
    if (this.child !== child) return;
    const worker = this.worker;
    this.worker = undefined;
    if (this.stopping || !this.supervising) {
      this.log.info('haproxy stopped', { code, signal });
      return;
    }
    this.log.error('haproxy exited unexpectedly', { code, signal, uptimeMs, last: this.tail.slice(-3) });
    this.emit('exit', { code, signal });
    // Workers leave with their master; make sure no orphan keeps serving an old config.
    if (worker !== undefined && isHAProxyOf(worker, this.configPath, this.bin)) {
      try {
        process.kill(worker, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
    if (uptimeMs > 30_000) this.attempt = 0;
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    const delay = Math.min(this.opts.restartMaxMs ?? 5000, (this.opts.restartMinMs ?? 200) * 2 ** this.attempt);
    this.attempt++;
    const attempt = this.attempt;
    this.restartTimer = setTimeout(() => void this.restart(attempt), delay);
  }

  private async restart(attempt: number): Promise<void> {
    if (this.stopping || !this.lastGood) return;
    const dead = this.child;
    try {
      this.writeFiles(this.lastGood.files);
      writeAtomic(this.configPath, this.lastGood.config);
      await this.endLeftovers(); // a worker of the master that died, still finishing its requests
      await this.spawnAndWait();
      this.log.info('haproxy restarted with the last good config', { attempt, worker: this.worker });
      this.emit('restarted', { pid: this.worker, attempt });
    } catch (err) {
      this.log.error('haproxy restart failed', { attempt, error: err });
      this.emit('restart-failed', { attempt, error: err });
      // A start that failed or timed out was killed: its exit handler schedules the next attempt. A failure before
      // anything was started (a leftover that would not end) schedules it here.
      if (this.child === dead && !this.stopping) this.scheduleRestart();
    }
  }
}
