/** Poller with fake functions (named fake*), then once against a real local repository through GitMirror. */
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GitMirror, Poller, type PolledApp } from '../../src/source/index.js';
import { commitFiles, fakeLogger, initRepo, removeDir, tempDir } from './_helpers.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

/** A fake remote: branch heads by URL, with failures and hangs on demand, recording every call. */
function fakeRemote(heads: Record<string, string | null>) {
  const calls: string[] = [];
  const failing = new Set<string>();
  const hanging = new Map<string, () => void>();
  return {
    calls,
    heads,
    failing,
    hanging,
    lsRemote: async (url: string, branch: string): Promise<string | null> => {
      calls.push(url);
      if (failing.has(url)) throw new Error(`cannot fetch ${url}: repository not found or unreachable (boom)`);
      if (hanging.has(url)) await new Promise<void>((resolve) => hanging.set(url, resolve));
      return heads[`${url}#${branch}`] ?? heads[url] ?? null;
    },
  };
}

function fakeTrigger() {
  const triggered: Array<[string, string]> = [];
  return { triggered, trigger: async (app: string, commit: string) => void triggered.push([app, commit]) };
}

function fakeClock(start = 1_000_000) {
  const clock = { t: start, now: () => clock.t };
  return clock;
}

const test = suite('Poller');

test('triggers when the remote head differs from lastCommit, not when equal', async () => {
  const remote = fakeRemote({ 'https://h/web': B, 'https://h/api': A });
  const { triggered, trigger } = fakeTrigger();
  const apps: PolledApp[] = [
    { app: 'web', repo: 'https://h/web', branch: 'main', lastCommit: A },
    { app: 'api', repo: 'https://h/api', branch: 'main', lastCommit: A },
  ];
  const p = new Poller({ intervalMs: 1000, list: () => apps, lsRemote: remote.lsRemote, trigger, log: fakeLogger() });
  await p.tickOnce();
  assert.equal(triggered, [['web', B]]);
  assert.equal(remote.calls.sort(), ['https://h/api', 'https://h/web']);
});

test('a commit already triggered is not triggered again while state still shows the old one', async () => {
  const clock = fakeClock();
  const remote = fakeRemote({ 'https://h/web': B });
  const { triggered, trigger } = fakeTrigger();
  const apps: PolledApp[] = [{ app: 'web', repo: 'https://h/web', branch: 'main', lastCommit: A }];
  const p = new Poller({ intervalMs: 1000, list: () => apps, lsRemote: remote.lsRemote, trigger, log: fakeLogger(), now: clock.now });
  await p.tickOnce();
  clock.t += 1000;
  await p.tickOnce();
  assert.equal(triggered, [['web', B]]);
  remote.heads['https://h/web'] = C;
  clock.t += 1000;
  await p.tickOnce();
  assert.equal(triggered, [['web', B], ['web', C]]);
});

test('each app is checked when its own interval has elapsed; 0 disables an app', async () => {
  const clock = fakeClock();
  const remote = fakeRemote({});
  const { trigger } = fakeTrigger();
  const apps: PolledApp[] = [
    { app: 'fast', repo: 'https://h/fast', branch: 'main', intervalMs: 1000, lastCommit: null },
    { app: 'slow', repo: 'https://h/slow', branch: 'main', intervalMs: 5000, lastCommit: null },
    { app: 'off', repo: 'https://h/off', branch: 'main', intervalMs: 0, lastCommit: null },
    { app: 'default', repo: 'https://h/default', branch: 'main', lastCommit: null },
  ];
  const p = new Poller({ intervalMs: 3000, list: () => apps, lsRemote: remote.lsRemote, trigger, log: fakeLogger(), now: clock.now });
  const count = (url: string) => remote.calls.filter((c) => c === url).length;
  for (let i = 0; i <= 6; i++) {
    await p.tickOnce();
    clock.t += 1000;
  }
  // ticks at t=0..6 s: fast every tick, slow at 0 and 5, default at 0, 3 and 6, off never
  assert.is(count('https://h/fast'), 7);
  assert.is(count('https://h/slow'), 2);
  assert.is(count('https://h/default'), 3);
  assert.is(count('https://h/off'), 0);
});

