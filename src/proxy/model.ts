/**
 * What the data plane serves, in pleaco's terms (no HAProxy syntax here), and the validation every name
 * passes before it may reach a config file or a runtime command. Pure.
 */
import { isIP } from 'node:net';
import { PleacoError } from '../errors.js';
import { isHealthPath, validateAppName, validateHost } from '../model/index.js';

export interface ProxyModel {
  port: number;
  /** IP literal the frontend binds (e.g. 0.0.0.0, 127.0.0.1, ::). */
  bindHost: string;
  apps: ProxyApp[];
}

export interface ProxyHealth {
  /** HTTP path checked on each server; a 2xx/3xx answer counts as healthy. */
  path: string;
  intervalMs: number;
  /** Consecutive passing checks before a server takes traffic. */
  rise: number;
  /** Consecutive failing checks before it leaves rotation. */
  fall: number;
}

export interface ProxyApp {
  name: string;
  /** Lowercase host names routed to this app. */
  hosts: string[];
  health: ProxyHealth;
  servers: ProxyServer[];
  /**
   * Where requests go while no server of the app is up (its `backup` server): the proxy's activator, for an app that
   * may scale to zero (it holds the requests, wakes the app and forwards them to its first healthy replica).
   */
  activator?: { addr: string; port: number };
}

export type ServerState = 'ready' | 'drain';

export interface ProxyServer {
  /** Stable identity (e.g. the container id): keeps a server in its slot across renders. */
  id: string;
  addr: string;
  port: number;
  state: ServerState;
  /** The most connections HAProxy opens to it at once (more requests wait in HAProxy's queue); absent: no limit. */
  maxconn?: number;
}

export const DEFAULT_HEALTH: ProxyHealth = { path: '/', intervalMs: 2000, rise: 2, fall: 3 };

/** HAProxy names derived from pleaco names (both validated). */
export const backendName = (app: string): string => `app_${app}`;
export const slotName = (index: number): string => `s${index}`;
export const appOfBackend = (backend: string): string | null => (backend.startsWith('app_') ? backend.slice(4) : null);

const SERVER_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

function bad(code: 'invalid_name' | 'invalid_config' | 'conflict', message: string): PleacoError {
  return new PleacoError(code, message);
}

function int(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

export function validateHealth(app: string, h: ProxyHealth): void {
  if (!h || !isHealthPath(h.path)) throw bad('invalid_config', `app ${app}: invalid health path ${JSON.stringify(h?.path)} (must start with '/', no spaces, quotes, '#', '$', ';' or '%')`);
  if (!int(h.intervalMs, 100, 3_600_000)) throw bad('invalid_config', `app ${app}: health intervalMs must be an integer from 100 to 3600000`);
  if (!int(h.rise, 1, 100) || !int(h.fall, 1, 100)) throw bad('invalid_config', `app ${app}: health rise and fall must be integers from 1 to 100`);
}

export function validateServer(app: string, s: ProxyServer): void {
  if (typeof s.id !== 'string' || !SERVER_ID_RE.test(s.id)) throw bad('invalid_name', `app ${app}: invalid server id ${JSON.stringify(s.id)}`);
  if (typeof s.addr !== 'string' || isIP(s.addr) === 0) throw bad('invalid_config', `app ${app}: server ${s.id} address ${JSON.stringify(s.addr)} is not an IP address`);
  if (!int(s.port, 1, 65535)) throw bad('invalid_config', `app ${app}: server ${s.id} port must be 1..65535`);
  if (s.state !== 'ready' && s.state !== 'drain') throw bad('invalid_config', `app ${app}: server ${s.id} state must be ready or drain`);
  if (s.maxconn !== undefined && !int(s.maxconn, 1, 1_000_000)) throw bad('invalid_config', `app ${app}: server ${s.id} maxconn must be 1..1000000`);
}

export function validateActivator(app: string, a: ProxyApp['activator']): void {
  if (a === undefined) return;
  if (!a || typeof a.addr !== 'string' || isIP(a.addr) === 0 || !int(a.port, 1, 65535)) throw bad('invalid_config', `app ${app}: the activator must be an IP address and a port`);
}

/** Throws a PleacoError (invalid_name / invalid_config / conflict) on the first problem found. */
export function validateModel(model: ProxyModel): void {
  if (!model || !Array.isArray(model.apps)) throw bad('invalid_config', 'proxy model must have an apps array');
  if (!int(model.port, 1, 65535)) throw bad('invalid_config', `proxy port must be 1..65535, got ${String(model.port)}`);
  if (typeof model.bindHost !== 'string' || isIP(model.bindHost) === 0) throw bad('invalid_config', `proxy bindHost must be an IP address, got ${JSON.stringify(model.bindHost)}`);
  const apps = new Set<string>();
  const owner = new Map<string, string>();
  for (const app of model.apps) {
    validateAppName(app.name);
    if (apps.has(app.name)) throw bad('conflict', `app ${app.name} appears twice in the proxy model`);
    apps.add(app.name);
    validateHealth(app.name, app.health);
    validateActivator(app.name, app.activator);
    if (!Array.isArray(app.hosts) || !Array.isArray(app.servers)) throw bad('invalid_config', `app ${app.name}: hosts and servers must be arrays`);
    for (const host of app.hosts) {
      validateHost(host);
      const other = owner.get(host);
      if (other !== undefined && other !== app.name) throw bad('conflict', `host ${host} is routed to both ${other} and ${app.name}`);
      owner.set(host, app.name);
    }
    const ids = new Set<string>();
    for (const s of app.servers) {
      validateServer(app.name, s);
      if (ids.has(s.id)) throw bad('conflict', `app ${app.name}: server id ${s.id} appears twice`);
      ids.add(s.id);
    }
  }
}
