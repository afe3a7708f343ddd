/**
 * Two real agents in this process (createAgent: the wiring pleaco-agent runs), each with its own state dir, node id
 * and API socket, forming a cluster on 127.0.0.1 (UDP + TCP on ports the kernel gives, sealed with one cluster key
 * that the first created and the second was given). Both use this machine's one Docker Engine: a test makes the
 * second lack an image by removing it from the engine after the first has it in its cache. Not a suite.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pack } from 'tar-stream';
import { loadConfig, type Config } from '../../src/config/index.js';
import { AgentClient } from '../../src/link/index.js';
import { createLogger, setLogSink } from '../../src/log.js';
import { createAgent, type Agent } from '../../src/main/wire-agent.js';
import { keys, type Build } from '../../src/model/index.js';
import { DockerEngine } from '../../src/runtime/docker/index.js';
import { tempDir } from '../helpers/tmp.js';

export const engine = DockerEngine.connect('/var/run/docker.sock');
export const RUN = `${process.pid.toString(36)}${Date.now().toString(36).slice(-5)}`;

export interface PairNode {
  id: string;
  config: Config;
  agent: Agent;
  client: AgentClient;
  stateDir: string;
}

export interface Pair {
  a: PairNode;
  b: PairNode;
  lines: string[];
  close(): Promise<void>;
}

async function start(id: string, stateDir: string, join_: string): Promise<PairNode> {
  const config = loadConfig({
    PLEACO_STATE_DIR: stateDir, PLEACO_API_HOST: '127.0.0.1', PLEACO_API_PORT: '0', PLEACO_CONFIG: '', PLEACO_MIN_FREE_DISK: '256m',
    PLEACO_CLUSTER_PORT: '0', PLEACO_CLUSTER_BIND: '127.0.0.1', PLEACO_JOIN: join_, PLEACO_INIT: join_ ? '' : '1', PLEACO_CLUSTER_FILE: '', PLEACO_ANTI_ENTROPY_MS: '500',
  });
  const agent = await createAgent({ config, nodeId: id, token: `t-${id}`, version: '0.0.0-test', log: createLogger({ proc: 'agent-test', node: id }) });
  return { id, config, agent, stateDir, client: new AgentClient({ socketPath: config.socketPath, token: `t-${id}` }) };
}

export async function startPair(): Promise<Pair> {
  const tmp = tempDir('pleaco-images-');
  const lines: string[] = [];
  const restore = setLogSink((l) => lines.push(l));
  const dirA = join(tmp.dir, 'a');
  const dirB = join(tmp.dir, 'b');
  mkdirSync(dirA, { mode: 0o700 });
  mkdirSync(dirB, { mode: 0o700 });
  const a = await start(`ia-${RUN}`, dirA, '');
  copyFileSync(join(dirA, 'cluster.key'), join(dirB, 'cluster.key'));
  const b = await start(`ib-${RUN}`, dirB, a.agent.cluster!.node.addr);
  await until('both members see each other alive', () => (a.agent.cluster!.node.members().filter((m) => m.state === 'alive').length === 2 && b.agent.cluster!.node.members().filter((m) => m.state === 'alive').length === 2 ? true : null), 15_000);
  return {
    a, b, lines,
    close: async () => {
      await b.agent.close();
      await a.agent.close();
      restore();
      tmp.cleanup();
    },
  };
}

export async function until<T>(what: string, fn: () => T | null | Promise<T | null>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Builds a pleaco-labelled image of `app` (as node `node`, build `build`) from a Dockerfile and files; its ID. */
export async function buildImage(o: { app: string; build: string; node: string; dockerfile: string[]; files?: Record<string, string> }): Promise<{ imageId: string; tag: string }> {
  const p = pack();
  const labels = `LABEL io.pleaco.managed=true io.pleaco.app=${o.app} io.pleaco.build=${o.build} io.pleaco.node=${o.node} io.pleaco.role=test`;
  p.entry({ name: 'Dockerfile' }, [...o.dockerfile, labels].join('\n') + '\n');
  for (const [name, body] of Object.entries(o.files ?? {})) p.entry({ name }, body);
  p.finalize();
  const tag = `pleaco/${o.app}:${o.build}`;
  const { imageId } = await engine.buildImage({ context: p.pipe(new PassThrough()), tag, memoryBytes: 256 * 1024 ** 2, cpuShares: 512, onLog: () => undefined });
  return { imageId, tag };
}

/** A succeeded build record naming the image, written on `on` (it reaches the other node by replication). */
export async function recordBuild(on: PairNode, o: { app: string; build: string; imageId: string; tag: string }): Promise<void> {
  const b: Build = { id: o.build, app: o.app, ref: 'main', status: 'succeeded', stage: 'done', trigger: 'api', createdAt: new Date().toISOString(), node: on.id, image: o.tag, imageId: o.imageId };
  await on.agent.store.batch([{ key: keys.build(o.app, o.build), value: b }]);
}

/** Removes a test image (all its tags) from the engine: the pleaco-labelled images these tests made only. */
export async function removeImage(imageId: string): Promise<void> {
  const info = await engine.inspectImage(imageId);
  if (!info) return;
  for (const t of info.tags) await engine.removeImage(t);
  if (await engine.inspectImage(imageId)) await engine.removeImage(imageId);
}
