/**
 * An app's container limits (`resources:set`): memory, CPUs and processes. The app spec holds what was set; every
 * release snapshots it (like its config), so a change rolls out as a new release and a rollback restores the
 * limits of the release it goes back to. A field left out takes the node's default (PLEACO_APP_MEMORY, …).
 */
import { PleacoError } from '../errors.js';

export interface Resources {
  /** Memory limit in bytes (no swap on top). */
  memoryBytes?: number;
  /** CPU quota in CPUs (1.5 = one and a half cores). */
  cpus?: number;
  /** Most processes and threads the container may hold. */
  pids?: number;
}

export const RESOURCE_LIMITS = { memoryBytes: [16 * 1024 ** 2, 1024 ** 4], cpus: [0.01, 1024], pids: [16, 4_194_304] } as const;

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i;
const UNIT = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 } as const;

/** A size like `512m`, `1.5g`, `2GiB` or `1048576` in bytes; null when it is not one. */
export function parseSize(raw: string): number | null {
  const m = SIZE_RE.exec(raw.trim());
  if (!m) return null;
  const n = Number(m[1]) * UNIT[(m[2] ?? '').toLowerCase() as keyof typeof UNIT];
  return Number.isFinite(n) ? Math.round(n) : null;
}

/** Bytes as people read them: `512 MiB`, `1.5 GiB`. */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

function bad(message: string): PleacoError {
  return new PleacoError('bad_request', message);
}

/**
 * A change of an app's limits: each field a number (memoryBytes also a size string like `512m`), or null to go back
 * to the node's default. Returns the app's new limits given its current ones.
 */
export function applyResourceChange(current: Resources | undefined, input: unknown): Resources {
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw bad('the resources change must be an object {memoryBytes, cpus, pids}');
  const given = input as Record<string, unknown>;
  const unknown = Object.keys(given).find((k) => !(k in RESOURCE_LIMITS));
  if (unknown !== undefined) throw bad(`unknown resource ${JSON.stringify(unknown)} (use memoryBytes, cpus, pids)`);
  if (Object.keys(given).length === 0) throw bad('nothing to change: give memoryBytes, cpus or pids');
  const next: Resources = { ...(current ?? {}) };
  for (const f of ['memoryBytes', 'cpus', 'pids'] as const) {
    if (!(f in given)) continue;
    const raw = given[f];
    if (raw === null) {
      delete next[f];
      continue;
    }
    const v = f === 'memoryBytes' && typeof raw === 'string' ? parseSize(raw) : raw;
    const [min, max] = RESOURCE_LIMITS[f];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (f !== 'cpus' && !Number.isInteger(v))) {
      const range = f === 'memoryBytes' ? `${formatSize(min)} to ${formatSize(max)}` : `${min} to ${max}`;
      throw bad(`${f} must be ${f === 'cpus' ? 'a number' : 'a whole number'} from ${range}, got ${JSON.stringify(raw)}`);
    }
    next[f] = f === 'cpus' ? Math.round(v * 100) / 100 : v;
  }
  return next;
}

/** `memory 512 MiB, 1.5 CPUs, 256 processes` (the fields that are set; `defaults` when none). */
export function describeResources(r: Resources | undefined): string {
  const parts: string[] = [];
  if (r?.memoryBytes !== undefined) parts.push(`memory ${formatSize(r.memoryBytes)}`);
  if (r?.cpus !== undefined) parts.push(`${r.cpus} CPU${r.cpus === 1 ? '' : 's'}`);
  if (r?.pids !== undefined) parts.push(`${r.pids} processes`);
  return parts.length ? parts.join(', ') : 'defaults';
}

/** The node's defaults (config.app): null is no limit. */
export interface ResourceDefaults {
  memoryBytes: number | null;
  cpus: number | null;
  pids: number | null;
}

/** What an app's containers run with: its own limits over the node's defaults (a field absent: no limit). */
export function effectiveResources(own: Resources | undefined, defaults: ResourceDefaults | undefined): Resources {
  const out: Resources = {};
  const memoryBytes = own?.memoryBytes ?? defaults?.memoryBytes;
  const cpus = own?.cpus ?? defaults?.cpus;
  const pids = own?.pids ?? defaults?.pids;
  if (memoryBytes) out.memoryBytes = memoryBytes;
  if (cpus) out.cpus = cpus;
  if (pids) out.pids = pids;
  return out;
}
