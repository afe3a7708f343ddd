/**
 * Human output for the CLI: aligned tables, Heroku-style `=== header` sections and `Key: value` lists,
 * durations, relative times and light colour. Pure functions: no I/O, no clock unless one is passed.
 */

/** Where the CLI writes. Each call writes one line (the newline is added by the writer). */
export interface Output {
  out(line: string): void;
  err(line: string): void;
  /** Colour is allowed on stdout (a TTY, NO_COLOR unset, no --no-color). */
  color: boolean;
  /** The same for stderr; defaults to `color`. */
  errColor?: boolean;
}

const ANSI = { bold: [1, 22], dim: [2, 22], red: [31, 39], green: [32, 39], yellow: [33, 39], cyan: [36, 39] } as const;
export type Style = keyof typeof ANSI;

export function paint(on: boolean, style: Style, text: string): string {
  if (!on) return text;
  const [open, close] = ANSI[style];
  return `\u001b[${open}m${text}\u001b[${close}m`;
}

/** Visible width (without ANSI escapes). */
export function width(text: string): number {
  // eslint-disable-next-line no-control-regex
  return [...text.replace(/\u001b\[[0-9;]*m/g, '')].length;
}

function pad(text: string, n: number): string {
  return text + ' '.repeat(Math.max(0, n - width(text)));
}

/**
 * Aligned columns separated by two spaces, an upper-case header row, no trailing spaces.
 * Cells that are null/undefined print as empty.
 */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string[] {
  const cells = rows.map((r) => headers.map((_, i) => (r[i] === null || r[i] === undefined ? '' : String(r[i]))));
  const all = [headers.map((h) => h.toUpperCase()), ...cells];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => width(r[i] ?? ''))));
  return all.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : pad(c, widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** Aligned columns without a header row (help listings). */
export function columns(rows: string[][], indent = '  '): string[] {
  return table(rows[0]?.map(() => '') ?? [], rows)
    .slice(1)
    .map((l) => indent + l);
}

/** `=== title` (Heroku's section header). */
export function header(title: string, color = false): string {
  return paint(color, 'bold', `=== ${title}`);
}

/** `Key:   value` lines with the values aligned; entries with a null/undefined value are left out. */
export function keyValues(entries: [string, string | number | null | undefined][]): string[] {
  const shown = entries.filter((e): e is [string, string | number] => e[1] !== null && e[1] !== undefined);
  const w = Math.max(0, ...shown.map(([k]) => width(k) + 1));
  return shown.map(([k, v]) => `${pad(k + ':', w)} ${v}`.trimEnd());
}

/** 850ms, 4.2s, 1m 05s, 2h 03m, 3d 04h. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  const total = Math.floor(s);
  const two = (n: number): string => String(n).padStart(2, '0');
  if (total < 3600) return `${Math.floor(total / 60)}m ${two(total % 60)}s`;
  if (total < 86_400) return `${Math.floor(total / 3600)}h ${two(Math.floor((total % 3600) / 60))}m`;
  return `${Math.floor(total / 86_400)}d ${two(Math.floor((total % 86_400) / 3600))}h`;
}

/** "just now", "5 minutes ago", "in 2 hours" (for future times such as retry deadlines), "3 days ago". */
export function relativeTime(iso: string | null | undefined, now: number): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const diff = now - t;
  const abs = Math.abs(diff);
  if (abs < 10_000) return 'just now';
  const units: [number, string][] = [
    [365 * 86_400_000, 'year'],
    [30 * 86_400_000, 'month'],
    [86_400_000, 'day'],
    [3_600_000, 'hour'],
    [60_000, 'minute'],
    [1000, 'second'],
  ];
  const [size, name] = units.find(([u]) => abs >= u) ?? [1000, 'second'];
  const n = Math.floor(abs / size);
  const phrase = `${n} ${name}${n === 1 ? '' : 's'}`;
  return diff >= 0 ? `${phrase} ago` : `in ${phrase}`;
}

/** Binary sizes: 512 MiB, 7.8 GiB. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 || v >= 10 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** The first 7 characters of a commit, or '-'. */
export function shortSha(sha: string | null | undefined): string {
  return sha ? sha.slice(0, 7) : '-';
}

/** "a", "a and b", "a, b and c". */
export function list(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** Pretty JSON for --json. */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
