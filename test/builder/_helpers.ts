/** Shared fixtures for the build tests: a tar stream of a temp dir, and label-based cleanup. */
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectDocker, DockerEngine } from '../../src/runtime/docker/index.js';

/** Docker's own API, for the tests' checks and cleanup. */
export const docker = connectDocker('/var/run/docker.sock');
/** pleaco's ContainerEngine on it, what the builder is given. */
export const engine = new DockerEngine(docker);
export const RUN = `t${process.pid}${Date.now().toString(36)}`;

/** Writes files into a fresh temp dir and returns a `tar -c` stream of it (argv only). */
export async function tarOf(files: Record<string, string | Buffer>): Promise<NodeJS.ReadableStream> {
  const dir = await mkdtemp(join(tmpdir(), 'pleaco-build-test-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  const child = spawn('tar', ['-c', '-f', '-', '-C', dir, '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.on('close', () => void rm(dir, { recursive: true, force: true }));
  // Node discards a child's unread stdout when it exits: hand it over through a PassThrough (as git archive is).
  return child.stdout.pipe(new PassThrough());
}

/** Removes every container and image carrying io.pleaco.managed=true and the given label value. */
export async function cleanupByLabel(label: string, value: string): Promise<void> {
  const filters = JSON.stringify({ label: ['io.pleaco.managed=true', `${label}=${value}`] });
  for (const c of await docker.listContainers({ all: true, filters })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  for (const i of await docker.listImages({ filters })) await docker.getImage(i.Id).remove({ force: true }).catch(() => undefined);
}

export async function testContainers(build: string): Promise<number> {
  const filters = JSON.stringify({ label: ['io.pleaco.managed=true', 'io.pleaco.role=test', `io.pleaco.build=${build}`] });
  return (await docker.listContainers({ all: true, filters })).length;
}
