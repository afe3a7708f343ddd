/** The dockerode adapter and the log reader, against the real Docker Engine. */
import { existsSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LABELS } from '../../src/model/index.js';
import type { AppLogLine } from '../../src/model/index.js';
import { OOM_NOTE, specHash, type LogLine, type ManagedContainer } from '../../src/runtime/index.js';
import { DockerEngine, DockerRuntime, containerName, decodeLogBuffer } from '../../src/runtime/docker/index.js';
import { byTime, tailLogs } from '../../src/runtime/docker/logs.js';
import { EngineProxy } from '../helpers/engineproxy.js';
import { RUN_ID, TEST_LABEL, tar, rejects, baseImage, buildImage, cleanup, docker, httpGet, uid, waitFor, webDockerfile, crashDockerfile, interleavedDockerfile } from './_fixtures.js';

const frame = (stream: number, text: string): Buffer => {
  const body = Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(body.length, 4);
  return Buffer.concat([h, body]);
};

const Frames = suite('log frames');

Frames('demultiplexes stdout/stderr frames split anywhere, lines across frames', () => {
  const buf = Buffer.concat([frame(1, 'one\ntw'), frame(2, 'err line\n'), frame(1, 'o\nlast')]);
  assert.equal(decodeLogBuffer(buf, false), [
    { stream: 'stdout', line: 'one' },
    { stream: 'stderr', line: 'err line' },
    { stream: 'stdout', line: 'two' },
    { stream: 'stdout', line: 'last' },
  ]);
  const ts = decodeLogBuffer(frame(1, '2030-01-01T00:00:00.000000001Z hello world\n'), true);
  assert.equal(ts, [{ stream: 'stdout', line: 'hello world', time: '2030-01-01T00:00:00.000000001Z' }]);
  assert.equal(decodeLogBuffer(Buffer.from('raw tty output\n'), false), [{ stream: 'stdout', line: 'raw tty output' }]);
});

Frames('byTime merges both streams by Docker timestamp, stable for equal times', () => {
  const buf = Buffer.concat([
    frame(1, '2030-01-01T00:00:00.000000100Z out-1\n2030-01-01T00:00:00.300000000Z out-2\n'),
    frame(2, '2030-01-01T00:00:00.200000000Z err-1\n2030-01-01T00:00:00.300000000Z err-2\n'),
  ]);
  assert.equal(byTime(decodeLogBuffer(buf, true)).map((l) => `${l.stream}:${l.line}`), ['stdout:out-1', 'stderr:err-1', 'stdout:out-2', 'stderr:err-2']);
});

Frames.run();

const Adapter = suite('DockerRuntime');
const nodeId = uid('node');
const app = uid('ad');
let web = '';
let crash = '';
let sleeper = '';
let interleaved = '';
let unlabelled = '';
const rt = new DockerRuntime({ engine: docker, nodeId, bindHost: '127.0.0.1', socketPath: '/var/run/docker.sock' });
const engine = new DockerEngine(docker);

Adapter.before(async () => {
  const base = await baseImage();
  web = await buildImage(app, webDockerfile(base), `pleaco-test/${app}-web:1`);
  crash = await buildImage(app, crashDockerfile(base), `pleaco-test/${app}-crash:1`);
  sleeper = await buildImage(app, `FROM ${base}\nCMD ["sleep", "300"]\n`, `pleaco-test/${app}-sleep:1`);
  interleaved = await buildImage(app, interleavedDockerfile(base), `pleaco-test/${app}-interleaved:1`);
});

Adapter.after(async () => {
  await cleanup([nodeId], unlabelled ? [unlabelled] : []);
});

let c0: ManagedContainer;

