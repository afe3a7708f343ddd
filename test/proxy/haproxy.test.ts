/** HAProxyProcess against the real binary: validation, rejected configs, crash recovery, stop. */
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { renderConfig } from '../../src/proxy/index.js';
import { app, get, rig, startBackend, waitFor, type Backend, type Rig } from './_support.js';

const t = suite<{ r: Rig; one: Backend; two: Backend }>('haproxy process (real haproxy)');

const alive = (pid: number | undefined): boolean => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
};

t.before(async (ctx) => {
  ctx.one = await startBackend('one');
  ctx.two = await startBackend('two');
  ctx.r = await rig();
  const out = await ctx.r.ctl.apply(ctx.r.model([app('web', [ctx.one])]));
  assert.is(out.ok, true);
});

t.after(async (ctx) => {
  await ctx.r?.close();
  await ctx.one?.close();
  await ctx.two?.close();
});

t('runs in master-worker mode with the master CLI and the admin socket', async ({ r }) => {
  assert.ok(alive(r.proc.pid), 'master');
  assert.ok(alive(r.proc.workerPid), 'worker');
  assert.is.not(r.proc.pid, r.proc.workerPid);
  const { socketCommand } = await import('../../src/proxy/index.js');
  const procs = await socketCommand(r.proc.masterSocket, 'show proc');
  assert.match(procs, /master\s+\d+ \[failed: 0\]/);
  assert.match(procs, String(r.proc.workerPid));
  assert.is((await get(r.port, 'web.localhost')).body, 'one');
});

t('validate runs haproxy -c and returns HAProxy\'s own error lines', async ({ r }) => {
  const good = renderConfig(r.model([app('web', [])]), { dir: r.dir, statsSocket: `${r.dir}/stats.sock` }, { slotsPerApp: 4 });
  assert.equal(await r.proc.validate(good.config), { ok: true, message: '' });
  const bad = await r.proc.validate(good.config.replace('timeout connect 1s', 'timeout connect five seconds'));
  assert.is(bad.ok, false);
  assert.match(bad.message, /^\[ALERT\] config : parsing \[haproxy\.cfg:\d+\]/);
  assert.not.match(bad.message, /\(\d+\) :/, 'no pid column');
});

t('apply never applies a rejected config: files restored, same worker, old routes serve', async ({ r }) => {
  const mapBefore = readFileSync(`${r.dir}/hosts.map`, 'utf8');
  const cfgBefore = readFileSync(r.proc.configPath, 'utf8');
  const worker = r.proc.workerPid;
  const next = renderConfig(r.model([app('web', []), app('api', [])]), { dir: r.dir, statsSocket: `${r.dir}/stats.sock` }, { slotsPerApp: 4 });
  const res = await r.proc.apply({ config: next.config + 'frontend broken\n  bind 127.0.0.1:1 nonsense-option\n', files: next.files });
  assert.is(res.ok, false);
  assert.is(res.reloaded, false);
  assert.match(res.message, 'nonsense-option');
  assert.is(readFileSync(`${r.dir}/hosts.map`, 'utf8'), mapBefore);
  assert.is(readFileSync(r.proc.configPath, 'utf8'), cfgBefore);
  assert.is(await r.proc.runtime.pid(), worker);
  assert.is((await get(r.port, 'web.localhost')).body, 'one');
});

t('kill -9 of the master: restarted with the last good config, routes back within seconds', async ({ r, one, two }) => {
  // A runtime change first, so the restart must come from the config written for it, not the first one.
  const out = await r.ctl.apply(r.model([app('web', [one, two])]));
  assert.is(out.ok && out.mode, 'runtime');
  await waitFor('two in rotation', async () => (await get(r.port, 'web.localhost')).body === 'two', 5000, 20);
  const master = r.proc.pid!;
  const worker = r.proc.workerPid!;
  const restarted = new Promise<{ pid: number }>((res) => r.proc.once('restarted', res));
  const killedAt = Date.now();
  process.kill(master, 'SIGKILL');
  const ev = await restarted;
  await waitFor('routes restored', async () => (await get(r.port, 'web.localhost', '/', 1000)).status === 200, 5000, 50);
  const tookMs = Date.now() - killedAt;
  assert.ok(tookMs < 5000, `took ${tookMs} ms`);
  assert.is.not(r.proc.pid, master);
  assert.is(ev.pid, r.proc.workerPid);
  await waitFor('old worker gone', () => !alive(worker), 3000);
  const bodies = new Set<string>();
  for (let i = 0; i < 4; i++) bodies.add((await get(r.port, 'web.localhost')).body);
  assert.equal([...bodies].sort(), ['one', 'two']);
  assert.ok(r.logs.some((l) => l.includes('haproxy exited unexpectedly')));
  console.log(`  (routes back ${tookMs} ms after kill -9)`);
});

t('kill -9 of the worker: the master leaves too (exit-on-failure) and both come back', async ({ r }) => {
  const master = r.proc.pid!;
  const restarted = new Promise((res) => r.proc.once('restarted', res));
  process.kill(r.proc.workerPid!, 'SIGKILL');
  await restarted;
  assert.is.not(r.proc.pid, master);
  assert.is((await get(r.port, 'web.localhost')).status, 200);
});

t('stop ends HAProxy for good', async ({ r }) => {
  const master = r.proc.pid!;
  const worker = r.proc.workerPid!;
  await r.proc.stop();
  await waitFor('processes gone', () => !alive(master) && !alive(worker), 3000);
  await new Promise((res) => setTimeout(res, 500));
  assert.is(r.proc.pid, undefined, 'not restarted');
  const err = await get(r.port, 'web.localhost', '/', 500).catch((e: Error) => e);
  assert.instance(err, Error);
});

t.run();
