import { availableParallelism } from 'node:os';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PleacoError } from '../../src/errors.js';
import { appStats, parseStatCsv, renderConfig, RuntimeApi, slotOf, socketCommand, validateModel, type ProxyApp, type ProxyModel } from '../../src/proxy/index.js';
import { carryDownServers } from '../../src/proxy/serverstate.js';
import { reloadReason, runtimeOps } from '../../src/proxy/controller.js';

const t = suite('proxy config (pure)');
const paths = { dir: '/run/pleaco/proxy', statsSocket: '/run/pleaco/proxy/stats.sock' };
const health = { path: '/up', intervalMs: 1000, rise: 2, fall: 3 };
const srv = (id: string, port: number, state: 'ready' | 'drain' = 'ready') => ({ id, addr: '10.0.0.5', port, state });
const web: ProxyApp = { name: 'web', hosts: ['web.localhost', 'www.example.com'], health, servers: [srv('c1', 3001), srv('c2', 3002, 'drain')] };
const model = (apps: ProxyApp[]): ProxyModel => ({ port: 8080, bindHost: '0.0.0.0', apps });

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.instance(err, PleacoError);
    return (err as PleacoError).code;
  }
  return 'no error';
}

t('renders one frontend routing by host through the map, one backend per app', () => {
  const { config, files } = renderConfig(model([web]), paths, { slotsPerApp: 4 });
  assert.match(config, 'bind 0.0.0.0:8080');
  assert.match(config, 'stats socket /run/pleaco/proxy/stats.sock mode 600 level admin expose-fd listeners');
  assert.match(config, 'use_backend %[req.hdr(host),host_only,lower,map_str(/run/pleaco/proxy/hosts.map)]\n  default_backend pleaco_404\n');
  assert.match(config, /backend pleaco_404\n  http-request set-var\(txn.host\) req.hdr\(host\),host_only,lower\n  http-request return status 404 content-type "text\/html; charset=utf-8" lf-file \/run\/pleaco\/proxy\/404.html/);
  assert.match(config, 'backend app_web\n  balance roundrobin\n  option httpchk GET /up HTTP/1.1\n  http-check send hdr Host web.localhost\n  http-check expect status 200-399\n  default-server inter 1000 rise 2 fall 3');
  assert.match(config, 'errorfile 503 /run/pleaco/proxy/503-web.http');
  assert.match(config, '  server s1 10.0.0.5:3001 check\n  server s2 10.0.0.5:3002 check disabled\n  server-template s 3-4 0.0.0.0:1 check disabled');
  assert.match(config, 'http-reuse safe');
  for (const t of ['timeout connect 1s', 'timeout client 60s', 'timeout server 60s', 'timeout http-request 10s']) assert.match(config, t);
  assert.not.match(config, /\bdaemon\b/);
  assert.is(files['hosts.map'], 'web.localhost app_web\nwww.example.com app_web\n');
  assert.match(files['404.html']!, 'no app is served at %[var(txn.host)]');
  assert.match(files['503-web.http']!, /^HTTP\/1.1 503 Service Unavailable\r\n/);
  assert.match(files['503-web.http']!, 'web has no healthy replica right now');
  const [head, body] = files['503-web.http']!.split('\r\n\r\n');
  assert.match(head!, `Content-Length: ${Buffer.byteLength(body!)}`);
});

t('threads: nbthread as asked, half the cores by default; no request logging (metrics come from stats)', () => {
  assert.match(renderConfig(model([web]), paths, { slotsPerApp: 4, threads: 3 }).config, '\n  nbthread 3\n');
  const { config } = renderConfig(model([web]), paths, { slotsPerApp: 4 });
  assert.match(config, `\n  nbthread ${Math.max(1, Math.floor(availableParallelism() / 2))}\n`);
  // bench-proxy compares against an nginx without access log on the strength of this.
  assert.not.match(config, /^\s*(log|option httplog)\b/m);
});

t('an app that may scale to zero has the activator as its backup server; adding or removing it reloads', () => {
  const zero: ProxyApp = { ...web, activator: { addr: '127.0.0.1', port: 40111 } };
  const { config } = renderConfig(model([zero]), paths, { slotsPerApp: 4 });
  assert.match(config, '\n  server activator 127.0.0.1:40111 backup\n');
  assert.not.match(renderConfig(model([web]), paths, { slotsPerApp: 4 }).config, 'activator');
  assert.is(code(() => validateModel(model([{ ...web, activator: { addr: 'localhost', port: 1 } }]))), 'invalid_config');
  const applied = (m: ProxyModel) => ({ model: m, slots: slotOf(m, { slotsPerApp: 4 }) });
  assert.match(reloadReason(applied(model([web])), applied(model([zero]))) ?? '', /web may scale to zero/);
  assert.is(reloadReason(applied(model([zero])), applied(model([zero]))), null);
});

