/**
 * One claimed build, stage by stage: fetch → (Dockerfile? app config) → build → test → release.
 * Every stage change is written to the build record through `update`; the log goes to the agent through
 * the shipper, Heroku style (`-----> Stage`, then indented output). Failures are thrown as PleacoError with
 * the stable code the build record will carry; nothing is released unless every stage passed.
 */
import type { AppSpec, Build, Release, TestResult } from '../core/model.js';
import type { Config } from '../config/index.js';
import { PleacoError } from '../errors.js';
import type { Engine } from '../runtime/engine.js';
import { redactRepoUrl, validateRepoUrl } from '../source/index.js';
import { readAppConfig, resolvePort, resolveTestCommand } from './appconfig.js';
import { pleacoLabels, type Builder } from './builder.js';
import type { LogShipper } from './logship.js';
import { tail } from './streams.js';
import { runTests } from './tests.js';
import type { AdvisoryStore } from './scan/db/index.js';
import { scanImage } from './scan/stage.js';

/** What the pipeline needs of the git mirror (src/source GitMirror satisfies it). */
export interface GitMirrorLike {
  sync(app: string, url: string, onProgress?: (line: string) => void): Promise<void>;
  resolve(app: string, ref: string): Promise<string>;
  readFile(app: string, commit: string, path: string): Promise<Buffer | null>;
  hasFile(app: string, commit: string, path: string): Promise<boolean>;
  archive(app: string, commit: string): NodeJS.ReadableStream;
  commitInfo(app: string, commit: string): Promise<{ sha: string; subject: string; author: string; date: string }>;
  remove(app: string): Promise<void>;
  lsRemoteHead(url: string, branch: string): Promise<string | null>;
}

export interface AgentClientLike {
  request<T = unknown>(method: string, path: string, o?: { body?: unknown; rawBody?: string | Buffer; contentType?: string }): Promise<T>;
}

export interface PipelineDeps {
  git: GitMirrorLike;
  builder: Builder;
  engine: Engine;
  client: AgentClientLike;
  nodeId: string;
  config: Config;
  /** Deadline of the image build (default 30 min). */
  buildTimeoutMs?: number;
  /** This node's advisory database (null: images are inventoried, not matched). */
  advisories?: AdvisoryStore | null;
  /** pleaco's version, named in SBOMs. */
  version?: string;
  /** The app's config vars (env/<app>/*), read when the test runs. */
  env(app: string): Record<string, string>;
}

export interface PipelineRun {
  update(patch: Partial<Build>): Promise<void>;
  ship: LogShipper;
  signal: AbortSignal;
}