test('a failing app is logged with its URL redacted, retried next tick, and never stops the others', async () => {
  const clock = fakeClock();
  const bad = 'https://user:s3cret@h/broken';
  const remote = fakeRemote({ 'https://h/web': B, [bad]: C });
  remote.failing.add(bad);
  const { triggered, trigger } = fakeTrigger();
  const log = fakeLogger();
  const apps: PolledApp[] = [
    { app: 'broken', repo: bad, branch: 'main', lastCommit: null },
    { app: 'web', repo: 'https://h/web', branch: 'main', lastCommit: A },
  ];
  const p = new Poller({ intervalMs: 60_000, list: () => apps, lsRemote: remote.lsRemote, trigger, log, now: clock.now });
  await p.tickOnce();
  assert.equal(triggered, [['web', B]]);
  const warn = log.records.find((r) => r.level === 'warn');
  assert.ok(warn, 'the failure was logged');
  assert.is(warn?.fields.app, 'broken');
  assert.is(warn?.fields.repo, 'https://***@h/broken');
  assert.match(String(warn?.fields.error), /boom/);
  assert.not.match(JSON.stringify(log.records), /s3cret/);
  clock.t += 60_000; // one interval later (a failing app is not retried every tick: see the backoff test)
  remote.failing.clear();
  await p.tickOnce();
  assert.equal(triggered, [['web', B], ['broken', C]]);
  assert.is(remote.calls.filter((c) => c === 'https://h/web').length, 2, 'the healthy app is checked once per interval');
});

test('a failing repository backs off exponentially (capped), not every tick; a success resets it', async () => {
  const clock = fakeClock();
  const bad = 'https://h/broken';
  const remote = fakeRemote({ [bad]: C });
  remote.failing.add(bad);
  const { triggered, trigger } = fakeTrigger();
  const p = new Poller({ intervalMs: 60_000, list: () => [{ app: 'broken', repo: bad, branch: 'main', lastCommit: null }], lsRemote: remote.lsRemote, trigger, log: fakeLogger(), now: clock.now });
  const checks: number[] = [];
  const start = clock.t;
  // Tick every second for 2 hours of fake time: record when the remote was asked.
  for (let i = 0; i <= 2 * 3600; i++) {
    const before = remote.calls.length;
    await p.tickOnce();
    if (remote.calls.length > before) checks.push((clock.t - start) / 1000);
    clock.t += 1000;
  }
  const gaps = checks.slice(1).map((t, i) => t - checks[i]!);
  assert.equal(gaps.slice(0, 4), [60, 120, 240, 480], `gaps double from the interval: ${gaps.slice(0, 8).join(', ')}`);
  assert.ok(gaps.every((g) => g <= 15 * 60), `capped at 15 min: ${gaps.slice(-8).join(', ')}`);
  assert.is(gaps[gaps.length - 1], 15 * 60);
  remote.failing.clear();
  clock.t += 15 * 60_000;
  await p.tickOnce();
  assert.equal(triggered, [['broken', C]]);
  const n = remote.calls.length;
  clock.t += 60_000;
  await p.tickOnce();
  assert.is(remote.calls.length, n + 1, 'after a success the app is checked at its interval again');
});

test('local repositories (file://, paths, git://) are not polled unless local repositories are allowed', async () => {
  const remote = fakeRemote({ 'file:///srv/web': B, '/srv/api': B, 'git://127.0.0.1/x.git': B, 'https://h/web': B });
  const { triggered, trigger } = fakeTrigger();
  const log = fakeLogger();
  const clock = fakeClock();
  const apps: PolledApp[] = ['file:///srv/web', '/srv/api', 'git://127.0.0.1/x.git', 'https://h/web'].map((repo, i) => ({ app: `a${i}`, repo, branch: 'main', lastCommit: A }));
  const p = new Poller({ intervalMs: 1000, allowLocal: false, list: () => apps, lsRemote: remote.lsRemote, trigger, log, now: clock.now });
  await p.tickOnce();
  clock.t += 1000;
  await p.tickOnce();
  assert.equal(remote.calls, ['https://h/web', 'https://h/web'], 'only the https repository was asked');
  assert.equal(triggered, [['a3', B]]);
  const refusals = log.records.filter((r) => r.level === 'warn' && /not polled/.test(r.msg));
  assert.is(refusals.length, 3, 'each refused repository is logged once, not every tick');
  const allowed = new Poller({ intervalMs: 1000, allowLocal: true, list: () => apps.slice(0, 1), lsRemote: remote.lsRemote, trigger, log: fakeLogger(), now: clock.now });
  await allowed.tickOnce();
  assert.is(remote.calls[remote.calls.length - 1], 'file:///srv/web', 'with local repositories allowed it is polled');
});

