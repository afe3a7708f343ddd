/**
 * No HAProxy outlives the process that runs it, and a restarted proxy never serves next to (or signals anything
 * but) the HAProxy an earlier run left in its dir. Real haproxy, real processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setLogSink } from '../../src/log.js';
import { renderConfig } from '../../src/proxy/index.js';
import { assertNoProcessesIn, processesIn } from '../helpers/procs.js';
import { tempDir } from '../helpers/tmp.js';
import { app, get, makeController, reservedPort, startBackend, waitFor, type Backend } from './_support.js';

const HOLDER = fileURLToPath(new URL('./_holder.js', import.meta.url));
const t = suite<{ one: Backend; two: Backend; dirs: ReturnType<typeof tempDir>[]; children: ChildProcess[]; restore: () => void }>('haproxy orphans (real haproxy)');

const alive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

t.before(async (ctx) => {
  ctx.one = await startBackend('one');
  ctx.two = await startBackend('two');
  ctx.dirs = [];
  ctx.children = [];
  ctx.restore = setLogSink(() => undefined);
});

t.after(async (ctx) => {
  for (const c of ctx.children) c.kill('SIGKILL');
  await ctx.one?.close();
  await ctx.two?.close();
  ctx.restore?.();
  try {
    for (const d of ctx.dirs) await assertNoProcessesIn(d.dir, 'the orphan tests');
  } finally {
    for (const d of ctx.dirs) d.cleanup();
  }
});

/** Starts the holder (a pleaco-proxy stand-in) on a fresh dir; resolves with its HAProxy's master and worker. */
async function holder(ctx: { dirs: ReturnType<typeof tempDir>[]; children: ChildProcess[] }): Promise<{ child: ChildProcess; dir: string; port: number; master: number; worker: number }> {
  const tmp = tempDir('pleaco-orphan-');
  ctx.dirs.push(tmp);
  const port = await reservedPort();
  const child = spawn(process.execPath, [HOLDER, tmp.dir, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  ctx.children.push(child);
  let out = '';
  const ready = await new Promise<RegExpExecArray>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^ready (\d+) (\d+)$/m.exec(out);
      if (m) resolve(m);
    });
    child.on('exit', (code) => reject(new Error(`holder exited ${code}: ${out.slice(-500)}`)));
  });
  return { child, dir: tmp.dir, port, master: Number(ready[1]), worker: Number(ready[2]) };
}

t('kill -9 of the process that runs HAProxy (reloaded once): its HAProxy (master and worker) leaves with it', async (ctx) => {
  const h = await holder(ctx);
  assert.ok(alive(h.master) && alive(h.worker));
  h.child.kill('SIGKILL');
  await waitFor('the orphaned haproxy gone', () => !alive(h.master) && !alive(h.worker), 10_000).catch(() => undefined);
  assert.equal(processesIn(h.dir), [], 'no process of the dir is left');
});

t('a restarted proxy ends the HAProxy an earlier run left in its dir before serving: only the new config answers', async (ctx) => {
  const tmp = tempDir('pleaco-orphan-');
  ctx.dirs.push(tmp);
  const port = await reservedPort();
  // The orphan: HAProxy started the way HAProxyProcess starts it, but by nobody that is still here to stop it.
  const old = makeController({ dir: tmp.dir });
  const paths = { dir: tmp.dir, statsSocket: join(tmp.dir, 'stats.sock') };
  const first = renderConfig({ port, bindHost: '127.0.0.1', apps: [app('web', [ctx.one])] }, paths, { slotsPerApp: 4 });
  assert.ok((await old.proc.write({ config: first.config, files: first.files })).ok);
  const orphan = spawn('/usr/sbin/haproxy', ['-W', '-db', '-S', `${old.proc.masterSocket},mode,600`, '-p', join(tmp.dir, 'haproxy.pid'), '-f', old.proc.configPath], { cwd: tmp.dir, stdio: 'ignore', detached: true });
  orphan.unref();
  await waitFor('the orphan serves', async () => (await get(port, 'web.localhost', '/', 500)).body === 'one', 10_000, 50);
  const orphans = processesIn(tmp.dir).map((p) => p.pid);
  assert.ok(orphans.length >= 2, 'master and worker');
  const { ctl } = makeController({ dir: tmp.dir });
  try {
    const out = await ctl.apply({ port, bindHost: '127.0.0.1', apps: [app('web', [ctx.two])] });
    assert.ok(out.ok, JSON.stringify(out));
    assert.equal(orphans.filter(alive), [], 'every process of the earlier HAProxy has ended once the new one runs');
    for (let i = 0; i < 20; i++) assert.is((await get(port, 'web.localhost')).body, 'two', `request ${i}: only the new config answers`);
  } finally {
    await ctl.close();
  }
});

t('a pid file naming a process that is not this dir\'s HAProxy (a reused pid) never gets it signalled', async (ctx) => {
  const tmp = tempDir('pleaco-orphan-');
  ctx.dirs.push(tmp);
  const port = await reservedPort();
  const configPath = join(tmp.dir, 'haproxy.cfg');
  // Looks like one at a glance: its command line has "haproxy" and this dir's config path in it.
  const lookalike = spawn('/bin/sh', ['-c', 'sleep 60; :', 'haproxy', '-f', configPath, '-f', `${configPath}.old`], { stdio: 'ignore' });
  ctx.children.push(lookalike);
  const other = spawn('/bin/sh', ['-c', 'sleep 60; :', '/usr/sbin/haproxy', '-f', `${configPath}.old`], { stdio: 'ignore' });
  ctx.children.push(other);
  try {
    for (const victim of [lookalike, other]) {
      writeFileSync(join(tmp.dir, 'haproxy.pid'), `${victim.pid}\n`);
      const { ctl } = makeController({ dir: tmp.dir });
      try {
        const out = await ctl.apply({ port, bindHost: '127.0.0.1', apps: [app('web', [ctx.one])] });
        assert.ok(out.ok, JSON.stringify(out));
      } finally {
        await ctl.close();
      }
      assert.ok(alive(victim.pid!), `pid ${victim.pid} (${victim.spawnargs.join(' ')}) was not signalled`);
    }
  } finally {
    lookalike.kill('SIGKILL');
    other.kill('SIGKILL');
  }
});

t.run();
