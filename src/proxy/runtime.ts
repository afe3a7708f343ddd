/**
 * HAProxy's runtime API over the admin stats socket (management guide §9.3): one connection per command,
 * with a timeout. Every argument is validated and a command may not contain a newline or ';' (HAProxy's
 * command separator), so a name can never smuggle a second command in.
 */
import { createConnection, isIP } from 'node:net';
import { PleacoError } from '../errors.js';
import { parseStatCsv, type StatRow } from './stats.js';

const ARG_RE = /^[A-Za-z0-9._\-/@:]{1,253}$/;

export interface SocketOptions {
  timeoutMs?: number;
}

/** Sends one command line to a HAProxy CLI socket (stats or master) and returns the whole answer. */
export function socketCommand(path: string, cmd: string, opts: SocketOptions = {}): Promise<string> {
  if (/[\r\n;\0]/.test(cmd)) return Promise.reject(new PleacoError('bad_request', 'refused a HAProxy command containing a newline or ";"'));
  return send(path, cmd, opts.timeoutMs ?? 5000);
}

/** One connection, one line; the answer is everything HAProxy writes until it closes. */
function send(path: string, line: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let settled = false;
    const sock = createConnection(path);
    const done = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(new PleacoError('unavailable', `haproxy socket ${path}: ${err.message}`, { cause: err }));
      else resolve(out);
    };
    const timer = setTimeout(() => done(new Error(`no answer to "${line.split(' ')[0]}" within ${timeoutMs} ms`)), timeoutMs);
    sock.setEncoding('utf8');
    // The master CLI answers only after the client half-closes; the stats socket closes on its own.
    sock.on('connect', () => sock.end(line + '\n'));
    sock.on('data', (d: string) => (out += d));
    sock.on('end', () => done(null));
    sock.on('close', () => done(null));
    sock.on('error', (err) => done(err));
  });
}

export interface ServerUpdate {
  addr?: string;
  port?: number;
  state?: 'ready' | 'drain' | 'maint';
  /** Force the health status; `down` makes a freshly enabled server pass `rise` checks before it takes traffic. */
  health?: 'up' | 'down';
  /** The most connections open to it at once; 0: no limit. */
  maxconn?: number;
}

export interface MapEntry {
  id: string;
  key: string;
  value: string;
}

function arg(what: string, value: string): string {
  if (typeof value !== 'string' || !ARG_RE.test(value)) throw new PleacoError('bad_request', `invalid ${what} for a HAProxy command: ${JSON.stringify(value)}`);
  return value;
}

/** An answer that is not empty and not one of the known success texts is HAProxy's error message. */
function expectOk(cmd: string, answer: string, ok: RegExp = /^$/): string {
  const text = answer.trim();
  if (text === '' || ok.test(text)) return text;
  throw new PleacoError('unavailable', `haproxy refused "${cmd}": ${text.split('\n')[0]}`, { details: { answer: text } });
}

export class RuntimeApi {
  constructor(readonly socketPath: string, private readonly opts: SocketOptions = {}) {}

  command(cmd: string): Promise<string> {
    return socketCommand(this.socketPath, cmd, this.opts);
  }

  async showInfo(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const line of (await this.command('show info')).split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
    }
    return out;
  }

  async pid(): Promise<number> {
    const pid = Number((await this.showInfo()).Pid);
    if (!Number.isInteger(pid) || pid <= 0) throw new PleacoError('unavailable', 'haproxy did not report its pid');
    return pid;
  }

  async showStat(): Promise<StatRow[]> {
    return parseStatCsv(await this.command('show stat'));
  }

  showServersState(backend?: string): Promise<string> {
    return this.command(backend === undefined ? 'show servers state' : `show servers state ${arg('backend', backend)}`);
  }

  /**
   * Changes a server's address, then its connection limit, then its administrative state, then its forced health, in that order. The
   * state and health changes go in one request so no traffic is routed between them.
   */
  async setServer(backend: string, server: string, update: ServerUpdate): Promise<void> {
    const target = `${arg('backend', backend)}/${arg('server', server)}`;
    if (update.addr !== undefined || update.port !== undefined) {
      if (update.addr === undefined || isIP(update.addr) === 0) throw new PleacoError('bad_request', `invalid server address ${JSON.stringify(update.addr)}`);
      let cmd = `set server ${target} addr ${update.addr}`;
      if (update.port !== undefined) {
        if (!Number.isInteger(update.port) || update.port < 1 || update.port > 65535) throw new PleacoError('bad_request', `invalid server port ${update.port}`);
        cmd += ` port ${update.port}`;
      }
      expectOk(cmd, await this.command(cmd), /changed from|no need to change/i);
    }
    if (update.maxconn !== undefined) {
      if (!Number.isInteger(update.maxconn) || update.maxconn < 0 || update.maxconn > 1_000_000) throw new PleacoError('bad_request', `invalid server maxconn ${update.maxconn}`);
      const cmd = `set maxconn server ${target} ${update.maxconn}`;
      expectOk(cmd, await this.command(cmd));
    }
    const parts: string[] = [];
    if (update.state !== undefined) {
      if (!['ready', 'drain', 'maint'].includes(update.state)) throw new PleacoError('bad_request', `invalid server state ${String(update.state)}`);
      parts.push(`set server ${target} state ${update.state}`);
    }
    if (update.health !== undefined) {
      if (update.health !== 'up' && update.health !== 'down') throw new PleacoError('bad_request', `invalid server health ${String(update.health)}`);
      parts.push(`set server ${target} health ${update.health}`);
    }
    if (parts.length === 0) return;
    // Each part is built from validated words only; ';' is HAProxy's separator between them.
    const line = parts.join('; ');
    expectOk(line, await send(this.socketPath, line, this.opts.timeoutMs ?? 5000));
  }

  /** Sets host → value, adding the entry if the key is absent (`set map` only changes existing keys). */
  async setMap(map: string, key: string, value: string): Promise<void> {
    const m = arg('map', map);
    const k = arg('map key', key);
    const v = arg('map value', value);
    const answer = (await this.command(`set map ${m} ${k} ${v}`)).trim();
    if (/not found/i.test(answer)) expectOk('add map', await this.command(`add map ${m} ${k} ${v}`));
    else expectOk('set map', answer);
  }

  /** Removes every entry for key; a key already absent is not an error. */
  async delMap(map: string, key: string): Promise<void> {
    expectOk('del map', await this.command(`del map ${arg('map', map)} ${arg('map key', key)}`), /not found/i);
  }

  async showMap(map: string): Promise<MapEntry[]> {
    const text = await this.command(`show map ${arg('map', map)}`);
    const out: MapEntry[] = [];
    for (const line of text.split('\n')) {
      const [id, key, ...rest] = line.trim().split(/\s+/);
      if (!id || !key || !id.startsWith('0x')) continue;
      out.push({ id, key, value: rest.join(' ') });
    }
    return out;
  }
}
