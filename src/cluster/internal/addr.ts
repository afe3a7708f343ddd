/**
 * Peer addresses as the cluster writes them: `"ip:port"` for IPv4 and `"[ip]:port"` for IPv6. Only IP
 * literals: the transports never resolve names (no DNS on the membership path).
 */
import { isIP } from 'node:net';
import { PleacoError } from '../../errors.js';

export interface HostPort {
  host: string;
  port: number;
  family: 4 | 6;
}

/** Parses `"ip:port"` / `"[ip6]:port"`. Throws PleacoError('bad_request') for names, bad ports or bad syntax. */
export function parseHostPort(addr: string, allowPortZero = false): HostPort {
  if (typeof addr !== 'string') throw new PleacoError('bad_request', 'peer address must be a string "ip:port"');
  let host: string;
  let portText: string;
  const v6 = /^\[([^\]]+)\]:(\d{1,5})$/.exec(addr);
  if (v6) [host, portText] = [v6[1]!, v6[2]!];
  else {
    const i = addr.lastIndexOf(':');
    if (i <= 0) throw new PleacoError('bad_request', `peer address ${JSON.stringify(addr)} is not "ip:port"`);
    [host, portText] = [addr.slice(0, i), addr.slice(i + 1)];
  }
  const family = isIP(host);
  if (family === 0) throw new PleacoError('bad_request', `peer address ${JSON.stringify(addr)} must be an IP literal (names are not resolved)`);
  if (family === 6 && !v6) throw new PleacoError('bad_request', `IPv6 peer address ${JSON.stringify(addr)} must be written "[ip]:port"`);
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port <= 65535 && (port >= 1 || (allowPortZero && port === 0)))) {
    throw new PleacoError('bad_request', `peer address ${JSON.stringify(addr)} has an invalid port`);
  }
  return { host, port, family: family as 4 | 6 };
}

/** Checks a bind host is an IP literal and returns its family. Throws PleacoError('invalid_config'). */
export function ipFamily(host: string): 4 | 6 {
  const family = typeof host === 'string' ? isIP(host) : 0;
  if (family === 0) throw new PleacoError('invalid_config', `bind address ${JSON.stringify(host)} must be an IP literal`);
  return family as 4 | 6;
}

/** `"ip:port"` or `"[ip6]:port"`; an IPv4-mapped IPv6 address is written as plain IPv4. */
export function formatHostPort(host: string, port: number): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped) return `${mapped[1]}:${port}`;
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
