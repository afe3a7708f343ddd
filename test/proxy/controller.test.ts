/** The controller against a real HAProxy 2.6 and real node:http backends on 127.0.0.1. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { appStats, renderConfig } from '../../src/proxy/index.js';
import { app, get, rig, sleep, startBackend, waitFor, type Backend, type Rig } from './_support.js';

const t = suite<{ r: Rig; one: Backend; two: Backend; three: Backend; api: Backend; sabotage: boolean }>('proxy controller (real haproxy)');

t.before(async (ctx) => {
  ctx.one = await startBackend('one');
  ctx.two = await startBackend('two');
  ctx.three = await startBackend('three');
  ctx.api = await startBackend('api');
  ctx.sabotage = false;
  ctx.r = await rig({
    drainMs: 5000,
    // Lets a test produce a config HAProxy itself rejects (the model validation would stop anything else).
    render: (m, p, o) => {
      const out = renderConfig(m, p, o);
      return ctx.sabotage ? { ...out, config: out.config.replace('balance roundrobin', 'balance no-such-algorithm') } : out;
    },
  });
  const out = await ctx.r.ctl.apply(ctx.r.model([app('web', [ctx.one, ctx.two])]));
  assert.equal(out, { ok: true, mode: 'start', changes: 0 });
});

t.after(async (ctx) => {
  await ctx.r?.close();
  for (const b of [ctx.one, ctx.two, ctx.three, ctx.api]) await b?.close();
});

t('routes by Host, with or without :port, in any case; spreads over the servers', async ({ r }) => {
  const seen = new Set<string>();
  for (const host of ['web.localhost', `web.localhost:${r.port}`, 'WEB.LocalHost', `Web.LOCALHOST:${r.port}`]) {
    for (let i = 0; i < 2; i++) {
      const res = await get(r.port, host);
      assert.is(res.status, 200, host);
      seen.add(res.body);
    }
  }
  assert.equal([...seen].sort(), ['one', 'two']);
});

t('an unknown host gets the 404 page naming it; odd hosts are never echoed', async ({ r }) => {
  const res = await get(r.port, 'nope.localhost:9999');
  assert.is(res.status, 404);
  assert.match(res.body, 'no app is served at nope.localhost');
  const odd = await get(r.port, '<script>x</script>');
  assert.is(odd.status, 404);
  assert.not.match(odd.body, '<script>');
});

t('a server whose /health fails leaves rotation after `fall` checks and returns after `rise`', async ({ r, two }) => {
  two.healthy = false;
  await waitFor('two DOWN', async () => (await r.ctl.stats())[0]!.servers.find((s) => s.addr.endsWith(`:${two.port}`))?.status === 'DOWN', 5000);
  for (let i = 0; i < 10; i++) assert.is((await get(r.port, 'web.localhost')).body, 'one');
  two.healthy = true;
  await waitFor('two UP', async () => (await r.ctl.stats())[0]!.servers.find((s) => s.addr.endsWith(`:${two.port}`))?.status === 'UP', 5000);
  const bodies = new Set<string>();
  for (let i = 0; i < 6; i++) bodies.add((await get(r.port, 'web.localhost')).body);
  assert.ok(bodies.has('two'));
});

t('an app with no healthy server answers its 503 page at once, not a hang', async ({ r, one, two }) => {
  one.healthy = false;
  two.healthy = false;
  try {
    await waitFor('web all DOWN', async () => (await r.ctl.stats())[0]!.servers.filter((s) => s.status === 'UP').length === 0, 5000);
    const started = Date.now();
    const res = await get(r.port, 'web.localhost', '/', 2000);
    assert.is(res.status, 503);
    assert.match(res.body, 'web has no healthy replica right now');
    assert.ok(Date.now() - started < 1000);
  } finally {
    one.healthy = true;
    two.healthy = true;
  }
  await waitFor('web back', async () => (await get(r.port, 'web.localhost')).status === 200, 5000);
});

t('adding a server and a host takes effect through the runtime API, without a reload', async ({ r, one, two, three }) => {
  const pid = r.proc.workerPid;
  const out = await r.ctl.apply(r.model([app('web', [one, two, three], { hosts: ['web.localhost', 'www.example.com'] })]));
  assert.equal(out, { ok: true, mode: 'runtime', changes: 3 });
  assert.is((await get(r.port, 'www.example.com')).status, 200);
  await waitFor('three serves', async () => (await get(r.port, 'web.localhost')).body === 'three', 5000, 20);
  assert.is(await r.proc.runtime.pid(), pid, 'same worker: no reload happened');
  assert.is(r.proc.workerPid, pid);
  const map = await r.proc.runtime.showMap(`${r.dir}/hosts.map`);
  assert.equal(map.map((e) => `${e.key} ${e.value}`).sort(), ['web.localhost app_web', 'www.example.com app_web']);
  const onDisk = await import('node:fs').then((fs) => fs.readFileSync(`${r.dir}/hosts.map`, 'utf8'));
  assert.is(onDisk, 'web.localhost app_web\nwww.example.com app_web\n', 'the map file agrees for a later reload');
});

t('adding an app reloads HAProxy; no request fails across it and a DOWN server stays DOWN', async ({ r, one, two, three, api }) => {
  two.healthy = false;
  await waitFor('two DOWN', async () => (await r.ctl.stats())[0]!.servers.find((s) => s.addr.endsWith(`:${two.port}`))?.status === 'DOWN', 5000);
  const twoHits = two.hits;
  const before = r.proc.workerPid;
  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  const deadline = Date.now() + 10_000;
  // Four clients in parallel, each a fresh connection per request; at most 2,000 requests or 10 s in all.
  const client = async (): Promise<void> => {
    while (!stop && ok + failures.length < 2000 && Date.now() < deadline) {
      try {
        const res = await get(r.port, 'web.localhost', '/', 3000);
        if (res.status === 200) ok++;
        else failures.push(`status ${res.status}`);
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  const loop = Promise.all([client(), client(), client(), client()]);
  await sleep(300);
  const out = await r.ctl.apply(r.model([app('web', [one, two, three], { hosts: ['web.localhost', 'www.example.com'] }), app('api', [api])]));
  assert.equal(out, { ok: true, mode: 'reload', changes: 0 });
  await sleep(500);
  stop = true;
  await loop;
  assert.is.not(r.proc.workerPid, before, 'a new worker serves');
  assert.equal(failures, [], `${failures.length} of ${ok + failures.length} requests failed`);
  assert.ok(ok > 20, `only ${ok} requests ran`);
  assert.is(two.hits, twoHits, 'the new worker knew two was DOWN (server state carried over)');
  assert.is((await get(r.port, 'api.localhost')).body, 'api');
  two.healthy = true;
  await waitFor('two UP', async () => (await r.ctl.stats()).find((a) => a.app === 'web')!.servers.find((s) => s.addr.endsWith(`:${two.port}`))?.status === 'UP', 5000);
  console.log(`  (reload under load: ${ok} requests, 0 failed)`);
});

t('a config HAProxy rejects is reported and not applied; the old one keeps serving', async (ctx) => {
  const { r } = ctx;
  const pid = r.proc.workerPid;
  ctx.sabotage = true;
  const out = await r.ctl.apply(r.model([app('other', [])]));
  ctx.sabotage = false;
  assert.is(out.ok, false);
  if (!out.ok) {
    assert.is(out.error.code, 'invalid_config');
    assert.match(out.error.message, "balance only supports 'roundrobin'", 'HAProxy\'s own words');
  }
  assert.is(await r.proc.runtime.pid(), pid, 'no reload');
  assert.is((await get(r.port, 'api.localhost')).body, 'api');
  assert.is((await get(r.port, 'other.localhost')).status, 404);
  assert.ok(r.logs.some((l) => l.includes('previous one keeps serving')));
});

t('drain: a removed server takes no new requests, its in-flight request completes', async ({ r, one, two, three, api }) => {
  const apps = (web: Backend[]) => r.model([app('web', web, { hosts: ['web.localhost', 'www.example.com'] }), app('api', [api])]);
  // Three slow requests at once: round robin gives each server one, so one is in flight on `three`.
  const hitsBefore = three.hits;
  const slow = [0, 1, 2].map(() => get(r.port, 'web.localhost', '/slow?ms=1500', 5000));
  await waitFor('a slow request on three', () => three.hits > hitsBefore, 2000, 20);
  const out = await r.ctl.apply(apps([one, two]));
  assert.is(out.ok && out.mode, 'runtime');
  assert.equal(r.ctl.drainingServers(), ['web/c-three']);
  const hits = three.hits;
  for (let i = 0; i < 10; i++) assert.is.not((await get(r.port, 'web.localhost')).body, 'three');
  assert.is(three.hits, hits, 'no new request reached the draining server');
  const done = await Promise.all(slow);
  assert.ok(done.every((d) => d.status === 200));
  assert.ok(done.some((d) => d.body === 'three'), 'the in-flight request on the draining server completed');
  await waitFor('slot cleared', async () => {
    const web = (await r.ctl.stats()).find((a) => a.app === 'web')!;
    return r.ctl.drainingServers().length === 0 && web.servers.filter((s) => s.status === 'MAINT').length === web.servers.length - 2;
  }, 5000);
});

t('stats from a real `show stat` count what was sent', async ({ r }) => {
  const before = appStats(await r.proc.runtime.showStat()).find((a) => a.app === 'api')!;
  for (let i = 0; i < 25; i++) assert.is((await get(r.port, 'api.localhost')).status, 200);
  const after = (await r.ctl.stats()).find((a) => a.app === 'api')!;
  assert.is(after.reqTotal - before.reqTotal, 25);
  assert.is(after.codes['2xx'] - before.codes['2xx'], 25);
  assert.is(after.codes['5xx'], before.codes['5xx']);
  assert.is(after.inFlight, 0);
  assert.is(after.servers.filter((s) => s.status === 'UP').length, 1);
  assert.is(after.servers[0]!.checkStatus, 'L7OK');
  assert.ok(after.reqRate >= 1);
});

t('a replica\'s connection limit is set at run time: requests beyond it wait in HAProxy\'s queue, none fails', async ({ r, one, two }) => {
  assert.ok((await r.ctl.apply(r.model([app('web', [one, two])]))).ok); // the other tests' apps go (a reload)
  await waitFor('both servers up', async () => (await r.ctl.stats()).find((a) => a.app === 'web')!.servers.filter((s) => s.status === 'UP').length === 2, 5000);
  const pid = r.proc.workerPid;
  const web = app('web', [one, two]);
  for (const s of web.servers) s.maxconn = 1;
  const out = await r.ctl.apply(r.model([web]));
  assert.equal(out, { ok: true, mode: 'runtime', changes: 2 });
  const ours = (x: Record<string, string>): boolean => x.pxname === 'app_web' && [one.port, two.port].some((p) => (x.addr ?? '').endsWith(`:${p}`));
  const rows = async () => (await r.proc.runtime.showStat()).filter(ours);
  assert.equal((await rows()).map((x) => x.slim), ['1', '1'], 'the limit is HAProxy\'s, set without a reload');
  await r.proc.runtime.command('clear counters');
  const replies = await Promise.all(Array.from({ length: 6 }, () => get(r.port, 'web.localhost', '/slow?ms=300', 10_000)));
  assert.equal(replies.map((x) => x.status), [200, 200, 200, 200, 200, 200]);
  const after = await rows();
  assert.equal(after.map((x) => x.smax), ['1', '1'], 'never more than one connection at once to each');
  const backend = (await r.proc.runtime.showStat()).find((x) => x.pxname === 'app_web' && x.svname === 'BACKEND')!;
  assert.ok(Number(backend.qmax) > 0, 'the others waited in HAProxy\'s queue');
  // The limit lifted: the next model without it clears it, still without a reload.
  assert.ok((await r.ctl.apply(r.model([app('web', [one, two])]))).ok);
  assert.equal((await rows()).map((x) => x.slim), ['', '']);
  assert.is(r.proc.workerPid, pid, 'same worker: no reload happened');
});

t.run();