test('a failing trigger is retried on the next tick', async () => {
  const remote = fakeRemote({ 'https://h/web': B });
  let fail = true;
  const fakeTriggered: string[] = [];
  const p = new Poller({
    intervalMs: 60_000,
    list: () => [{ app: 'web', repo: 'https://h/web', branch: 'main', lastCommit: A }],
    lsRemote: remote.lsRemote,
    trigger: async (_app, commit) => {
      if (fail) throw new Error('state unavailable');
      fakeTriggered.push(commit);
    },
    log: fakeLogger(),
  });
  await p.tickOnce();
  fail = false;
  await p.tickOnce();
  assert.equal(fakeTriggered, [B]);
});

test('at most one check per app is in flight', async () => {
  const clock = fakeClock();
  const remote = fakeRemote({ 'https://h/slow': B, 'https://h/web': C });
  remote.hanging.set('https://h/slow', () => undefined);
  const { triggered, trigger } = fakeTrigger();
  const apps: PolledApp[] = [
    { app: 'slow', repo: 'https://h/slow', branch: 'main', lastCommit: A },
    { app: 'web', repo: 'https://h/web', branch: 'main', lastCommit: A },
  ];
  const p = new Poller({ intervalMs: 1000, list: () => apps, lsRemote: remote.lsRemote, trigger, log: fakeLogger(), now: clock.now });
  const first = p.tickOnce();
  await new Promise((r) => setImmediate(r));
  clock.t += 5000;
  await p.tickOnce(); // does not wait for the hung check
  assert.is(remote.calls.filter((c) => c === 'https://h/slow').length, 1);
  assert.is(remote.calls.filter((c) => c === 'https://h/web').length, 2);
  assert.equal(triggered, [['web', C]]);
  remote.hanging.get('https://h/slow')?.();
  await first;
  assert.equal(triggered, [['web', C], ['slow', B]]);
});

test('interval 0 disables the poller: start() checks nothing', async () => {
  const remote = fakeRemote({ 'https://h/web': B });
  const { triggered, trigger } = fakeTrigger();
  const p = new Poller({
    intervalMs: 0,
    list: () => [{ app: 'web', repo: 'https://h/web', branch: 'main', lastCommit: null }],
    lsRemote: remote.lsRemote,
    trigger,
    log: fakeLogger(),
    minTickMs: 5,
  });
  p.start();
  await new Promise((r) => setTimeout(r, 50));
  await p.stop();
  assert.equal(remote.calls, []);
  assert.equal(triggered, []);
});

test('start() polls on a timer until stop()', async () => {
  const remote = fakeRemote({ 'https://h/web': B });
  const { triggered, trigger } = fakeTrigger();
  const p = new Poller({
    intervalMs: 10,
    list: () => [{ app: 'web', repo: 'https://h/web', branch: 'main', lastCommit: A }],
    lsRemote: remote.lsRemote,
    trigger,
    log: fakeLogger(),
    minTickMs: 10,
  });
  p.start();
  await new Promise((r) => setTimeout(r, 100));
  await p.stop();
  const calls = remote.calls.length;
  assert.ok(calls >= 2, `polled ${calls} times`);
  assert.equal(triggered, [['web', B]]);
  await new Promise((r) => setTimeout(r, 50));
  assert.is(remote.calls.length, calls, 'nothing after stop()');
});

test('against a real repository through GitMirror.lsRemoteHead', async () => {
  const dir = await tempDir('poller');
  try {
    const repo = await initRepo(join(dir, 'src'));
    const first = await commitFiles(repo, { 'a.txt': '1\n' }, 'one');
    const mirror = new GitMirror({ root: join(dir, 'mirrors'), log: fakeLogger(), timeoutMs: 20_000 });
    const clock = fakeClock();
    const state = { lastCommit: null as string | null };
    const triggered: string[] = [];
    const p = new Poller({
      intervalMs: 1000,
      allowLocal: true,
      list: () => [{ app: 'web', repo: `file://${repo}`, branch: 'main', lastCommit: state.lastCommit }],
      lsRemote: (url, branch) => mirror.lsRemoteHead(url, branch),
      trigger: async (_app, commit) => {
        triggered.push(commit);
        state.lastCommit = commit;
      },
      log: fakeLogger(),
      now: clock.now,
    });
    await p.tickOnce();
    assert.equal(triggered, [first]);
    clock.t += 1000;
    await p.tickOnce();
    assert.equal(triggered, [first], 'no new commit, no trigger');
    const second = await commitFiles(repo, { 'a.txt': '2\n' }, 'two');
    clock.t += 1000;
    await p.tickOnce();
    assert.equal(triggered, [first, second]);
  } finally {
    await removeDir(dir);
  }
});

test.run();