Adapter('create: labels, name, env via Env only, port on the bind host, restart no, bounded json-file logs', async () => {
  const spec = { app, index: 0, release: 3, image: web, port: 8080, env: { NAME: 'adapter', SECRET_KEY: 'sk-very-secret' } };
  c0 = await rt.create(spec);
  assert.is(c0.name, containerName(app, 0, 3));
  assert.equal([c0.app, c0.index, c0.release, c0.node, c0.state, c0.port], [app, 0, 3, nodeId, 'running', 8080]);
  assert.ok(c0.hostPort && c0.hostPort > 0);
  const info = await docker.getContainer(c0.id).inspect();
  const own = Object.fromEntries(Object.entries(info.Config.Labels).filter(([k]) => !k.startsWith('io.pleaco.base') && k !== 'io.pleaco.test'));
  assert.equal(own, {
    [LABELS.managed]: 'true',
    [LABELS.app]: app,
    [LABELS.release]: '3',
    [LABELS.slot]: `${app}#0`,
    [LABELS.node]: nodeId,
    [LABELS.role]: 'app',
    [LABELS.spec]: specHash(spec),
  });
  assert.is(c0.spec, specHash(spec), 'the spec digest is read back from the label');
  assert.ok(info.Config.Env.includes('PORT=8080'));
  assert.ok(info.Config.Env.includes('SECRET_KEY=sk-very-secret'));
  const argv = JSON.stringify([info.Path, info.Args, info.Config.Cmd, info.Config.Entrypoint]);
  assert.not.match(argv, 'sk-very-secret');
  assert.equal(info.HostConfig.PortBindings, { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
  assert.is(info.HostConfig.RestartPolicy?.Name, 'no');
  assert.equal(info.HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } });
  assert.is(info.HostConfig.Memory, 0);
  assert.is(info.Config.Tty, false);
  await waitFor('the port to accept', () => rt.probe(c0));
  assert.equal(await httpGet(c0.hostPort), { status: 200, body: 'hello adapter\n' });
});

Adapter('probe: a published port whose app does not listen is not ready (docker-proxy accepts, then closes)', async () => {
  const idle = await rt.create({ app, index: 5, release: 3, image: sleeper, port: 9999, env: {} });
  assert.ok(idle.hostPort && idle.ip);
  assert.not.ok(await rt.probe(idle), 'container address: refused');
  assert.not.ok(await rt.probe({ ...idle, ip: null }), 'published port: accepted by the proxy, then closed');
  assert.ok(await rt.probe({ ...c0, ip: null }), 'a listening app is ready on its published port too');
  await rt.remove(idle.id);
});

Adapter('the accept queue of a listening app is read in its network namespace; none where nothing listens', async () => {
  assert.ok(c0.pid && c0.pid > 0, 'a running container has its pid');
  assert.is(await rt.listenBacklog(c0), 9, 'busybox httpd listens with a backlog of 9');
  const idle = await rt.create({ app, index: 6, release: 3, image: sleeper, port: 9999, env: {} });
  assert.is(await rt.listenBacklog(idle), null);
  await rt.remove(idle.id);
  assert.is(await rt.listenBacklog({ ...idle, pid: null }), null, 'a container that is not running has none');
});

Adapter('a taken name gets a short suffix; list sees only labelled containers of this node', async () => {
  const base = await baseImage();
  const other = await docker.createContainer({ name: containerName(app, 1, 3), Image: base, Cmd: ['sleep', '300'] });
  unlabelled = other.id;
  await other.start();
  const c1 = await rt.create({ app, index: 1, release: 3, image: web, port: 8080, env: { NAME: 'one' } });
  assert.match(c1.name, new RegExp(`^${containerName(app, 1, 3)}-[0-9a-f]{6}$`));
  const ids = (await rt.list()).map((c) => c.id).sort();
  assert.equal(ids, [c0.id, c1.id].sort());
  assert.is(await rt.inspect(unlabelled), null, 'an unlabelled container is invisible');
  await rt.stop(unlabelled);
  await rt.remove(unlabelled);
  assert.is((await docker.getContainer(unlabelled).inspect()).State.Running, true, 'and untouchable');
});

