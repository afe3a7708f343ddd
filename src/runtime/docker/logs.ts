/**
 * Container logs: Docker's multiplexed stdout/stderr frames (containers are created without a TTY)
 * decoded into lines, and `tailLogs`, which the agent uses for `GET /v1/apps/:name/logs`.
 */
import type Docker from 'dockerode';
import { PleacoError } from '../../errors.js';
import { LABELS, type AppLogLine } from '../../model/index.js';
import { engineUnavailable, isEngineDown } from '../engine.js';
import { bounded, DEFAULT_DEADLINES, withSignal, type EngineDeadlines } from './deadline.js';
import { OOM_NOTE, type LogLine, type LogStream, type TailOptions } from '../runtime.js';

/**
 * Incremental decoder of Docker's stream framing (8-byte header: stream byte, 3 zero bytes, uint32 BE size).
 * Falls back to raw stdout when the data is not framed (a container with a TTY).
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private raw = false;

  constructor(private readonly onData: (stream: LogStream, data: Buffer) => void) {}

  push(chunk: Buffer): void {
    if (this.raw) return this.onData('stdout', chunk);
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const type = this.buf[0]!;
      if (type > 2 || this.buf[1] !== 0 || this.buf[2] !== 0 || this.buf[3] !== 0) {
        this.raw = true;
        const rest = this.buf;
        this.buf = Buffer.alloc(0);
        return this.onData('stdout', rest);
      }
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) return;
      this.onData(type === 2 ? 'stderr' : 'stdout', this.buf.subarray(8, 8 + size));
      this.buf = this.buf.subarray(8 + size);
    }
  }
}

/** Splits each stream's bytes into lines; with `timestamps`, peels Docker's RFC 3339 prefix off each line. */
export class LineDecoder {
  private partial: Record<LogStream, string> = { stdout: '', stderr: '' };
  private frames: FrameDecoder;

  constructor(
    private readonly timestamps: boolean,
    private readonly onLine: (l: LogLine) => void,
  ) {
    this.frames = new FrameDecoder((stream, data) => this.feed(stream, data.toString('utf8')));
  }

  push(chunk: Buffer): void {
    this.frames.push(chunk);
  }

  private feed(stream: LogStream, text: string): void {
    const parts = (this.partial[stream] + text).split('\n');
    this.partial[stream] = parts.pop() ?? '';
    for (const p of parts) this.emit(stream, p);
  }

  private emit(stream: LogStream, raw: string): void {
    let line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (!this.timestamps) return this.onLine({ stream, line });
    const sp = line.indexOf(' ');
    const time = sp > 0 ? line.slice(0, sp) : line;
    line = sp > 0 ? line.slice(sp + 1) : '';
    this.onLine({ stream, line, time });
  }

  /** Emits what is left without a trailing newline. */
  end(): void {
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.partial[s]) this.emit(s, this.partial[s]);
      this.partial[s] = '';
    }
  }
}

/**
 * Sorts lines by Docker's timestamp (fixed-width RFC 3339 in UTC, so string order is time order);
 * stable, so lines with equal times keep the order Docker returned them in.
 *
 * This is the only cross-stream order there is: a container's stdout and stderr are two pipes, and
 * Docker stamps each line when its per-stream copier reads it. Lines written a few microseconds apart
 * on different streams can therefore be stamped (and stored) in either order; lines of one stream,
 * and lines written further apart, keep their order.
 */
export function byTime<T extends { time?: string }>(lines: T[]): T[] {
  return lines.sort((a, b) => ((a.time ?? '') < (b.time ?? '') ? -1 : (a.time ?? '') > (b.time ?? '') ? 1 : 0));
}

/** Decodes a complete (non-follow) multiplexed log buffer. */
export function decodeLogBuffer(buf: Buffer, timestamps: boolean): LogLine[] {
  const out: LogLine[] = [];
  const d = new LineDecoder(timestamps, (l) => out.push(l));
  d.push(buf);
  d.end();
  return out;
}

