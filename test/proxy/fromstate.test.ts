import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { SlotStatus } from '../../src/model/index.js';
import type { StateReader } from '../../src/model/index.js';
import { proxyModel, proxyModelOf } from '../../src/proxy/fromstate.js';
import { DEFAULT_HEALTH, validateModel } from '../../src/proxy/index.js';

function view(entries: Record<string, unknown>): StateReader {
  return {
    get: <T>(k: string) => entries[k] as T | undefined,
    list: <T>(prefix: string) => Object.keys(entries).filter((k) => k.startsWith(prefix)).sort().map((key) => ({ key, value: entries[key] as T })),
  };
}

const OPTS = { port: 8080, bindHost: '127.0.0.1', domain: 'localhost', node: 'n1' };
const app = (name: string) => ({ name, repo: 'file:///x', branch: 'main', webhookSecret: 's', createdAt: '2024-01-01T00:00:00Z' });
function slot(app: string, i: number, over: Partial<SlotStatus> = {}): SlotStatus {
  return { app, slot: `${app}#${i}`, node: 'n1', release: 1, containerId: `c${app}${i}`, state: 'running', host: '127.0.0.1', hostPort: 30000 + i, restarts: 0, since: '2024-01-01T00:00:00Z', ...over };
}

const t = suite('proxy/fromstate');

t('no apps: an empty model on the configured bind', () => {
  assert.equal(proxyModel(view({}), OPTS), { port: 8080, bindHost: '127.0.0.1', apps: [] });
});

t('an app whose autoscaling allows zero replicas gets the activator as its backup; others do not', () => {
  const activator = { addr: '127.0.0.1', port: 40111 };
  const m = proxyModel(view({
    'apps/web': app('web'), 'apps/api': app('api'), 'apps/db': app('db'),
    'autoscale/web': { min: 0, max: 3, targetRps: 5, windowS: 60 }, 'autoscale/api': { min: 1, max: 3, targetRps: 5, windowS: 60 },
  }), { ...OPTS, activator });
  assert.equal(m.apps.map((a) => [a.name, a.activator ?? null]), [['api', null], ['db', null], ['web', activator]]);
  assert.equal(proxyModel(view({ 'apps/web': app('web'), 'autoscale/web': { min: 0, max: 3, targetRps: 5, windowS: 60 } }), OPTS).apps[0]!.activator, undefined, 'no activator running: none');
});

t('every app gets its implicit host first, then its own domains (lowercase, sorted); default health', () => {
  const m = proxyModel(view({
    'apps/web': app('web'), 'apps/api': app('api'),
    'domains/www.example.test': { app: 'web', createdAt: 'x' },
    'domains/a.example.test': { app: 'web', createdAt: 'x' },
    'domains/API.Example.Test': { app: 'api', createdAt: 'x' },
    'domains/orphan.example.test': { app: 'gone', createdAt: 'x' },
  }), { ...OPTS, domain: 'Apps.Local' });
  assert.equal(m.apps.map((a) => a.name), ['api', 'web']);
  assert.equal(m.apps[0]!.hosts, ['api.apps.local', 'api.example.test']);
  assert.equal(m.apps[1]!.hosts, ['web.apps.local', 'a.example.test', 'www.example.test']);
  assert.equal(m.apps[1]!.health, DEFAULT_HEALTH);
  validateModel(m);
});

t('a domain that is another app\'s implicit host never steals it; invalid hosts are skipped', () => {
  const m = proxyModel(view({ 'apps/web': app('web'), 'apps/api': app('api'), 'domains/api.localhost': { app: 'web', createdAt: 'x' }, 'domains/bad_host': { app: 'web', createdAt: 'x' } }), OPTS);
  assert.equal(m.apps.find((a) => a.name === 'web')!.hosts, ['web.localhost']);
  validateModel(m);
});

t('health from health/<app>; an invalid one falls back to the default', () => {
  const m = proxyModel(view({ 'apps/web': app('web'), 'apps/api': app('api'), 'health/web': { path: '/up', intervalMs: 500, rise: 1, fall: 2 }, 'health/api': { path: 'no slash', intervalMs: 1, rise: 0, fall: 0 } }), OPTS);
  assert.equal(m.apps.find((a) => a.name === 'web')!.health, { path: '/up', intervalMs: 500, rise: 1, fall: 2 });
  assert.equal(m.apps.find((a) => a.name === 'api')!.health, DEFAULT_HEALTH);
});

t('servers: running slot records with a hostPort, from every node; others are skipped', () => {
  const m = proxyModel(view({
    'apps/web': app('web'),
    'obs/n1/slots/web#1': slot('web', 1),
    'obs/n2/slots/web#2': slot('web', 2, { node: 'n2', host: '10.0.0.2' }),
    'obs/n1/slots/web#3': slot('web', 3, { state: 'starting' }),
    'obs/n1/slots/web#4': slot('web', 4, { state: 'crashed', hostPort: null }),
    'obs/n1/slots/web#5': slot('web', 5, { hostPort: null }),
    'obs/n1/slots/web#6': slot('web', 6, { next: { release: 2, containerId: 'cnext', state: 'running', since: 'x', restarts: 0 }, fallback: { containerId: 'cold', release: 0 } }),
    'obs/n1/slots/gone#1': slot('gone', 1),
    'obs/n1/node': { id: 'n1' },
    'obs/n1/proxy': { port: 1, domain: 'localhost', ok: true, at: 'x' },
  }), OPTS);
  assert.equal(m.apps.length, 1);
  assert.equal(m.apps[0]!.servers, [
    { id: 'cweb1', addr: '127.0.0.1', port: 30001, state: 'ready' },
    { id: 'cweb2', addr: '10.0.0.2', port: 30002, state: 'ready' },
    { id: 'cweb6', addr: '127.0.0.1', port: 30006, state: 'ready' },
  ]);
  validateModel(m);
});