Adapter('logsTail and followLogs read both streams in order', async () => {
  // The web app writes its two startup lines microseconds apart on two pipes: both must be there, each
  // on its stream, but Docker stamps (and stores) them in either order, so their mutual order is not checked.
  await waitFor('startup lines', async () => (await rt.logsTail(c0.id, 20)).includes('web-stderr-line'));
  assert.equal((await rt.logsTail(c0.id, 20)).split('\n').sort(), ['web listening on 8080', 'web-stderr-line']);
  const lines: LogLine[] = [];
  await rt.followLogs(c0.id, { tail: 10 }, (l) => lines.push(l));
  assert.equal(lines.map((l) => `${l.stream}:${l.line}`).sort(), ['stderr:web-stderr-line', 'stdout:web listening on 8080']);
  assert.ok(lines.every((l, i) => l.time && (i === 0 || lines[i - 1]!.time! <= l.time)), 'in timestamp order');
  // Lines written apart in time come back in that order, across streams.
  const il = await rt.create({ app, index: 6, release: 3, image: interleaved, port: 8080, env: {} });
  await waitFor('the interleaved lines', async () => (await rt.logsTail(il.id, 20)).includes('out-2'));
  assert.equal((await rt.logsTail(il.id, 20)).split('\n'), ['out-1', 'err-1', 'out-2']);
  assert.is(await rt.logsTail(il.id, 2), 'err-1\nout-2', 'the last lines of both streams');
  const seq: string[] = [];
  await rt.followLogs(il.id, { tail: 10 }, (l) => seq.push(`${l.stream}:${l.line}`));
  assert.equal(seq, ['stdout:out-1', 'stderr:err-1', 'stdout:out-2']);
  const app6: string[] = [];
  await tailLogs(docker, nodeId, app, { tail: 10 }, (l) => void (l.slot === `${app}#6` && app6.push(`${l.stream}:${l.line}`)));
  assert.equal(app6, ['stdout:out-1', 'stderr:err-1', 'stdout:out-2']);
  await rt.remove(il.id);
});

Adapter('tailLogs: an app’s lines with slot and release; follow sees new lines and stops on abort', async () => {
  const got: AppLogLine[] = [];
  await tailLogs(docker, nodeId, app, { tail: 10 }, (l) => got.push(l));
  const key = (l: AppLogLine): string => `${l.stream}:${l.line}`;
  assert.equal(got.filter((l) => l.slot === `${app}#0`).sort((a, b) => (key(a) < key(b) ? -1 : 1)), [
    { slot: `${app}#0`, release: 3, stream: 'stderr', line: 'web-stderr-line' },
    { slot: `${app}#0`, release: 3, stream: 'stdout', line: 'web listening on 8080' },
  ]);
  assert.ok(got.some((l) => l.slot === `${app}#1`));
  const ac = new AbortController();
  const live: AppLogLine[] = [];
  const done = tailLogs(docker, nodeId, app, { tail: 0, follow: true, signal: ac.signal }, (l) => live.push(l));
  await new Promise((r) => setTimeout(r, 300));
  const late = await rt.create({ app, index: 2, release: 4, image: crash, port: 8080, env: {} });
  await waitFor('lines of a container started while following', () => live.some((l) => l.slot === `${app}#2` && l.line === 'crash-stderr-line' && l.stream === 'stderr'), 10_000);
  assert.is(live.find((l) => l.slot === `${app}#2`)?.release, 4);
  ac.abort();
  await done;
  await rt.remove(late.id);
});

Adapter('stop and remove; images by label (the engine adapter); unlabelled images are refused', async () => {
  await rt.stop(c0.id, 2);
  assert.is((await rt.inspect(c0.id))?.state, 'exited');
  await rt.remove(c0.id);
  assert.is(await rt.inspect(c0.id), null);
  await rt.remove(c0.id); // idempotent
  const imgs = await engine.listImages({ [LABELS.app]: app });
  assert.equal(imgs.map((i) => i.id).sort(), [web, crash, sleeper, interleaved].sort());
  const base = await baseImage();
  const baseInfo = await docker.getImage(base).inspect();
  if (baseInfo.Config.Labels?.[LABELS.managed] !== 'true') {
    await rejects(() => engine.removeImage(base), (e: Error) => /not managed/.test(e.message));
  }
  await rejects(() => engine.removeImage(web), (e: { code?: string }) => e.code === 'conflict', 'an image in use stays');
  const spare = await buildImage(app, `FROM ${base}\nCMD ["echo", "spare"]\n`, `pleaco-test/${app}-spare:1`, { pin: false });
  await engine.removeImage(spare);
  assert.equal((await engine.listImages({ [LABELS.app]: app })).map((i) => i.id).sort(), [web, crash, sleeper, interleaved].sort());
});

