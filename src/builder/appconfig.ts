/**
 * The repository's own settings: `pleaco.json`, `pleaco.yaml` or `pleaco.yml` at its root, with
 *   test:        the test command, run with `sh -c` inside the built image (a non-zero exit blocks the release)
 *   port:        the container port the app listens on
 *   healthcheck: an HTTP path the runtime probes, e.g. /health
 *   autoscale:   the app's autoscaling policy {min, max, targetRps | targetConcurrency, windowS}, set at each release
 * Anything else is rejected (a typo such as `tests:` must not silently disable the test gate).
 * Precedence for what is used: the app spec's override > this file > the image's EXPOSE (lowest tcp port)
 * > config.runtime.defaultPort.
 */
import { parse as parseYaml } from 'yaml';
import { PleacoError } from '../errors.js';
import { validateAutoscalePolicy, type AppSpec, type AutoscalePolicy } from '../model/index.js';

export interface AppConfig {
  test?: string;
  port?: number;
  healthcheck?: string;
  autoscale?: AutoscalePolicy;
}

export const APP_CONFIG_FILES = ['pleaco.json', 'pleaco.yaml', 'pleaco.yml'] as const;
const MAX_BYTES = 64 * 1024;
const KNOWN = ['test', 'port', 'healthcheck', 'autoscale'];

function bad(file: string, message: string): PleacoError {
  return new PleacoError('invalid_config', `${file}: ${message}`);
}

/** Validates the parsed contents of one app config file. */
export function validateAppConfig(file: string, value: unknown): AppConfig {
  if (value === null || value === undefined) return {}; // an empty file
  if (typeof value !== 'object' || Array.isArray(value)) throw bad(file, 'the top level must be a mapping of keys (test, port, healthcheck, autoscale)');
  const out: AppConfig = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (!KNOWN.includes(key)) throw bad(file, `unknown key "${key}" (allowed: ${KNOWN.join(', ')})`);
    if (key === 'test') {
      if (typeof v !== 'string' || v.trim() === '') throw bad(file, 'key "test" must be a non-empty string (a shell command)');
      if (v.length > 4096) throw bad(file, 'key "test" is longer than 4096 characters');
      out.test = v.trim();
    } else if (key === 'port') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) throw bad(file, `key "port" must be an integer from 1 to 65535, got ${JSON.stringify(v)}`);
      out.port = v;
    } else if (key === 'autoscale') {
      try {
        out.autoscale = validateAutoscalePolicy(v);
      } catch (err) {
        throw bad(file, `key "autoscale": ${err instanceof Error ? err.message : String(err)}`);
      }
    } else {
      if (typeof v !== 'string' || !/^\/[\x21-\x7e]*$/.test(v) || v.length > 1024) throw bad(file, `key "healthcheck" must be an HTTP path starting with /, got ${JSON.stringify(v)}`);
      out.healthcheck = v;
    }
  }
  return out;
}

/** Parses one app config file's text by its name (JSON for .json, YAML otherwise). */
export function parseAppConfig(file: string, text: string): AppConfig {
  if (Buffer.byteLength(text) > MAX_BYTES) throw bad(file, `larger than ${MAX_BYTES / 1024} KiB`);
  let value: unknown;
  try {
    value = file.endsWith('.json') ? (text.trim() === '' ? null : JSON.parse(text)) : parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    const first = ((err as Error).message ?? String(err)).split('\n')[0];
    throw bad(file, `not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${first}`);
  }
  return validateAppConfig(file, value);
}

/**
 * Reads the app config from a repository through `read(path)` (e.g. GitMirror.readFile at a commit).
 * More than one of the files present is an error: which one wins would be a guess.
 */
export async function readAppConfig(read: (path: string) => Promise<Buffer | null>): Promise<{ file: string | null; config: AppConfig }> {
  const found: { file: string; data: Buffer }[] = [];
  for (const file of APP_CONFIG_FILES) {
    const data = await read(file);
    if (data) found.push({ file, data });
  }
  if (found.length > 1) throw bad(found.map((f) => f.file).join(' and '), 'more than one app config file; keep one');
  const one = found[0];
  if (!one) return { file: null, config: {} };
  return { file: one.file, config: parseAppConfig(one.file, one.data.toString('utf8')) };
}

/** The test command to run, or null (the release is then not gated). */
export function resolveTestCommand(spec: Pick<AppSpec, 'testCommand'>, repo: AppConfig): string | null {
  const fromSpec = spec.testCommand?.trim();
  if (fromSpec) return fromSpec;
  return repo.test ?? null;
}

/** The lowest exposed tcp port of an image (Config.ExposedPorts keys like "8080/tcp"), or null. */
export function firstExposedTcpPort(exposed: Record<string, unknown> | null | undefined): number | null {
  const ports = Object.keys(exposed ?? {})
    .map((k) => /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(k))
    .filter((m): m is RegExpExecArray => m !== null && (m[2] ?? 'tcp') === 'tcp')
    .map((m) => Number(m[1]))
    .filter((n) => n >= 1 && n <= 65535)
    .sort((a, b) => a - b);
  return ports[0] ?? null;
}

export type PortSource = 'app' | 'file' | 'expose' | 'default';

export function resolvePort(
  spec: Pick<AppSpec, 'port'>,
  repo: AppConfig,
  exposed: Record<string, unknown> | null | undefined,
  defaultPort: number,
): { port: number; source: PortSource } {
  if (spec.port) return { port: spec.port, source: 'app' };
  if (repo.port) return { port: repo.port, source: 'file' };
  const e = firstExposedTcpPort(exposed);
  if (e) return { port: e, source: 'expose' };
  return { port: defaultPort, source: 'default' };
}
