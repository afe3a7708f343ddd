/**
 * Build logs, kept per build as a file under the state dir and fanned out to live followers.
 * Lines are numbered so a follower that reads the file and then subscribes sees each line once.
 */
import { EventEmitter } from 'node:events';
import { appendFile, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PleacoError } from '../errors.js';
import { redactUrl } from '../log.js';

const ID_RE = /^[a-z0-9-]+$/;
export const MAX_LOG_BYTES = 8 * 1024 * 1024;

export class BuildLogs {
  private readonly events = new EventEmitter();
  private readonly counts = new Map<string, number>();
  private readonly sizes = new Map<string, number>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly root: string) {
    this.events.setMaxListeners(0);
  }

  private path(app: string, id: string): string {
    if (!ID_RE.test(app) || !ID_RE.test(id)) throw new PleacoError('bad_request', 'invalid build log name');
    return join(this.root, app, `${id}.log`);
  }

  /** Reads all lines so far (and primes the line counter). */
  async read(app: string, id: string): Promise<string[]> {
    let text = '';
    try {
      text = await readFile(this.path(app, id), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const lines = text ? text.replace(/\n$/, '').split('\n') : [];
    const k = `${app}/${id}`;
    if (!this.counts.has(k)) {
      this.counts.set(k, lines.length);
      this.sizes.set(k, Buffer.byteLength(text));
    }
    return lines;
  }

  /** Appends lines (credentials in URLs are masked); appends are serialized so order is kept. */
  append(app: string, id: string, text: string): Promise<void> {
    const file = this.path(app, id);
    const k = `${app}/${id}`;
    const lines = redactUrl(text).replace(/\r\n?/g, '\n').replace(/\n$/, '').split('\n');
    const run = async (): Promise<void> => {
      if (!this.counts.has(k)) await this.read(app, id);
      let size = this.sizes.get(k) ?? 0;
      if (size > MAX_LOG_BYTES) return;
      const body = lines.join('\n') + '\n';
      size += Buffer.byteLength(body);
      await mkdir(join(this.root, app), { recursive: true, mode: 0o700 });
      await appendFile(file, size > MAX_LOG_BYTES ? body + '[log truncated: over 8 MiB]\n' : body, { mode: 0o600 });
      this.sizes.set(k, size);
      let n = this.counts.get(k) ?? 0;
      for (const line of lines) this.events.emit(k, ++n, line);
      this.counts.set(k, n);
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /**
   * The lines so far, and a subscription to every later line. Runs in the append queue, so no
   * line falls between the read and the subscription. Call `close` to unsubscribe.
   */
  open(app: string, id: string, onLine: (line: string) => void): Promise<{ lines: string[]; close: () => void }> {
    const k = `${app}/${id}`;
    const run = async (): Promise<{ lines: string[]; close: () => void }> => {
      const lines = await this.read(app, id);
      const after = lines.length;
      const fn = (n: number, line: string): void => {
        if (n > after) onLine(line);
      };
      this.events.on(k, fn);
      return { lines, close: () => this.events.off(k, fn) };
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  async removeApp(app: string): Promise<void> {
    if (!ID_RE.test(app)) return;
    await rm(join(this.root, app), { recursive: true, force: true });
    for (const k of [...this.counts.keys()]) if (k.startsWith(`${app}/`)) this.forget(k);
  }

  /** Every log file held on this node: app, build id and last change (ms). */
  async list(): Promise<{ app: string; id: string; mtimeMs: number }[]> {
    const out: { app: string; id: string; mtimeMs: number }[] = [];
    const apps = await readdir(this.root).catch(() => [] as string[]);
    for (const app of apps) {
      if (!ID_RE.test(app)) continue;
      const files = await readdir(join(this.root, app)).catch(() => [] as string[]);
      for (const f of files) {
        const id = f.endsWith('.log') ? f.slice(0, -4) : '';
        if (!ID_RE.test(id)) continue;
        const st = await stat(join(this.root, app, f)).catch(() => null);
        if (st) out.push({ app, id, mtimeMs: st.mtimeMs });
      }
    }
    return out;
  }

  /** Removes one build's log (in the append queue, so no append recreates it half-way). */
  remove(app: string, id: string): Promise<void> {
    const file = this.path(app, id);
    const run = async (): Promise<void> => {
      await rm(file, { force: true });
      this.forget(`${app}/${id}`);
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private forget(k: string): void {
    this.counts.delete(k);
    this.sizes.delete(k);
  }
}