t('a replica published on 0.0.0.0 is reached on loopback only on its own node', () => {
  const m = proxyModel(view({
    'apps/web': app('web'),
    'obs/n1/slots/web#1': slot('web', 1, { host: '0.0.0.0' }),
    'obs/n2/slots/web#2': slot('web', 2, { node: 'n2', host: '0.0.0.0' }),
    'obs/n1/slots/web#3': slot('web', 3, { host: 'not-an-ip' }),
  }), OPTS);
  assert.equal(m.apps[0]!.servers.map((s) => [s.id, s.addr]), [['cweb1', '127.0.0.1']]);
});

t('the same container seen twice is one server', () => {
  const m = proxyModel(view({ 'apps/web': app('web'), 'obs/n1/slots/web#1': slot('web', 1), 'obs/n1/slots/web#2': slot('web', 1) }), OPTS);
  assert.is(m.apps[0]!.servers.length, 1);
  validateModel(m);
});

t('a replica on this node is reached at its bridge address; one on another node at that node\'s published port', () => {
  const m = proxyModel(view({
    'apps/web': app('web'),
    'obs/n1/slots/web#0': slot('web', 0, { ip: '172.17.0.5', port: 5000 }),
    'obs/n2/slots/web#1': slot('web', 1, { node: 'n2', host: '10.0.0.2', ip: '172.17.0.9', port: 5000 }),
    'obs/n1/slots/web#2': slot('web', 2),
  }), OPTS);
  assert.equal(m.apps[0]!.servers.map((s) => `${s.id} ${s.addr}:${s.port}`), ['cweb0 172.17.0.5:5000', 'cweb1 10.0.0.2:30001', 'cweb2 127.0.0.1:30002']);
});

t('invalid records are left out and named; the model of the rest is valid', () => {
  const { model, skipped } = proxyModelOf(view({
    'apps/web': app('web'), 'apps/1abc': app('1abc'), 'apps/a.b': app('a.b'), 'apps/Web': app('Web'),
    'domains/www.example.test': { app: 'web', createdAt: 'x' },
    'domains/WWW.Example.Test': { app: 'api', createdAt: 'x' },
    'domains/x.example.test': 'not a record',
    'health/web': 'garbage',
    'obs/n1/slots/web#1': slot('web', 1),
    'obs/n1/slots/web#2': slot('web', 2, { containerId: 'bad id with spaces' }),
    'obs/n1/slots/a.b#1': slot('a.b', 1),
  }), OPTS);
  assert.equal(model.apps.map((a) => [a.name, a.hosts, a.servers.map((s) => s.id)]), [['web', ['web.localhost', 'www.example.test'], ['cweb1']]]);
  assert.equal(model.apps[0]!.health, DEFAULT_HEALTH);
  assert.equal(skipped.map((r) => r.key), ['apps/1abc', 'apps/Web', 'apps/a.b', 'domains/WWW.Example.Test', 'domains/x.example.test', 'health/web', 'obs/n1/slots/a.b#1', 'obs/n1/slots/web#2']);
  assert.match(skipped.find((r) => r.key === 'domains/WWW.Example.Test')!.reason, 'domains/www.example.test names the same host');
  validateModel(model);
});

t('a replica with a small accept queue gets its share of it among the proxies; a large or unknown queue no limit', () => {
  const state = (proxies: number, backlogs: (number | undefined)[]) => view({
    'apps/web': app('web'),
    ...Object.fromEntries(Array.from({ length: proxies }, (_, i) => [`obs/n${i + 1}/proxy`, { ok: true, port: 8080 }])),
    ...Object.fromEntries(backlogs.map((b, i) => [`obs/n1/slots/web#${i}`, slot('web', i, b === undefined ? {} : { backlog: b })])),
  });
  const limits = (m: ReturnType<typeof proxyModel>) => m.apps[0]!.servers.map((s) => s.maxconn);
  assert.equal(limits(proxyModel(state(1, [9, 5, 127, 128, 511, undefined]), OPTS)), [9, 5, 127, undefined, undefined, undefined]);
  assert.equal(limits(proxyModel(state(3, [9, 5, 2, 0]), OPTS)), [3, 1, 1, 1], 'three proxies share a queue; each keeps at least one');
  assert.equal(limits(proxyModel(state(0, [9]), OPTS)), [9], 'no proxy record yet: this one');
  validateModel(proxyModel(state(2, [9, 1]), OPTS));
});

t('replicas of a node that is not a live member leave routing; their proxy no longer counts for the maxconn share', () => {
  const state = view({
    'apps/web': app('web'),
    'obs/n1/slots/web#0': slot('web', 0, { backlog: 9 }),
    'obs/n2/slots/web#1': slot('web', 1, { node: 'n2', host: '10.0.0.2', containerId: 'cweb1-n2', backlog: 9 }),
    'obs/n1/proxy': { ok: true, port: 8080 },
    'obs/n2/proxy': { ok: true, port: 8080 },
  });
  const all = proxyModel(state, OPTS).apps[0]!.servers;
  assert.equal(all.map((s) => [s.id, s.maxconn]), [['cweb0', 4], ['cweb1-n2', 4]], 'both nodes live: two proxies share each queue');
  const one = proxyModel(state, { ...OPTS, live: (n) => n === 'n1' }).apps[0]!.servers;
  assert.equal(one.map((s) => [s.id, s.maxconn]), [['cweb0', 9]], 'n2 dead: its replica is gone and n1 has the whole queue');
});

t.run();
