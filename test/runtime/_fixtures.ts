/**
 * Fixtures for the runtime tests against the real Docker Engine: a tiny tar writer, image builds
 * from in-memory Dockerfiles, state seeding, polling, and cleanup of everything a run made (by label).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { Readable } from 'node:stream';
import Docker from 'dockerode';
import { DEFAULTS, type Config } from '../../src/config/index.js';
import { keys, LABELS, type AppSpec, type Release } from '../../src/model/index.js';
import type { MemoryStateView } from './_memory-state.js';

export const DOCKER_SOCKET = process.env.DOCKER_SOCKET ?? '/var/run/docker.sock';
export const docker = new Docker({ socketPath: DOCKER_SOCKET });
/** Marks every image this test run builds, for cleanup. */
export const RUN_ID = randomBytes(3).toString('hex');
export const TEST_LABEL = 'io.pleaco.test';

export function uid(prefix: string): string {
  return `${prefix}-${RUN_ID}-${randomBytes(2).toString('hex')}`;
}

// ---- tar (ustar) ---------------------------------------------------------------------------------
interface TarEntry {
  name: string;
  data?: Buffer | string;
  mode?: number;
  /** Symlink target. */
  link?: string;
}

function header(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  const put = (s: string, off: number, len: number): void => void h.write(s, off, len, 'utf8');
  const oct = (n: number, len: number): string => n.toString(8).padStart(len - 1, '0') + '\0';
  put(e.name, 0, 100);
  put(oct(e.mode ?? (e.link ? 0o777 : 0o644), 8), 100, 8);
  put(oct(0, 8), 108, 8);
  put(oct(0, 8), 116, 8);
  put(oct(size, 12), 124, 12);
  put(oct(Math.floor(Date.now() / 1000), 12), 136, 12);
  put('        ', 148, 8);
  put(e.link ? '2' : '0', 156, 1);
  if (e.link) put(e.link, 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

export function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.link ? Buffer.alloc(0) : Buffer.from(e.data ?? '');
    parts.push(header(e, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

// ---- images --------------------------------------------------------------------------------------
async function imageExists(ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).inspect();
    return true;
  } catch {
    return false;
  }
}

/** `busybox:latest` (built by scripts/base-images.sh), or a throwaway one imported from /bin/busybox. */
export async function baseImage(): Promise<string> {
  if (await imageExists('busybox:latest')) return 'busybox:latest';
  const own = 'pleaco-test/busybox:latest';
  if (await imageExists(own)) return own;
  const links = ['sh', 'echo', 'httpd', 'sleep', 'mkdir', 'cat', 'env'];
  const rootfs = tar([{ name: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 }, ...links.map((l) => ({ name: `bin/${l}`, link: 'busybox' })), { name: 'tmp/.keep', data: '' }]);
  const stream = await docker.importImage(Readable.from([rootfs]), { repo: 'pleaco-test/busybox', tag: 'latest', changes: [`LABEL ${LABELS.managed}=true`, 'ENV PATH=/bin'] });
  await new Promise((res, rej) => docker.modem.followProgress(stream, (err) => (err ? rej(err) : res(null))));
  return own;
}

/** Builds an image from a Dockerfile text; labelled managed + app + this test run. */
export async function buildImage(app: string, dockerfile: string, tag: string, o: { pin?: boolean } = {}): Promise<string> {
  const ctx = tar([{ name: 'Dockerfile', data: dockerfile }]);
  const labels = { [LABELS.managed]: 'true', [LABELS.app]: app, [TEST_LABEL]: RUN_ID };
  const stream = await docker.buildImage(Readable.from([ctx]), { t: tag, labels, rm: true, forcerm: true });
  await new Promise<void>((res, rej) =>
    docker.modem.followProgress(
      stream,
      (err, out: { error?: string }[]) => {
        const failed = err ?? out.find((o) => o.error)?.error;
        if (failed) rej(failed instanceof Error ? failed : new Error(String(failed)));
        else res();
      },
    ),
  );
  const id = (await docker.getImage(tag).inspect()).Id;
  if (o.pin !== false) await pin(id);
  return id;
}

/**
 * Keeps an image in use by a created (never started) unlabelled container: other subsystems' housekeeping
 * on this shared Engine removes managed images of apps it does not know once no container uses them.
 */
async function pin(image: string): Promise<void> {
  await docker.createContainer({ Image: image, Cmd: ['true'], Labels: { [TEST_LABEL]: RUN_ID } });
}

/** An HTTP server answering `hello <NAME>` on $PORT, logging to stdout and stderr. */
export const webDockerfile = (base: string): string => `FROM ${base}
CMD ["sh", "-c", "mkdir -p /tmp/www && echo \\"hello $NAME\\" > /tmp/www/index.html && echo web listening on $PORT && echo web-stderr-line >&2 && exec httpd -f -p $PORT -h /tmp/www"]
`;

/**
 * Writes stdout, stderr, stdout half a second apart, then idles: an order across streams that Docker's
 * timestamps must keep. (Lines written microseconds apart on two streams have no such order: Docker
 * stamps each line when its per-stream copier reads it.)
 */
export const interleavedDockerfile = (base: string): string => `FROM ${base}
CMD ["sh", "-c", "echo out-1; sleep 0.5; echo err-1 >&2; sleep 0.5; echo out-2; exec sleep 300"]
`;

/** Serves `hello <NAME>` on $PORT like the web image, then exits 3 after about a second. */
export const flakyDockerfile = (base: string): string => `FROM ${base}
CMD ["sh", "-c", "mkdir -p /tmp/www && echo \\"hello $NAME\\" > /tmp/www/index.html && echo flaky listening on $PORT && (httpd -f -p $PORT -h /tmp/www &) && sleep 1 && echo flaky-bye && exit 3"]
`;

/** Exits 1 at once after printing a line on each stream. */
export const crashDockerfile = (base: string): string => `FROM ${base}
CMD ["sh", "-c", "echo crash-stdout-line; echo crash-stderr-line >&2; exit 1"]
`;

/** uvu has no assert.rejects. */
export async function rejects(fn: () => Promise<unknown>, check: (err: never) => boolean, msg = 'expected a rejection'): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!check(err as never)) throw new Error(`${msg}: unexpected error ${String((err as Error)?.message ?? err)}`);
    return;
  }
  throw new Error(msg);
}

