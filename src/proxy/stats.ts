/**
 * Parses HAProxy's `show stat` CSV (management guide §9.1: a header line starting with "# ", then one line
 * per frontend, backend and server) into per-app request metrics. Pure. Columns are found by name from the
 * header, never by position.
 */
import type { StatusCodeCounts } from '../model/index.js';
import { appOfBackend } from './model.js';

export type StatRow = Record<string, string>;

export type ServerStatus = 'UP' | 'DOWN' | 'MAINT' | 'DRAIN' | 'no check';

export interface ServerStats {
  /** Slot name (s1, s2, ...). */
  name: string;
  status: ServerStatus;
  /** HAProxy's own status text, e.g. "UP 1/3" (going down) or "MAINT (via ...)". */
  rawStatus: string;
  /** Last check result, e.g. L7OK, L7STS, L4CON ("" when no check ran). */
  checkStatus: string;
  weight: number;
  /** addr:port this slot points at. */
  addr: string;
  inFlight: number;
}

/** Responses by status class (the same shape the agent keeps as soft state). */
export type CodeCounts = StatusCodeCounts;

export interface AppStats {
  app: string;
  backend: string;
  /** Requests per second over the last second (HAProxy's backend session rate: one stream per HTTP request). */
  reqRate: number;
  reqTotal: number;
  /** Requests being served now (backend scur). */
  inFlight: number;
  /** Requests waiting for a server (qcur). */
  queue: number;
  codes: CodeCounts;
  /** Average over the last 1024 requests, ms (rtime / ttime). */
  avgResponseMs: number;
  avgTotalMs: number;
  status: string;
  servers: ServerStats[];
}

/** CSV → one object per line keyed by the header's column names. */
export function parseStatCsv(text: string): StatRow[] {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const headerAt = lines.findIndex((l) => l.startsWith('# '));
  if (headerAt < 0) return [];
  const cols = lines[headerAt]!.slice(2).split(',');
  const rows: StatRow[] = [];
  for (const line of lines.slice(headerAt + 1)) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const cells = line.split(',');
    const row: StatRow = {};
    cols.forEach((c, i) => {
      if (c !== '') row[c] = cells[i] ?? '';
    });
    rows.push(row);
  }
  return rows;
}

const num = (v: string | undefined): number => {
  const n = Number(v);
  return v === undefined || v === '' || !Number.isFinite(n) ? 0 : n;
};

export function normalizeStatus(raw: string): ServerStatus {
  const s = raw.trim();
  if (s.startsWith('UP')) return 'UP';
  if (s.startsWith('DOWN')) return 'DOWN';
  if (s.startsWith('MAINT')) return 'MAINT';
  if (s.startsWith('DRAIN') || s.startsWith('NOLB')) return 'DRAIN';
  return 'no check';
}

/** Per-app stats for the `app_*` backends (other proxies are ignored). */
export function appStats(rows: StatRow[]): AppStats[] {
  const byBackend = new Map<string, AppStats>();
  for (const row of rows) {
    const backend = row.pxname ?? '';
    const app = appOfBackend(backend);
    if (app === null || row.svname !== 'BACKEND') continue;
    byBackend.set(backend, {
      app,
      backend,
      reqRate: num(row.rate),
      reqTotal: num(row.req_tot),
      inFlight: num(row.scur),
      queue: num(row.qcur),
      codes: { '1xx': num(row.hrsp_1xx), '2xx': num(row.hrsp_2xx), '3xx': num(row.hrsp_3xx), '4xx': num(row.hrsp_4xx), '5xx': num(row.hrsp_5xx), other: num(row.hrsp_other) },
      avgResponseMs: num(row.rtime),
      avgTotalMs: num(row.ttime),
      status: row.status ?? '',
      servers: [],
    });
  }
  for (const row of rows) {
    const stats = byBackend.get(row.pxname ?? '');
    if (!stats || row.svname === 'BACKEND' || row.svname === 'FRONTEND' || !row.svname) continue;
    stats.servers.push({
      name: row.svname,
      status: normalizeStatus(row.status ?? ''),
      rawStatus: row.status ?? '',
      checkStatus: (row.check_status ?? '').replace(/^\* /, ''),
      weight: num(row.weight),
      addr: row.addr ?? '',
      inFlight: num(row.scur),
    });
  }
  return [...byBackend.values()];
}
