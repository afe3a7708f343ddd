/**
 * One claimed build, stage by stage: fetch → (Dockerfile? app config) → build → test → scan → release.
 * Every stage change is written to the build record through `update`; the log goes to the agent through
 * the shipper, Heroku style (`-----> Stage`, then indented output). Failures are thrown as PleacoError with
 * the stable code the build record will carry; nothing is released unless every stage passed.
 */
import type { Config } from '../config/index.js';
import { PleacoError } from '../errors.js';
import type { AgentLink, StateView } from '../link/index.js';
import { currentRelease, isCommitSha, keys, LABELS, redactRepoUrl, validateRepoUrl, type AppSpec, type Build, type Release, type TestResult } from '../model/index.js';
import type { ContainerEngine, ImageInfo } from '../runtime/index.js';
import { scanImage, type AdvisoryStore, type LayerScanDeps, type ScanOutcome } from '../scan/index.js';
import { readAppConfig, resolvePort, resolveTestCommand, type AppConfig } from './appconfig.js';
import { pleacoLabels, type Builder } from './builder.js';
import type { LogShipper } from './logship.js';
import { tail } from './streams.js';
import { runTests } from './tests.js';

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
  /** Whether `ancestor` is an ancestor of (or equal to) `descendant`; null when the mirror cannot tell. */
  isAncestor(app: string, ancestor: string, descendant: string): Promise<boolean | null>;
}

