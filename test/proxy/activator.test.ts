/**
 * The activator (proxy/activator.ts) on real HTTP: it holds a request for an app with no running replica, asks the
 * agent once to wake it, forwards the request (method, path, headers, body) to the first replica whose record says
 * it runs, and streams its answer back; its bounds answer 404, 413 and 503 with Retry-After. The state view is the
 * runtime tests' in-memory FAKE; the "replica" is a plain Node HTTP server standing in for an app container.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { keys, type SlotStatus } from '../../src/model/index.js';
import { Activator, MAX_BODY_BYTES } from '../../src/proxy/index.js';
import { createLogger } from '../../src/log.js';
import { MemoryStateView } from '../runtime/_memory-state.js';

const view = new MemoryStateView();
const asked: string[] = [];
let at: { addr: string; port: number };
let activator: Activator;
let replica: http.Server;
let replicaPort = 0;
const seen: { method?: string; url?: string; body: string; host?: string }[] = [];

function request(o: { host: string; method?: string; path?: string; body?: Buffer | string }): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: at.addr, port: at.port, method: o.method ?? 'GET', path: o.path ?? '/', headers: { host: o.host } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

test.before(async () => {
  replica = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, body, host: req.headers.host });
      res.writeHead(201, { 'x-app': 'web' }).end(`hello from the replica: ${req.method} ${req.url} ${body}`);
    });
  });
  await new Promise<void>((r) => replica.listen(0, '127.0.0.1', () => r()));
  replicaPort = (replica.address() as AddressInfo).port;
  view.set(keys.current('web'), { release: 3 });
  activator = new Activator({
    view, appOfHost: (h) => (h === 'web.localhost' ? 'web' : null), live: () => true, log: createLogger({ proc: 'test' }), holdMs: 1500,
    link: { activate: async (app) => (asked.push(app), { replicas: 1 }) },
  });
  at = await activator.listen();
});

test.after(async () => {
  await activator.close();
  await new Promise((r) => replica.close(r));
});

test('a host no app has: 404 at once', async () => {
  const r = await request({ host: 'nope.localhost' });
  assert.is(r.status, 404);
});

test('no replica up: the request is held, the app woken once, then forwarded to the first running replica with its body', async () => {
  const pending = request({ host: 'web.localhost:8080', method: 'POST', path: '/orders?x=1', body: 'item=42' });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(asked, ['web'], 'the agent was asked to wake the app');
  const rec: Partial<SlotStatus> = { app: 'web', slot: 'web#0', node: 'n1', release: 3, state: 'running', host: '127.0.0.1', hostPort: replicaPort, containerId: 'c0' };
  view.set(keys.slot('n1', 'web', 0), rec);
  const r = await pending;
  assert.is(r.status, 201);
  assert.is(r.headers['x-app'], 'web');
  assert.is(r.body, 'hello from the replica: POST /orders?x=1 item=42');
  assert.equal(seen.at(-1), { method: 'POST', url: '/orders?x=1', body: 'item=42', host: 'web.localhost:8080' });
  view.set(keys.slot('n1', 'web', 0), null);
});

test('a body over the bound: 413; no replica within the hold time: 503 with Retry-After', async () => {
  const big = await request({ host: 'web.localhost', method: 'POST', body: Buffer.alloc(MAX_BODY_BYTES + 1) });
  assert.is(big.status, 413);
  const t0 = Date.now();
  const late = await request({ host: 'web.localhost' });
  assert.is(late.status, 503);
  assert.ok(late.headers['retry-after'], 'says when to try again');
  assert.ok(Date.now() - t0 >= 1400, 'held for the hold time first');
  assert.match(late.body, /did not start within 2 s/);
});

test.run();