Adapter('limits: memory without swap, CPU quota, process limit and no-new-privileges on every app container; an OOM kill is reported', async () => {
  const c = await rt.create({ app, index: 7, release: 1, image: sleeper, port: 8080, env: {}, memoryBytes: 64 * 1024 ** 2, cpus: 0.5, pids: 128 });
  const hc = (await docker.getContainer(c.id).inspect()).HostConfig;
  assert.equal([hc.Memory, hc.MemorySwap, hc.NanoCpus, hc.PidsLimit], [64 * 1024 ** 2, 64 * 1024 ** 2, 500_000_000, 128]);
  assert.ok(hc.SecurityOpt?.includes('no-new-privileges'), `SecurityOpt ${JSON.stringify(hc.SecurityOpt)}`);
  await rt.remove(c.id);
  // No limits asked for: still no-new-privileges.
  const bare = await rt.create({ app, index: 8, release: 1, image: sleeper, port: 8080, env: {} });
  assert.ok((await docker.getContainer(bare.id).inspect()).HostConfig.SecurityOpt?.includes('no-new-privileges'));
  await rt.remove(bare.id);
  // A container over its memory limit is killed by the kernel: the adapter sees it, `pleaco logs` says it.
  const base = await baseImage();
  const hog = await buildImage(app, `FROM ${base}\nCMD ["sh", "-c", "echo filling; a=$(dd if=/dev/zero bs=1M count=96 2>/dev/null | tr '\\\\000' x); echo survived"]\n`, `pleaco-test/${app}-hog:1`);
  const h = await rt.create({ app, index: 9, release: 1, image: hog, port: 8080, env: {}, memoryBytes: 32 * 1024 ** 2 });
  const dead = await waitFor('the hog killed', async () => {
    const x = await rt.inspect(h.id);
    return x && x.state !== 'running' ? x : null;
  }, 20_000);
  assert.is(dead.oomKilled, true);
  const lines: AppLogLine[] = [];
  await tailLogs(docker, nodeId, app, { tail: 10 }, (l) => void (l.slot === `${app}#9` && lines.push(l)));
  assert.equal(lines.map((l) => l.line), ['filling', OOM_NOTE]);
  await rt.remove(h.id);
});

Adapter('ping reports the engine version; an absent engine is reported, not thrown', async () => {
  const ok = await rt.ping();
  assert.ok(ok.ok && ok.version);
  const down = new DockerRuntime({ engine: new (docker.constructor as typeof import('dockerode'))({ socketPath: '/nonexistent/docker.sock' }), nodeId, bindHost: '127.0.0.1' });
  const st = await down.ping();
  assert.equal(st, { ok: false, error: 'Docker Engine is not reachable' });
  await rejects(() => down.list(), (e: { code?: string }) => e.code === 'docker_unavailable');
});

/** How a call ended within `ms`: 'answered', its error code (or message), or 'hung'. */
async function outcome(call: () => Promise<unknown>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<string>((r) => (timer = setTimeout(() => r('hung'), ms)));
  const ended = call().then(
    (v) => ((v as { ok?: boolean } | null)?.ok === false ? `not ok: ${(v as { error?: string }).error}` : 'answered'),
    (e: { code?: string; message?: string }) => e.code ?? `error: ${e.message}`,
  );
  try {
    return await Promise.race([ended, hung]);
  } finally {
    clearTimeout(timer);
  }
}

const SHORT = { pingMs: 500, callMs: 1000, firstByteMs: 1000, livenessEveryMs: 500, livenessFailures: 2 };