export interface PipelineDeps {
  git: GitMirrorLike;
  builder: Builder;
  engine: ContainerEngine;
  /** The scan policies are read here. */
  view: StateView;
  link: Pick<AgentLink, 'createRelease' | 'storeScan' | 'setAutoscale'>;
  nodeId: string;
  config: Config;
  /** Deadline of the image build (default 30 min). */
  buildTimeoutMs?: number;
  /** This node's advisory database (null: images are inventoried, not matched). */
  advisories?: AdvisoryStore | null;
  /** The scan inventories images layer by layer with these (absent: from the merged filesystem). */
  layers?: LayerScanDeps | null;
  /** pleaco's version, named in SBOMs. */
  version?: string;
  /** The app's config vars (env/<app>/*), read when the test runs. */
  env(app: string): Record<string, string>;
  /** Makes room on the disks a build writes to, or refuses the build (`insufficient_storage`). */
  ensureDisk?: () => Promise<void>;
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

/** What the stages share: the build, its deps and run, the log helpers and the durations so far. */
interface Stage {
  build: Build;
  spec: AppSpec;
  d: PipelineDeps;
  run: PipelineRun;
  durations: NonNullable<Build['durations']>;
  say(line: string): void;
  out(line: string): void;
}

/** What the fetch stage found at the wanted ref. */
interface Fetched {
  commit: string;
  subject: string;
  file: string | null;
  appConfig: AppConfig;
}

export async function runPipeline(build: Build, spec: AppSpec, d: PipelineDeps, run: PipelineRun): Promise<Release> {
  const s: Stage = {
    build, spec, d, run,
    durations: { ...(build.durations ?? {}) },
    say: (line) => run.ship.line(`-----> ${line}`),
    out: (line) => run.ship.line(`       ${line}`),
  };
  const ready = await d.builder.available();
  if (!ready.ok) {
    const down = /not reachable/.test(ready.reason ?? '');
    throw new PleacoError(down ? 'docker_unavailable' : 'unavailable', `cannot build with ${d.builder.name}: ${ready.reason ?? 'unavailable'}`);
  }
  await d.ensureDisk?.();
  const fetched = await fetchStage(s);
  run.signal.throwIfAborted();
  const { image, imageId, labels } = await buildStage(s, fetched.commit);
  run.signal.throwIfAborted();
  const exposed = (await checkLabels(s, image, imageId, labels)).exposedPorts;
  const { port, source } = resolvePort(spec, fetched.appConfig, Object.fromEntries(exposed.map((p) => [p, {}])), d.config.runtime.defaultPort);
  // The two gates run at once: the scan does not wait for the tests (its log is shown after theirs), and a failed
  // test stops the scan.
  const scan = startScan(s, image, imageId);
  let test: TestResult;
  try {
    test = await testStage(s, imageId, port, resolveTestCommand(spec, fetched.appConfig));
    run.signal.throwIfAborted();
  } catch (err) {
    scan.stop();
    throw err;
  }
  const scanned = await scanStage(s, scan, test);
  run.signal.throwIfAborted();
  await run.update({ stage: 'release', durations: { ...s.durations } });
  run.signal.throwIfAborted();
  const sha7 = fetched.commit.slice(0, 7);
  s.say(`Releasing ${sha7} (port ${port}, from ${source === 'app' ? 'the app settings' : source === 'file' ? fetched.file : source === 'expose' ? 'EXPOSE' : 'the default'})`);
  const description = `Deploy ${sha7}: ${fetched.subject}`.slice(0, 120);
  const release = await d.link.createRelease(build.app, { build: build.id, commit: fetched.commit, image, imageId, test, scan: scanned.summary, port, description });
  s.say(`Created release v${release.number}`);
  const auto = fetched.appConfig.autoscale;
  if (auto) {
    await d.link.setAutoscale(build.app, auto);
    s.say(`Autoscaling from ${fetched.file}: ${auto.min} to ${auto.max} replicas at ${auto.targetRps !== undefined ? `${auto.targetRps} req/s` : `${auto.targetConcurrency} in-flight requests`} per replica`);
  }
  return release;
}

/** Syncs the app's mirror, resolves the ref, checks for a Dockerfile and reads the app config. */
async function fetchStage(s: Stage): Promise<Fetched> {
  const { build, spec, d, run } = s;
  const repo = redactRepoUrl(spec.repo);
  s.say(`Fetching ${repo} (ref ${build.ref})`);
  const t = Date.now();
  validateRepoUrl(spec.repo, { allowLocal: d.config.source.allowLocal });
  await d.git.sync(build.app, spec.repo, (line) => {
    // git's progress meters come as one line per percent step: keep only their final line.
    if (/^(remote: )?[A-Za-z ]+:\s+\d{1,3}% \(\d+\/\d+\)/.test(line) && !/done\.?$/.test(line)) return;
    if (/^Cloning into /.test(line)) return; // names a path of this node, says nothing to the user
    s.out(line);
  });
  run.signal.throwIfAborted();
  const commit = await d.git.resolve(build.app, build.ref);
  if (build.trigger === 'webhook' || build.trigger === 'poll') await neverBackwards(s, commit);
  const info = await d.git.commitInfo(build.app, commit);
  s.out(`commit ${commit.slice(0, 7)}: ${info.subject}`);
  s.durations.fetch = Date.now() - t;
  await run.update({ commit, durations: { ...s.durations } });
  if (!(await d.git.hasFile(build.app, commit, 'Dockerfile'))) throw new PleacoError('no_dockerfile', `no Dockerfile at the root of ${repo} at ${commit.slice(0, 7)}`);
  const { file, config: appConfig } = await readAppConfig((p) => d.git.readFile(build.app, commit, p));
  if (file) s.out(`using ${file}`);
  return { commit, subject: info.subject, file, appConfig };
}

/**
 * A push (webhook or poll) never moves an app backwards: its build ends superseded, without a release, when the
 * commit it fetched was released before (a re-sent delivery, a push after a rollback) or is an ancestor of the
 * current release's commit (an older push that arrived or was built late). A deploy the user asks for is not
 * checked: it goes where it is told.
 */
async function neverBackwards(s: Stage, commit: string): Promise<void> {
  const { build, d } = s;
  const released = d.view.list<Release>(keys.releasePrefix(build.app)).map((e) => e.value).filter((r) => r.kind === 'deploy' && r.commit === commit);
  if (released.length > 0) {
    throw new PleacoError('superseded', `commit ${commit.slice(0, 7)} was already released as v${released[0]!.number}; a push does not deploy it again`);
  }
  const current = currentRelease(d.view, build.app)?.commit;
  if (!current || !isCommitSha(current)) return;
  if (await d.git.isAncestor(build.app, commit, current)) {
    throw new PleacoError('superseded', `commit ${commit.slice(0, 7)} is older than the released ${current.slice(0, 7)}; a push never moves an app backwards`);
  }
}

/** Builds the image of `commit` with the node's builder, within the build deadline. */
async function buildStage(s: Stage, commit: string): Promise<{ image: string; imageId: string; labels: Record<string, string> }> {
  const { build, d, run } = s;
  const { app, id } = build;
  if (!TAG_RE.test(id)) throw new PleacoError('internal', `build id ${JSON.stringify(id)} is not usable as an image tag`);
  const image = `pleaco/${app}:${id}`;
  await run.update({ stage: 'build', builder: d.builder.name });
  s.say(`Building with ${d.builder.name}`);
  const t = Date.now();
  // A build that hangs (a RUN waiting forever) must not hold the only build slot forever.
  const buildTimeoutMs = d.buildTimeoutMs ?? 30 * 60_000;
  const deadline = AbortSignal.timeout(buildTimeoutMs);
  // The node label scopes the janitor to this node's images; io.pleaco.base is cleared because
  // an app image would otherwise inherit it from the locally built base image it is FROM.
  const labels = { ...pleacoLabels({ app, build: id, node: d.nodeId }), 'io.pleaco.commit': commit, 'io.pleaco.base': '' };
  let imageId: string;
  try {
    ({ imageId } = await d.builder.build({
      context: d.git.archive(app, commit),
      tag: image,
      labels,
      memoryBytes: d.config.build.memoryBytes,
      cpuShares: d.config.build.cpuShares,
      onLog: s.out,
      signal: AbortSignal.any([run.signal, deadline]),
    }));
  } catch (err) {
    if (deadline.aborted && !run.signal.aborted) throw new PleacoError('build_failed', `the image build did not finish within ${span(buildTimeoutMs)}`);
    throw err;
  }
  s.durations.build = Date.now() - t;
  s.out(`image ${image} (${imageId.slice(0, 19)}) built in ${secs(s.durations.build)}`);
  return { image, imageId, labels };
}

/**
 * Every image carries the labels the build asked for (the janitor, the runner's adoption and the scan all go by
 * them): checked on the image itself after every build, whichever builder made it. An image without them is never
 * tested, scanned or released; it is removed when it still carries io.pleaco.managed (else it is not ours to touch).
 */
async function checkLabels(s: Stage, image: string, imageId: string, labels: Record<string, string>): Promise<ImageInfo> {
  const { d } = s;
  const info = await d.engine.inspectImage(imageId);
  if (!info) throw new PleacoError('build_failed', `the built image ${image} is not on this node`);
  const missing = Object.entries(labels).filter(([k, v]) => info.labels[k] !== v).map(([k]) => k);
  if (missing.length === 0) return info;
  const managed = info.labels[LABELS.managed] === 'true';
  if (managed) await d.engine.removeImage(imageId).catch((err: unknown) => s.out(`could not remove ${image}: ${(err as Error).message}`));
  const which = missing.length === 1 ? `label ${missing[0]}` : `labels ${missing.join(', ')}`;
  throw new PleacoError('build_failed', `the image built by ${d.builder.name} lacks the ${which}${managed ? '' : ` (${image} is left on the node: remove it by hand)`}`);
}

/** Runs the app's test command in the image; a failure or timeout throws (the record keeps the output's tail). */
async function testStage(s: Stage, imageId: string, port: number, command: string | null): Promise<TestResult> {
  const { build, d, run } = s;
  // With the image and its port known, the runners may start this build's release ahead, unrouted (runtime warmSlots).
  await run.update({ stage: 'test', image: `pleaco/${build.app}:${build.id}`, imageId, port, durations: { ...s.durations } });
  if (!command) {
    s.say('No test command (app config or pleaco.json/yaml): the release is not gated by tests');
    return { command: null, skipped: 'no test command in app config or pleaco.json/yaml: release not gated' };
  }
  s.say(`Testing: ${command}`);
  const env = { ...d.env(build.app), PORT: String(port) };
  run.ship.masker.set(Object.entries(env).filter(([k]) => k !== 'PORT').map(([, v]) => v));
  const r = await runTests(d.engine, {
    image: imageId,
    command,
    env,
    timeoutMs: d.config.build.testTimeoutMs,
    labels: pleacoLabels({ app: build.app, build: build.id, role: 'test', node: d.nodeId }),
    memoryBytes: d.config.build.memoryBytes,
    cpuShares: d.config.build.cpuShares,
    pids: d.config.build.pidsLimit,
    onLog: s.out,
    signal: run.signal,
  });
  s.durations.test = r.durationMs;
  const test: TestResult = { command, exitCode: r.exitCode, timedOut: r.timedOut, durationMs: r.durationMs };
  if (r.timedOut || r.exitCode !== 0) {
    test.output = run.ship.masker.mask(tail(r.output, FAILED_TAIL));
    await run.update({ test, durations: { ...s.durations } });
    if (r.timedOut) {
      s.say(`Test timed out after ${secs(d.config.build.testTimeoutMs)}`);
      throw new PleacoError('test_timeout', `the test command did not finish within ${span(d.config.build.testTimeoutMs)}`);
    }
    s.say(`Test failed (exit code ${r.exitCode}) in ${secs(r.durationMs)}`);
    throw new PleacoError('test_failed', `the test command exited with code ${r.exitCode}${r.oomKilled ? ' (killed: out of memory)' : ''}`, { details: { exitCode: r.exitCode } });
  }
  test.output = run.ship.masker.mask(tail(r.output, PASSED_TAIL));
  s.say(`Test passed in ${secs(r.durationMs)}`);
  return test;
}

/** A scan running beside the tests: its log lines are held until the tests are done. */
interface RunningScan {
  outcome: Promise<ScanOutcome>;
  /** Shows the lines held so far, and the later ones as they come. */
  show(): void;
  stop(): void;
}

/** Starts inventorying and matching the image under the app's policy (scanStage waits for it). */
function startScan(s: Stage, image: string, imageId: string): RunningScan {
  const { build, d, run } = s;
  const held: (() => void)[] = [];
  let shown = false;
  const say = (line: string): void => (shown ? s.say(line) : void held.push(() => s.say(line)));
  const out = (line: string): void => (shown ? s.out(line) : void held.push(() => s.out(line)));
  const stopped = new AbortController();
  // A stalled export must not hold the build slot: the scan has its own deadline, like the image build.
  const scanDeadline = AbortSignal.timeout(SCAN_TIMEOUT_MS);
  const outcome = scanImage({
    app: build.app, build: build.id, image, imageId, engine: d.engine, view: d.view, link: d.link, advisories: d.advisories ?? null, layers: d.layers ?? null, version: d.version ?? '0.0.0',
    labels: pleacoLabels({ app: build.app, build: build.id, role: 'scan', node: d.nodeId }), signal: AbortSignal.any([run.signal, scanDeadline, stopped.signal]), say, out,
  }).catch((err: unknown) => {
    if (scanDeadline.aborted && !run.signal.aborted) throw new PleacoError('scan_failed', `the scan did not finish within ${span(SCAN_TIMEOUT_MS)}`);
    throw err;
  });
  outcome.catch(() => undefined); // awaited by scanStage; a scan stopped by a failed test is not an error of its own
  return {
    outcome,
    show: () => {
      shown = true;
      for (const f of held.splice(0)) f();
    },
    stop: () => stopped.abort(),
  };
}

/** Waits for the scan started beside the tests; a blocking finding throws `scan_blocked`. */
async function scanStage(s: Stage, scan: RunningScan, test: TestResult): Promise<ScanOutcome> {
  const { run } = s;
  await run.update({ stage: 'scan', test, durations: { ...s.durations } });
  scan.show();
  const scanned = await scan.outcome;
  s.durations.scan = scanned.summary.durationMs;
  await run.update({ scan: scanned.summary, durations: { ...s.durations } });
  if (scanned.blocked) throw scanned.blocked;
  return scanned;
}