/** Pipes a followed log stream into onLine until it ends or the signal aborts. */
export function pumpLogStream(stream: NodeJS.ReadableStream, timestamps: boolean, onLine: (l: LogLine) => void, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const d = new LineDecoder(timestamps, onLine);
    const done = (): void => {
      signal?.removeEventListener('abort', onAbort);
      d.end();
      resolve();
    };
    const onAbort = (): void => {
      (stream as unknown as { destroy?: () => void }).destroy?.();
      done();
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.on('data', (c: Buffer) => d.push(c));
    stream.on('end', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

/** Docker's event JSON (the fields pleaco reads). */
export interface DockerEvent {
  Type?: string;
  Action?: string;
  status?: string;
  id?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** A data handler that splits a byte stream of newline-delimited JSON into parsed values. */
export function jsonLines(onValue: (v: unknown) => void): (chunk: Buffer | string) => void {
  let buf = '';
  return (chunk) => {
    buf += chunk.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line) continue;
      try {
        onValue(JSON.parse(line));
      } catch {
        /* not JSON: skip */
      }
    }
  };
}

interface Source {
  id: string;
  slot: string;
  release: number;
  /** Stopped (its log may end with an OOM kill). */
  exited: boolean;
}

function filters(nodeId: string, app: string): { label: string[] } {
  return { label: [`${LABELS.managed}=true`, `${LABELS.node}=${nodeId}`, `${LABELS.role}=app`, `${LABELS.app}=${app}`] };
}

function sourceOf(id: string, labels: Record<string, string> | undefined, state?: string): Source {
  return { id, slot: labels?.[LABELS.slot] ?? '?', release: Number(labels?.[LABELS.release] ?? 0), exited: state === 'exited' || state === 'dead' };
}

/**
 * Reads the logs of an app's managed containers on this node. Without follow: the last `tail` lines of
 * each container, merged in time order, then resolves. With follow: keeps streaming, attaches to
 * containers that start later (restarts, rollouts), and resolves when the signal aborts. The listing (and, with
 * follow, the events stream) failing or not answering in time rejects as `docker_unavailable`.
 */
export async function tailLogs(
  engine: Docker,
  nodeId: string,
  app: string,
  opts: TailOptions,
  onLine: (l: AppLogLine) => void,
  at: { where: string; deadlines: EngineDeadlines } = { where: 'the Docker socket', deadlines: DEFAULT_DEADLINES },
): Promise<void> {
  const tail = opts.tail ?? 100;
  const d = at.deadlines;
  const call = <T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> => bounded(at.where, d.callMs, fn);
  const down = (err: unknown): unknown => (err instanceof PleacoError || !isEngineDown(err) ? err : engineUnavailable(at.where, err));
  const list = await call((signal) => engine.listContainers(withSignal({ all: true, filters: filters(nodeId, app) }, signal))).catch((err: unknown) => {
    throw down(err);
  });
  const sources = list.map((c) => sourceOf(c.Id, c.Labels, c.State)).sort((a, b) => (a.slot < b.slot ? -1 : a.slot > b.slot ? 1 : a.release - b.release));
  if (!opts.follow) {
    const backlog: (AppLogLine & { time: string })[] = [];
    for (const s of sources) {
      try {
        const c = engine.getContainer(s.id);
        const buf = await call((signal) => c.logs(withSignal({ stdout: true, stderr: true, tail, timestamps: true, follow: false as const }, signal)));
        for (const l of decodeLogBuffer(buf, true)) backlog.push({ slot: s.slot, release: s.release, stream: l.stream, line: l.line, time: l.time ?? '' });
        if (s.exited) {
          const st = (await call((signal) => c.inspect(withSignal({}, signal)))).State;
          if (st?.OOMKilled) backlog.push({ slot: s.slot, release: s.release, stream: 'stderr', line: OOM_NOTE, time: st.FinishedAt ?? '' });
        }
      } catch (err) {
        if (err instanceof PleacoError && err.code === 'docker_unavailable') throw err;
        /* removed meanwhile */
      }
    }
    for (const { time: _t, ...l } of byTime(backlog)) onLine(l);
    return;
  }
  if (opts.signal?.aborted) return;
  const signal = opts.signal;
  const followed = new Set<string>();
  const follows: Promise<void>[] = [];
  // Backlog and live lines come from one stream per container: nothing lost or repeated in between.
  const follow = (s: Source, lines: number | 'all'): void => {
    if (followed.has(s.id)) return;
    followed.add(s.id);
    const p = bounded(at.where, d.firstByteMs, (sig) => engine.getContainer(s.id).logs(withSignal({ stdout: true, stderr: true, follow: true as const, tail: lines as number, timestamps: false }, sig)), signal)
      .then((stream) => pumpLogStream(stream, false, (l) => onLine({ slot: s.slot, release: s.release, stream: l.stream, line: l.line }), signal))
      .catch(() => undefined);
    follows.push(p);
  };
  for (const s of sources) follow(s, tail);
  let events: NodeJS.ReadableStream;
  try {
    events = await bounded(at.where, d.firstByteMs, (sig) => engine.getEvents(withSignal({ filters: { type: ['container' as const], event: ['start' as const, 'oom' as const], ...filters(nodeId, app) } }, sig)), signal);
  } catch (err) {
    if (signal?.aborted) return void (await Promise.all(follows));
    throw down(err);
  }
  events.on('data', jsonLines((raw) => {
    const ev = raw as DockerEvent;
    const id = ev.Actor?.ID ?? ev.id;
    if (!id) return;
    const src = sourceOf(id, ev.Actor?.Attributes);
    if ((ev.Action ?? ev.status) === 'oom') onLine({ slot: src.slot, release: src.release, stream: 'stderr', line: OOM_NOTE });
    else follow(src, 'all');
  }));
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      (events as unknown as { destroy?: () => void }).destroy?.();
      resolve();
    };
    events.on('end', resolve);
    events.on('close', resolve);
    events.on('error', () => resolve());
    if (!signal) return;
    if (signal.aborted) return stop();
    signal.addEventListener('abort', stop, { once: true });
  });
  await Promise.all(follows);
}
