/**
 * Starts pleaco's processes as children with the same entry points the systemd units run, and
 * restarts one that dies (like `Restart=always`, with backoff). Each child's structured stdout goes
 * to <state>/logs/<name>.log; warnings and errors are also shown on the terminal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';

export interface ProcSpec {
  name: string;
  script: string;
}

interface Running {
  spec: ProcSpec;
  child: ChildProcess | null;
  restarts: number;
  startedAt: number;
  out: WriteStream;
}

export class Supervisor {
  private readonly procs: Running[] = [];
  private stopping = false;

  constructor(
    private readonly opts: { logDir: string; env: NodeJS.ProcessEnv; onLine?: (proc: string, line: string) => void },
  ) {
    mkdirSync(opts.logDir, { recursive: true, mode: 0o700 });
  }

  start(spec: ProcSpec): void {
    const r: Running = { spec, child: null, restarts: 0, startedAt: 0, out: createWriteStream(join(this.opts.logDir, `${spec.name}.log`), { flags: 'a', mode: 0o600 }) };
    this.procs.push(r);
    this.launch(r);
  }

  private launch(r: Running): void {
    r.startedAt = Date.now();
    const child = spawn(process.execPath, ['--enable-source-maps', r.spec.script], { env: this.opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    r.child = child;
    let buf = '';
    const onData = (d: Buffer): void => {
      r.out.write(d);
      buf += d.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.opts.onLine?.(r.spec.name, buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code, signal) => {
      r.child = null;
      if (this.stopping) return;
      if (Date.now() - r.startedAt > 30_000) r.restarts = 0;
      const delay = Math.min(1000 * 2 ** r.restarts, 30_000);
      r.restarts++;
      this.opts.onLine?.(r.spec.name, JSON.stringify({ level: 'warn', msg: `${r.spec.name} exited (${signal ?? code}); restarting in ${delay / 1000} s` }));
      setTimeout(() => !this.stopping && this.launch(r), delay);
    });
  }

  /** Sends a signal to one process (tests use SIGKILL to prove nothing is lost). Returns false when it is not running. */
  signal(name: string, sig: NodeJS.Signals): boolean {
    const r = this.procs.find((p) => p.spec.name === name);
    return r?.child ? r.child.kill(sig) : false;
  }

  /** Sends SIGTERM to every child and waits for them (SIGKILL after the timeout). */
  async stop(timeoutMs = 15_000): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.procs.map(
        (r) =>
          new Promise<void>((resolve) => {
            const c = r.child;
            const done = (): void => {
              r.out.end();
              resolve();
            };
            if (!c || c.exitCode !== null) return done();
            const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
            c.once('exit', () => {
              clearTimeout(t);
              done();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
  }
}