t('the same model renders the same bytes', () => {
  assert.is(renderConfig(model([web]), paths, { slotsPerApp: 4 }).config, renderConfig(model([{ ...web }]), paths, { slotsPerApp: 4 }).config);
});

t('IPv6 addresses are bracketed; an IPv6 bind uses ipv6@', () => {
  const { config } = renderConfig({ port: 80, bindHost: '::', apps: [{ ...web, servers: [{ id: 'a', addr: '::1', port: 9, state: 'ready' }] }] }, paths, { slotsPerApp: 2 });
  assert.match(config, 'bind ipv6@:::80');
  assert.match(config, 'server s1 [::1]:9 check');
});

t('names are validated before anything is rendered', () => {
  const r = (m: ProxyModel, p = paths) => code(() => renderConfig(m, p, { slotsPerApp: 4 }));
  assert.is(r(model([{ ...web, name: 'Bad_Name' }])), 'invalid_name');
  assert.is(r(model([{ ...web, name: 'web\n  bind :81' }])), 'invalid_name');
  assert.is(r(model([{ ...web, hosts: ['ok.localhost', 'evil host'] }])), 'invalid_name');
  assert.is(r(model([{ ...web, hosts: ['Upper.Localhost'] }])), 'invalid_name');
  assert.is(r(model([{ ...web, hosts: ['a..b'] }])), 'invalid_name');
  assert.is(r(model([{ ...web, hosts: [`${'a'.repeat(64)}.x`] }])), 'invalid_name');
  assert.is(r(model([{ ...web, health: { ...health, path: '/up if TRUE' } }])), 'invalid_config');
  assert.is(r(model([{ ...web, health: { ...health, path: "/x'" } }])), 'invalid_config');
  assert.is(r(model([{ ...web, health: { ...health, path: 'up' } }])), 'invalid_config');
  assert.is(r(model([{ ...web, health: { ...health, rise: 0 } }])), 'invalid_config');
  assert.is(r(model([{ ...web, servers: [{ ...srv('c1', 80), addr: '10.0.0.1 check\n' }] }])), 'invalid_config');
  assert.is(r(model([{ ...web, servers: [{ ...srv('c1', 80), addr: 'db.internal' }] }])), 'invalid_config');
  assert.is(r(model([{ ...web, servers: [srv('c1', 70000)] }])), 'invalid_config');
  assert.is(r(model([{ ...web, servers: [srv('c 1', 80)] }])), 'invalid_name');
  assert.is(r(model([{ ...web, servers: [srv('c1', 80), srv('c1', 81)] }])), 'conflict');
  assert.is(r(model([web, { ...web, name: 'api', hosts: ['web.localhost'] }])), 'conflict');
  assert.is(r(model([web, web])), 'conflict');
  assert.is(r({ port: 8080, bindHost: '0.0.0.0 ssl crt /x', apps: [] }), 'invalid_config');
  assert.is(r(model([web]), { dir: '/tmp/x y', statsSocket: '/tmp/s' }), 'invalid_config');
  assert.is(r(model([web]), { dir: 'relative', statsSocket: '/tmp/s' }), 'invalid_config');
  assert.is(code(() => validateModel(model([web]))), 'no error');
});

t('slots: stable for servers that remain, lowest free slot for new ones, power-of-two growth', () => {
  const a = (ids: string[]): ProxyModel => model([{ ...web, servers: ids.map((id, i) => srv(id, 4000 + i)) }]);
  const s1 = slotOf(a(['c', 'a', 'b']), { slotsPerApp: 4 });
  assert.equal(s1.web, { size: 4, byId: { a: 1, b: 2, c: 3 } });
  const s2 = slotOf(a(['c', 'd']), { prev: s1, slotsPerApp: 4 });
  assert.equal(s2.web, { size: 4, byId: { c: 3, d: 1 } }, 'c stays in s3; d takes the freed s1');
  const s3 = slotOf(a(['c', 'd', 'e', 'f', 'g']), { prev: s2, slotsPerApp: 4 });
  assert.is(s3.web!.size, 8);
  assert.is(s3.web!.byId.c, 3);
  assert.is(s3.web!.byId.d, 1);
  assert.equal(new Set(Object.values(s3.web!.byId)).size, 5);
  assert.is(slotOf(a(['c']), { prev: s3, slotsPerApp: 4 }).web!.size, 8, 'never shrinks while the app exists');
  assert.is(slotOf(a(Array.from({ length: 9 }, (_, i) => `x${i}`)), { slotsPerApp: 4 }).web!.size, 16);
});

