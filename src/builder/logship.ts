/**
 * Ships a build's log lines to the agent (AgentLink.appendBuildLog) in batches:
 * at most every ~100 ms, or at once when 64 lines are waiting. Shipping never blocks or fails the build: a
 * batch the agent does not take is logged and dropped. Lines are masked first: credentials in URLs, and the
 * app's config values (the app's own output may print them; they stay out of the build log, as CI systems do
 * with secrets).
 */
import { redactUrl, type Logger } from '../log.js';

/** Where the lines go (AgentLink satisfies it). */
export interface LogSink {
  appendBuildLog(app: string, id: string, text: string): Promise<void>;
}

const MAX_LINE = 8 * 1024;

export class Masker {
  private secrets: string[] = [];

  /** Values shorter than 4 characters are not masked (they would blank out ordinary words). */
  set(values: Iterable<string>): void {
    this.secrets = [...new Set([...values].filter((v) => v.length >= 4))].sort((a, b) => b.length - a.length);
  }

  mask(text: string): string {
    let out = redactUrl(text);
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join('***');
    return out;
  }
}

export class LogShipper {
  private buf: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private warned = false;
  readonly masker = new Masker();

  constructor(
    private readonly sink: LogSink,
    private readonly app: string,
    private readonly id: string,
    private readonly log: Logger,
    private readonly opts: { flushMs?: number; maxLines?: number } = {},
  ) {}

  line(text: string): void {
    for (const raw of text.split('\n')) {
      const l = this.masker.mask(raw.length > MAX_LINE ? `${raw.slice(0, MAX_LINE)}…` : raw);
      this.buf.push(l);
    }
    if (this.buf.length >= (this.opts.maxLines ?? 64)) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), this.opts.flushMs ?? 100);
  }

  /** Sends what is buffered (in order after earlier batches). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.buf.length === 0) return this.chain;
    const body = this.buf.join('\n') + '\n';
    this.buf = [];
    this.chain = this.chain.then(() =>
      this.sink.appendBuildLog(this.app, this.id, body).then(
        () => undefined,
        (err: unknown) => {
          if (!this.warned) this.log.warn('could not ship build log lines; dropping them', { app: this.app, build: this.id, error: err });
          this.warned = true;
        },
      ),
    );
    return this.chain;
  }

  /** Flushes and waits until every batch was sent (or dropped). */
  close(): Promise<void> {
    return this.flush();
  }
}