/** Output kept in the build record (replicated state): the full output is in the build log. */
const FAILED_TAIL = 16 * 1024;
const PASSED_TAIL = 2 * 1024;
const SCAN_TIMEOUT_MS = 10 * 60_000;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;
const span = (ms: number): string => (ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`);

export async function runPipeline(build: Build, spec: AppSpec, d: PipelineDeps, run: PipelineRun): Promise<Release> {
  const { app, id } = build;
  const say = (line: string): void => run.ship.line(`-----> ${line}`);
  const out = (line: string): void => run.ship.line(`       ${line}`);
  const durations: NonNullable<Build['durations']> = { ...(build.durations ?? {}) };
  const check = (): void => run.signal.throwIfAborted();

  const ready = await d.builder.available();
  if (!ready.ok) {
    const down = /not reachable/.test(ready.reason ?? '');
    throw new PleacoError(down ? 'docker_unavailable' : 'unavailable', `cannot build with ${d.builder.name}: ${ready.reason ?? 'unavailable'}`);
  }

  // fetch
  const repo = redactRepoUrl(spec.repo);
  say(`Fetching ${repo} (ref ${build.ref})`);
  let t = Date.now();
  validateRepoUrl(spec.repo, { allowLocal: d.config.source.allowLocal });
  await d.git.sync(app, spec.repo, (line) => {
    // git's progress meters come as one line per percent step: keep only their final line.
    if (/^(remote: )?[A-Za-z ]+:\s+\d{1,3}% \(\d+\/\d+\)/.test(line) && !/done\.?$/.test(line)) return;
    if (/^Cloning into /.test(line)) return; // names a path of this node, says nothing to the user
    out(line);
  });
  check();
  const commit = await d.git.resolve(app, build.ref);
  const info = await d.git.commitInfo(app, commit);
  const sha7 = commit.slice(0, 7);
  out(`commit ${sha7}: ${info.subject}`);
  durations.fetch = Date.now() - t;
  await run.update({ commit, durations: { ...durations } });
  if (!(await d.git.hasFile(app, commit, 'Dockerfile'))) throw new PleacoError('no_dockerfile', `no Dockerfile at the root of ${repo} at ${sha7}`);
  const { file, config: appConfig } = await readAppConfig((p) => d.git.readFile(app, commit, p));
  if (file) out(`using ${file}`);
  check();

  // build
  if (!TAG_RE.test(id)) throw new PleacoError('internal', `build id ${JSON.stringify(id)} is not usable as an image tag`);
  const image = `pleaco/${app}:${id}`;
  await run.update({ stage: 'build', builder: d.builder.name });
  say(`Building with ${d.builder.name}`);
  t = Date.now();
  // A build that hangs (a RUN waiting forever) must not hold the only build slot forever.
  const buildTimeoutMs = d.buildTimeoutMs ?? 30 * 60_000;
  const deadline = AbortSignal.timeout(buildTimeoutMs);
  let imageId: string;
  try {
    ({ imageId } = await d.builder.build({
      context: d.git.archive(app, commit),
      tag: image,
      // The node label scopes the janitor to this node's images; io.pleaco.base is cleared because
      // an app image would otherwise inherit it from the locally built base image it is FROM.
      labels: { ...pleacoLabels({ app, build: id, node: d.nodeId }), 'io.pleaco.commit': commit, 'io.pleaco.base': '' },
      memoryBytes: d.config.build.memoryBytes,
      cpuShares: d.config.build.cpuShares,
      onLog: out,
      signal: AbortSignal.any([run.signal, deadline]),
    }));
  } catch (err) {
    if (deadline.aborted && !run.signal.aborted) throw new PleacoError('build_failed', `the image build did not finish within ${span(buildTimeoutMs)}`);
    throw err;
  }
  durations.build = Date.now() - t;
  out(`image ${image} (${imageId.slice(0, 19)}) built in ${secs(durations.build)}`);
  check();
  const exposed = (await d.engine.getImage(imageId).inspect()).Config?.ExposedPorts;
  const { port, source } = resolvePort(spec, appConfig, exposed, d.config.runtime.defaultPort);

  // test
  const command = resolveTestCommand(spec, appConfig);
  let test: TestResult;
  await run.update({ stage: 'test', image, imageId, durations: { ...durations } });
  if (!command) {
    test = { command: null, skipped: 'no test command in app config or pleaco.json/yaml: release not gated' };
    say('No test command (app config or pleaco.json/yaml): the release is not gated by tests');
  } else {
    say(`Testing: ${command}`);
    const env = { ...d.env(app), PORT: String(port) };
    run.ship.masker.set(Object.entries(env).filter(([k]) => k !== 'PORT').map(([, v]) => v));
    const r = await runTests(d.engine, {
      image: imageId,
      command,
      env,
      timeoutMs: d.config.build.testTimeoutMs,
      labels: pleacoLabels({ app, build: id, role: 'test', node: d.nodeId }),
      memoryBytes: d.config.build.memoryBytes,
      cpuShares: d.config.build.cpuShares,
      onLog: out,
      signal: run.signal,
    });
    durations.test = r.durationMs;
    test = { command, exitCode: r.exitCode, timedOut: r.timedOut, durationMs: r.durationMs };
    if (r.timedOut || r.exitCode !== 0) {
      test.output = run.ship.masker.mask(tail(r.output, FAILED_TAIL));
      await run.update({ test, durations: { ...durations } });
      if (r.timedOut) {
        say(`Test timed out after ${secs(d.config.build.testTimeoutMs)}`);
        throw new PleacoError('test_timeout', `the test command did not finish within ${span(d.config.build.testTimeoutMs)}`);
      }
      say(`Test failed (exit code ${r.exitCode}) in ${secs(r.durationMs)}`);
      throw new PleacoError('test_failed', `the test command exited with code ${r.exitCode}${r.oomKilled ? ' (killed: out of memory)' : ''}`, { details: { exitCode: r.exitCode } });
    }
    test.output = run.ship.masker.mask(tail(r.output, PASSED_TAIL));
    say(`Test passed in ${secs(r.durationMs)}`);
  }
  check();

  // scan
  await run.update({ stage: 'scan', test, durations: { ...durations } });
  // A stalled export must not hold the build slot: the scan has its own deadline, like the image build.
  const scanDeadline = AbortSignal.timeout(SCAN_TIMEOUT_MS);
  let scanned: Awaited<ReturnType<typeof scanImage>>;
  try {
    scanned = await scanImage({
      app, build: id, image, imageId, engine: d.engine, client: d.client, advisories: d.advisories ?? null, version: d.version ?? '0.0.0',
      labels: pleacoLabels({ app, build: id, role: 'scan', node: d.nodeId }), signal: AbortSignal.any([run.signal, scanDeadline]), say, out,
    });
  } catch (err) {
    if (scanDeadline.aborted && !run.signal.aborted) throw new PleacoError('scan_failed', `the scan did not finish within ${span(SCAN_TIMEOUT_MS)}`);
    throw err;
  }
  durations.scan = scanned.summary.durationMs;
  await run.update({ scan: scanned.summary, durations: { ...durations } });
  if (scanned.blocked) throw scanned.blocked;
  check();

  // release
  await run.update({ stage: 'release', durations: { ...durations } });
  check();
  say(`Releasing ${sha7} (port ${port}, from ${source === 'app' ? 'the app settings' : source === 'file' ? file : source === 'expose' ? 'EXPOSE' : 'the default'})`);
  const description = `Deploy ${sha7}: ${info.subject}`.slice(0, 120);
  const body = { build: id, commit, image, imageId, test, scan: scanned.summary, port, description, ...(appConfig.healthcheck ? { healthcheck: appConfig.healthcheck } : {}) };
  const { release } = await d.client.request<{ release: Release }>('POST', `/v1/internal/apps/${encodeURIComponent(app)}/releases`, { body });
  say(`Created release v${release.number}`);
  return release;
}