t('reload only for shape changes; runtime ops for servers and hosts', () => {
  const m1 = model([{ ...web, servers: [srv('c1', 3001)] }]);
  const a1 = { model: m1, slots: slotOf(m1, { slotsPerApp: 4 }) };
  const m2 = model([{ ...web, hosts: ['web.localhost', 'new.example.com'], servers: [srv('c1', 3001, 'drain'), srv('c3', 3003)] }]);
  const a2 = { model: m2, slots: slotOf(m2, { prev: a1.slots, slotsPerApp: 4 }) };
  assert.is(reloadReason(a1, a2), null);
  assert.equal(runtimeOps(a1, a2), [
    { kind: 'map', host: 'new.example.com', backend: 'app_web' },
    { kind: 'map', host: 'www.example.com', backend: null },
    // The newcomer is up before the old one drains: never a moment with no server in rotation.
    { kind: 'server', backend: 'app_web', server: 's2', update: { addr: '10.0.0.5', port: 3003 } },
    { kind: 'server', backend: 'app_web', server: 's2', update: { state: 'ready', health: 'down' } },
    { kind: 'server', backend: 'app_web', server: 's1', update: { state: 'drain' } },
  ]);
  const m3 = model([{ ...web, servers: [] }]);
  assert.equal(runtimeOps(a1, { model: m3, slots: slotOf(m3, { prev: a1.slots, slotsPerApp: 4 }) }).slice(-2), [
    { kind: 'server', backend: 'app_web', server: 's1', update: { state: 'maint' } },
    { kind: 'server', backend: 'app_web', server: 's1', update: { addr: '0.0.0.0', port: 1 } },
  ]);
  const withApi = model([...m1.apps, { ...web, name: 'api', hosts: ['api.localhost'] }]);
  assert.match(reloadReason(a1, { model: withApi, slots: slotOf(withApi, { prev: a1.slots }) }) ?? '', 'apps added');
  const m4 = model([{ ...web, health: { ...health, path: '/healthz' } }]);
  assert.match(reloadReason(a1, { model: m4, slots: slotOf(m4, { prev: a1.slots }) }) ?? '', 'health');
  const big = model([{ ...web, servers: Array.from({ length: 5 }, (_, i) => srv(`n${i}`, 5000 + i)) }]);
  assert.match(reloadReason(a1, { model: big, slots: slotOf(big, { prev: a1.slots, slotsPerApp: 4 }) }) ?? '', 'more slots');
});

t('a connection limit is rendered on its server and changed at run time; an emptied slot loses it', () => {
  const limited = { ...srv('c1', 3001), maxconn: 9 };
  const m1 = model([{ ...web, servers: [limited, srv('c2', 3002)] }]);
  assert.match(renderConfig(m1, paths, { slotsPerApp: 4 }).config, '  server s1 10.0.0.5:3001 check maxconn 9\n  server s2 10.0.0.5:3002 check\n');
  assert.is(code(() => renderConfig(model([{ ...web, servers: [{ ...limited, maxconn: 0 }] }]), paths, { slotsPerApp: 4 })), 'invalid_config');
  const a1 = { model: m1, slots: slotOf(m1, { slotsPerApp: 4 }) };
  const m2 = model([{ ...web, servers: [{ ...limited, maxconn: 4 }, srv('c2', 3002)] }]);
  assert.equal(runtimeOps(a1, { model: m2, slots: slotOf(m2, { prev: a1.slots, slotsPerApp: 4 }) }), [
    { kind: 'server', backend: 'app_web', server: 's1', update: { maxconn: 4 } },
  ]);
  // c1 leaves: its slot is emptied with no limit, so whoever takes it next gets only its own.
  const m3 = model([{ ...web, servers: [srv('c2', 3002)] }]);
  const a3 = { model: m3, slots: slotOf(m3, { prev: a1.slots, slotsPerApp: 4 }) };
  assert.equal(runtimeOps(a1, a3).slice(-1), [{ kind: 'server', backend: 'app_web', server: 's1', update: { addr: '0.0.0.0', port: 1, maxconn: 0 } }]);
  const m4 = model([{ ...web, servers: [{ ...srv('c3', 3003), maxconn: 2 }, srv('c2', 3002)] }]);
  assert.equal(runtimeOps(a3, { model: m4, slots: slotOf(m4, { prev: a3.slots, slotsPerApp: 4 }) })[0], { kind: 'server', backend: 'app_web', server: 's1', update: { addr: '10.0.0.5', port: 3003, maxconn: 2 } });
});

