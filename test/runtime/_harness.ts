/**
 * Runs real Runners (real Docker Engine) against MemoryStateView fakes: one test node id per runner,
 * log lines captured, everything removed by label afterwards.
 */
import Docker from 'dockerode';
import type { Config } from '../../src/config/index.js';
import type { FailureReport } from '../../src/model/index.js';
import { keys, type NodeStatus, type Release } from '../../src/model/index.js';
import { createLogger, setLogSink } from '../../src/log.js';
import { Runner, type RunnerSlotStatus } from '../../src/runtime/index.js';
import { DockerRuntime, type EngineDeadlines } from '../../src/runtime/docker/index.js';
import { MemoryStateView, type StateEntry } from './_memory-state.js';
import { RUN_ID, baseImage, buildImage, cleanup, crashDockerfile, docker, testConfig, uid, waitFor, webDockerfile } from './_fixtures.js';

export interface Started {
  runner: Runner;
  nodeId: string;
  state: MemoryStateView;
  runtime: DockerRuntime;
}

export class Harness {
  readonly nodes = new Set<string>();
  readonly extraContainers: string[] = [];
  readonly runners: Runner[] = [];
  /** Every log line written while the harness is open. */
  readonly logs: string[] = [];
  images = { web: '', crash: '', base: '' };
  readonly imageApp = `rt-${RUN_ID}`;
  private restoreSink: (() => void) | null = null;

  async open(): Promise<void> {
    this.restoreSink = setLogSink((line) => {
      this.logs.push(line);
      if (process.env.RUNTIME_TEST_LOGS) process.stdout.write(line + '\n');
    });
    this.images.base = await baseImage();
    this.images.web = await buildImage(this.imageApp, webDockerfile(this.images.base), `pleaco-test/${this.imageApp}-web:1`);
    this.images.crash = await buildImage(this.imageApp, crashDockerfile(this.images.base), `pleaco-test/${this.imageApp}-crash:1`);
  }

  async close(): Promise<void> {
    for (const r of this.runners) await r.stop();
    await cleanup([...this.nodes], this.extraContainers);
    this.restoreSink?.();
  }

  async start(state: MemoryStateView, o: { nodeId?: string; config?: Config; engine?: Docker; instance?: string; deadlines?: Partial<EngineDeadlines> } = {}): Promise<Started> {
    const nodeId = o.nodeId ?? uid('node');
    this.nodes.add(nodeId);
    const runtime = new DockerRuntime({ engine: o.engine ?? docker, nodeId, bindHost: '127.0.0.1', ...(o.deadlines ? { deadlines: o.deadlines } : {}) });
    const log = createLogger({ proc: 'runner', node: nodeId, instance: o.instance ?? 'a' });
    const link = { write: (ops: StateEntry[]) => state.write(ops), failRelease: async (app: string, release: number, report: FailureReport): Promise<void> => fakeFailRelease(state, app, release, report) };
    const runner = new Runner({ view: state, link, runtime, nodeId, config: o.config ?? testConfig(), log, version: '0.0.0-test', stopTimeoutSec: 2, tickMs: 1000 });
    this.runners.push(runner);
    await runner.start();
    return { runner, nodeId, state, runtime };
  }

  /** Parsed log lines of one node (optionally one runner instance). */
  lines(nodeId: string, instance?: string): Record<string, unknown>[] {
    return this.logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.node === nodeId && (instance === undefined || l.instance === instance));
  }
}

/**
 * The agent's part of giving a release up (AppService.failRelease), faked on the MemoryStateView: the first
 * report records the failure and makes rollbackTo current again.
 */
export function fakeFailRelease(state: MemoryStateView, app: string, release: number, report: FailureReport): void {
  const rel = state.get<Release>(keys.release(app, release));
  if (!rel || rel.failure) return;
  state.set(keys.release(app, release), { ...rel, failure: { at: new Date().toISOString(), reason: report.reason, node: report.node, slot: report.slot, rolledBackTo: report.rollbackTo, ...(report.lastLog ? { lastLog: report.lastLog } : {}) } });
  if (state.get<{ release: number }>(keys.current(app))?.release === release && report.rollbackTo !== null) state.set(keys.current(app), { release: report.rollbackTo });
}

export function slotOf(s: Started, app: string, i: number): RunnerSlotStatus | undefined {
  return s.state.get<RunnerSlotStatus>(keys.slot(s.nodeId, app, i));
}

export function nodeOf(s: Started): NodeStatus | undefined {
  return s.state.get<NodeStatus>(keys.node(s.nodeId));
}

/** Waits until slots 0..n-1 of the app are running (with release, if given), their rollouts complete. */
export function waitRunning(s: Started, app: string, n: number, release?: number, timeoutMs = 20_000): Promise<RunnerSlotStatus[]> {
  return waitFor(`${n} running slots of ${app}`, () => {
    const all = Array.from({ length: n }, (_, i) => slotOf(s, app, i));
    const ok = all.every((st) => st && st.state === 'running' && st.hostPort && (release === undefined || st.release === release) && !st.next && !st.fallback);
    return ok ? (all as RunnerSlotStatus[]) : null;
  }, timeoutMs);
}

export { EngineProxy } from '../helpers/engineproxy.js';
