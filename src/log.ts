/**
 * Structured logging: one JSON object per line on stdout; journald (or the launcher) collects it.
 * Fields whose names look secret are replaced, and URLs lose their userinfo, before anything is written.
 */
import { redactUrl } from './model/index.js';

export { redactUrl };

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEY = /(token|secret|password|passwd|authorization|credential|signature|^env$)/i;

let threshold: number = ORDER.info;
let sink: (line: string) => void = (line) => process.stdout.write(line + '\n');

export function setLogLevel(level: Level): void {
  threshold = ORDER[level];
}

/** For tests: capture log lines instead of writing them. Returns a restore function. */
export function setLogSink(fn: (line: string) => void): () => void {
  const prev = sink;
  sink = fn;
  return () => {
    sink = prev;
  };
}

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactUrl(value);
  if (value instanceof Error) return { name: value.name, message: redactUrl(value.message), code: (value as { code?: unknown }).code };
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1);
  return out;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function createLogger(base: Record<string, unknown> = {}): Logger {
  const write = (level: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[level] < threshold) return;
    const rec = { t: new Date().toISOString(), level, msg: redactUrl(msg), ...(redact({ ...base, ...fields }) as object) };
    sink(JSON.stringify(rec));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ ...base, ...fields }),
  };
}
