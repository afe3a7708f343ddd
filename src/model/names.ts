/**
 * One validator per kind of name pleaco accepts: app names, config keys, DNS host names. Every layer (the agent,
 * the proxy, the CLI, the config loader) checks a name of a kind with the function here, so a name one accepts
 * the others accept too, and the message saying why one is refused is the same everywhere.
 */
import { PleacoError } from '../errors.js';

/** A DNS label that starts with a letter: the app's name is also its host label under the cluster domain. */
export const APP_NAME_RE = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const ENV_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function shown(raw: string): string {
  return JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
}

export function isAppName(name: unknown): name is string {
  return typeof name === 'string' && APP_NAME_RE.test(name);
}

/** Returns the name, or throws `invalid_name` (400) saying what an app name is. */
export function validateAppName(name: unknown): string {
  if (!isAppName(name)) {
    throw new PleacoError('invalid_name', `invalid app name ${JSON.stringify(name)}: use 1-63 lowercase letters, digits and dashes, starting with a letter and not ending with a dash`);
  }
  return name;
}

/** Returns the key, or throws `bad_request` (400) saying what a config key is. */
export function validateEnvKey(key: unknown): string {
  if (typeof key !== 'string' || !ENV_KEY_RE.test(key)) {
    throw new PleacoError('bad_request', `invalid config key ${JSON.stringify(key)}: use letters, digits and _ and do not start with a digit`);
  }
  return key;
}

/** True for a lowercase DNS name: labels of 1-63 [a-z0-9-], not starting or ending with '-', at most 253 characters. */
export function isDnsName(host: unknown): host is string {
  return typeof host === 'string' && host.length > 0 && host.length <= 253 && host.split('.').every((l) => LABEL_RE.test(l));
}

/** Returns the host, or throws `invalid_name` (400): for names that are already lowercase (state, config). */
export function validateHost(host: unknown): string {
  if (!isDnsName(host)) throw new PleacoError('invalid_name', `invalid host ${shown(String(host))}: a lowercase DNS name (labels of a-z, 0-9, '-', at most 253 characters)`);
  return host;
}

/** Lowercases and checks a host a user adds to an app (`domains:add`); throws a 400 that says what is wrong. */
export function normalizeHost(raw: unknown): string {
  const bad = (message: string): PleacoError => new PleacoError('bad_request', message);
  if (typeof raw !== 'string' || raw === '') throw bad('host is required, like www.example.com');
  const host = raw.toLowerCase();
  if (host.startsWith('*.')) throw bad(`wildcard domains are not supported (${shown(raw)}): add each host name`);
  if (host.length > 253) throw bad(`invalid host ${shown(raw)}: at most 253 characters`);
  const labels = host.split('.');
  if (labels.length < 2) throw bad(`invalid host ${shown(raw)}: use a full name with a dot, like www.example.com`);
  const wrong = labels.find((l) => !LABEL_RE.test(l));
  if (wrong !== undefined) {
    throw bad(`invalid host ${shown(raw)}: label ${shown(wrong)} must be 1-63 letters, digits or '-', not starting or ending with '-'`);
  }
  if (/^\d+$/.test(labels[labels.length - 1]!)) throw bad(`invalid host ${shown(raw)}: an IP address is not a domain`);
  return host;
}