t('server state carried over a reload: only DOWN servers that keep their slot and address', () => {
  const header = '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port';
  const row = (name: string, addr: string, op: number, admin: number, port: number) => `3 app_web 1 ${name} ${addr} ${op} ${admin} 1 1 7 15 3 3 6 0 0 0 - ${port} - 0 0 - - 0`;
  const text = ['1', header, row('s1', '10.0.0.5', 0, 4, 3001), row('s2', '10.0.0.5', 2, 0, 3002), row('s3', '10.0.0.5', 0, 0, 3003), row('s4', '0.0.0.0', 0, 1, 1)].join('\n') + '\n';
  const enabled = new Map([['app_web/s1', { addr: '10.0.0.5', port: 3001 }], ['app_web/s2', { addr: '10.0.0.5', port: 3002 }], ['app_web/s3', { addr: '10.0.0.5', port: 9999 }]]);
  const out = carryDownServers(text, { enabled });
  assert.equal(out.trim().split('\n'), ['1', header, row('s1', '10.0.0.5', 0, 0, 3001)]);
  assert.is(carryDownServers('garbage', { enabled }), '1\n');
});

t('stats CSV is parsed by column name into per-app numbers', () => {
  const csv = [
    '# pxname,svname,qcur,scur,status,weight,rate,check_status,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,req_tot,rtime,ttime,addr,',
    'pleaco_http,FRONTEND,,3,OPEN,,9,,0,40,0,2,0,0,42,,,,',
    'app_web,s1,0,1,UP,1,4,L7OK,0,20,0,0,1,0,,3,5,127.0.0.1:3001,',
    'app_web,s2,0,0,UP 1/2,1,4,* L7STS,0,19,0,0,0,0,,2,4,127.0.0.1:3002,',
    'app_web,s3,,0,MAINT,1,0,,0,0,0,0,0,0,,0,0,0.0.0.0:1,',
    'app_web,BACKEND,2,1,UP,2,8,,0,39,0,0,1,0,40,3,5,,',
    'other,BACKEND,0,0,UP,1,0,,0,0,0,0,0,0,0,0,0,,',
    '',
  ].join('\n');
  const rows = parseStatCsv(csv);
  assert.is(rows.length, 6);
  const [webStats, ...rest] = appStats(rows);
  assert.is(rest.length, 0, 'only app_* backends');
  assert.equal({ ...webStats!, servers: undefined }, {
    app: 'web', backend: 'app_web', reqRate: 8, reqTotal: 40, inFlight: 1, queue: 2, status: 'UP', servers: undefined,
    codes: { '1xx': 0, '2xx': 39, '3xx': 0, '4xx': 0, '5xx': 1, other: 0 }, avgResponseMs: 3, avgTotalMs: 5,
  });
  assert.equal(webStats!.servers.map((s) => [s.name, s.status, s.checkStatus, s.weight]), [['s1', 'UP', 'L7OK', 1], ['s2', 'UP', 'L7STS', 1], ['s3', 'MAINT', '', 1]]);
  assert.equal(parseStatCsv('no header'), []);
});

t('runtime commands with a newline or ";" are refused before any connection', async () => {
  for (const cmd of ['show info; shutdown sessions', 'show info\nshutdown frontend x', 'show stat\r']) {
    const err = await socketCommand('/nonexistent.sock', cmd).catch((e: unknown) => e);
    assert.instance(err, PleacoError);
    assert.is((err as PleacoError).code, 'bad_request');
  }
  const rt = new RuntimeApi('/nonexistent.sock');
  const refused = async (p: Promise<unknown>) => ((await p.catch((e: unknown) => e)) as PleacoError).code;
  assert.is(await refused(rt.setServer('app_web;', 's1', { state: 'ready' })), 'bad_request');
  assert.is(await refused(rt.setServer('app_web', 's1 state maint', { state: 'ready' })), 'bad_request');
  assert.is(await refused(rt.setServer('app_web', 's1', { addr: '1.2.3.4 port 1', port: 80 })), 'bad_request');
  assert.is(await refused(rt.setMap('/x/hosts.map', 'a.localhost;clear', 'app_web')), 'bad_request');
  assert.is(await refused(rt.delMap('/x/hosts.map', 'a b')), 'bad_request');
  assert.is(await refused(rt.command('show stat')), 'unavailable', 'a valid command reaches the (missing) socket');
});

t.run();