// ---- state ---------------------------------------------------------------------------------------
export function testConfig(over: Partial<Config['runtime']> = {}): Config {
  return { ...DEFAULTS, runtime: { ...DEFAULTS.runtime, backoffBaseMs: 400, backoffMaxMs: 3200, stableAfterMs: 60_000, ...over } };
}

export function seedApp(state: MemoryStateView, app: string, o: { release: number; image: string; replicas?: number; port?: number; config?: Record<string, string>; commit?: string }): void {
  const spec: AppSpec = { name: app, repo: 'file:///dev/null', branch: 'main', webhookSecret: 'x', createdAt: new Date().toISOString() };
  if (!state.get(keys.app(app))) state.set(keys.app(app), spec);
  setRelease(state, app, o);
  if (o.replicas !== undefined) state.set(keys.scale(app), { replicas: o.replicas });
}

export function setRelease(state: MemoryStateView, app: string, o: { release: number; image: string; port?: number; config?: Record<string, string>; commit?: string }): void {
  const rel: Release = {
    app,
    number: o.release,
    kind: 'deploy',
    description: 'test',
    commit: o.commit ?? null,
    image: o.image,
    imageId: null,
    build: null,
    test: null,
    port: o.port ?? 8080,
    config: o.config ?? {},
    createdAt: new Date().toISOString(),
  };
  state.set(keys.release(app, o.release), rel);
  state.set(keys.current(app), { release: o.release });
}

// ---- polling and HTTP ----------------------------------------------------------------------------
export async function waitFor<T>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function httpGet(port: number, host = '127.0.0.1'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/', timeout: 2000, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Managed containers of a test node, as Docker lists them. */
export async function nodeContainers(nodeId: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${LABELS.managed}=true`, `${LABELS.node}=${nodeId}`] } });
}

/** Removes every container of the given test nodes, and the images this run built. */
export async function cleanup(nodeIds: string[], extraContainers: string[] = []): Promise<void> {
  for (const n of nodeIds) for (const c of await nodeContainers(n)) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  for (const id of extraContainers) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
  for (const c of await docker.listContainers({ all: true, filters: { label: [`${TEST_LABEL}=${RUN_ID}`] } })) {
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  }
  const images = await docker.listImages({ filters: { label: [`${TEST_LABEL}=${RUN_ID}`] } });
  for (const i of images) await docker.getImage(i.Id).remove({ force: true }).catch(() => undefined);
}