Adapter('a wedged Engine (accepts, never answers): every call ends at its deadline as docker_unavailable; nothing waits for it', async () => {
  const c = await rt.create({ app, index: 7, release: 1, image: sleeper, port: 8080, env: {} });
  const proxy = new EngineProxy();
  await proxy.up();
  const wrt = new DockerRuntime({ engine: proxy.engine(), nodeId, bindHost: '127.0.0.1', socketPath: proxy.path, deadlines: SHORT });
  const weng = new DockerEngine(proxy.engine(), { deadlines: SHORT });
  const ac = new AbortController();
  const job = { image: sleeper, cmd: ['true'], labels: { [LABELS.role]: 'test', [LABELS.node]: nodeId }, memoryBytes: 64 * 1024 ** 2, onLine: () => undefined };
  const calls: Record<string, () => Promise<unknown>> = {
    'runtime.ping': () => wrt.ping(),
    'runtime.list': () => wrt.list(),
    'runtime.inspect': () => wrt.inspect(c.id),
    'runtime.create': () => wrt.create({ app, index: 8, release: 1, image: sleeper, port: 8080, env: {} }),
    'runtime.stop': () => wrt.stop(c.id, 1),
    'runtime.remove': () => wrt.remove(c.id),
    'runtime.logsTail': () => wrt.logsTail(c.id, 10),
    'runtime.followLogs': () => wrt.followLogs(c.id, { follow: true, signal: ac.signal }, () => undefined),
    'runtime.events': () => wrt.events(() => undefined, ac.signal),
    'runtime.appLogs': () => wrt.appLogs(app, { tail: 10 }, () => undefined),
    'runtime.appLogs follow': () => wrt.appLogs(app, { tail: 10, follow: true, signal: ac.signal }, () => undefined),
    'engine.ping': () => weng.ping(),
    'engine.inspectImage': () => weng.inspectImage(web),
    'engine.listImages': () => weng.listImages({ [LABELS.app]: app }),
    'engine.tagImage': () => weng.tagImage(web, `pleaco-test/${app}-wedged:1`),
    'engine.removeImage': () => weng.removeImage(`pleaco-test/${app}-none:1`),
    'engine.listContainers': () => weng.listContainers({ [LABELS.node]: nodeId }),
    'engine.removeContainer': () => weng.removeContainer(c.id),
    'engine.imagesInUse': () => weng.imagesInUse(),
    'engine.runJob': () => weng.runJob(job),
    'engine.readImageFiles': () => weng.readImageFiles(web, { [LABELS.node]: nodeId }, async (t) => void t.resume()),
    'engine.loadImage': () => weng.loadImage(Readable.from([tar([{ name: 'manifest.json', data: '[]' }])])),
    'engine.buildImage': () => weng.buildImage({ context: Readable.from([tar([{ name: 'Dockerfile', data: `FROM ${web}\nLABEL ${TEST_LABEL}=${RUN_ID}\n` }])]), tag: `pleaco-test/${app}-wedged:2`, memoryBytes: 64 * 1024 ** 2, cpuShares: 512, onLog: () => undefined }),
  };
  proxy.wedge();
  let ended: [string, string][];
  try {
    ended = await Promise.all(Object.entries(calls).map(async ([name, call]) => [name, await outcome(call, 8000)] as [string, string]));
  } finally {
    ac.abort();
    proxy.unwedge();
    await proxy.down();
  }
  const wrong = ended.filter(([name, how]) => how !== (name.endsWith('.ping') ? 'not ok: Docker Engine did not answer within 0.5 s' : 'docker_unavailable'));
  assert.equal(wrong, [], wrong.map(([n, h]) => `${n}: ${h}`).join('; '));
  assert.is((await rt.inspect(c.id))?.state, 'running', 'nothing reached the Engine');
  await rt.remove(c.id);
});

// The real dockerd frozen for a few seconds (others share it: never longer, and always resumed).
const dockerdPid = ((): number | null => {
  try {
    const pid = Number(readFileSync('/var/run/docker.pid', 'utf8').trim());
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'dockerd' && existsSync('/var/run/docker.sock') ? pid : null;
  } catch {
    return null;
  }
})();

if (dockerdPid === null) Adapter.skip('a frozen dockerd (SIGSTOP): skipped, no dockerd pid file at /var/run/docker.pid here', () => undefined);
else Adapter('a frozen dockerd (SIGSTOP for a few seconds): ping and list end at their deadlines; all is well after SIGCONT', async () => {
  const frt = new DockerRuntime({ engine: docker, nodeId, bindHost: '127.0.0.1', deadlines: { ...SHORT, callMs: 2000 } });
  const resume = (): void => {
    try {
      process.kill(dockerdPid, 'SIGCONT');
    } catch {
      /* gone */
    }
  };
  process.once('exit', resume); // even when this process dies in between
  const safety = setTimeout(resume, 7000);
  let ended: string[];
  process.kill(dockerdPid, 'SIGSTOP');
  try {
    ended = await Promise.all([outcome(() => frt.ping(), 5000), outcome(() => frt.list(), 5000)]);
  } finally {
    resume();
    clearTimeout(safety);
    process.off('exit', resume);
  }
  assert.equal(ended, ['not ok: Docker Engine did not answer within 0.5 s', 'docker_unavailable']);
  assert.ok((await frt.ping()).ok, 'answers again after SIGCONT');
  assert.ok(Array.isArray(await frt.list()));
});

Adapter.run();
