/**
 * What an unauthenticated client can make the agent hold through the webhook route, over real HTTP connections:
 * bodies in flight and their total size are bounded (503 with Retry-After beyond), a slow body is cut off, and
 * the signature is checked over the raw bytes before any JSON is parsed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { signGithubPayload } from '../../src/source/index.js';
import { raw, startTestAgent, type TestAgent } from '../helpers/agent.js';

const l = suite<{ a: TestAgent; port: number }>('webhook bodies before authentication are bounded');

l.before(async (ctx) => {
  ctx.a = await startTestAgent();
  ctx.port = Number(new URL(ctx.a.url).port);
  await ctx.a.client.request('POST', '/v1/apps', { body: { name: 'web', repo: 'https://github.com/acme/web.git' } });
});
l.after(async (ctx) => ctx.a.close());

interface Held {
  req: ClientRequest;
  /** Settles with the response, or with the error that closed the connection. */
  done: Promise<IncomingMessage | Error>;
}

/** Starts a webhook POST declaring `length` bytes and sends only `sent` of them (the rest never comes). */
function hold(port: number, length: number, sent: number): Held {
  const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/hooks/github', agent: false, headers: { 'content-type': 'application/json', 'content-length': String(length), 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` } });
  const done = new Promise<IncomingMessage | Error>((resolve) => {
    req.on('response', (res) => {
      res.resume();
      resolve(res);
    });
    req.on('error', (err) => resolve(err));
  });
  req.flushHeaders();
  if (sent > 0) req.write(Buffer.alloc(sent, 0x20));
  return { req, done };
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

l('past 16 unauthenticated bodies in flight, the next is refused with 503 and Retry-After; freed slots serve again', async ({ a, port }) => {
  const held = Array.from({ length: 16 }, () => hold(port, 1000, 10));
  await settle(500); // the agent has started reading all of them
  const r = await raw(a.url, 'POST', '/v1/hooks/github', { headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` }, body: '{}' });
  for (const h of held) h.req.destroy();
  assert.is(r.status, 503, `the 17th body is refused (got ${r.status} ${r.text})`);
  assert.ok(Number(r.headers.get('retry-after')) >= 1, 'a Retry-After header says when to come back');
  let after = 503;
  for (const end = Date.now() + 10_000; after === 503 && Date.now() < end; await settle(100)) {
    after = (await raw(a.url, 'POST', '/v1/hooks/github', { headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` }, body: '{}' })).status;
  }
  assert.is(after, 401, 'once the held bodies are gone, a request is served (and refused for its signature)');
});

l('bodies whose declared sizes exceed the total budget are refused with 503 at once', async ({ port }) => {
  const big = 5 * 1024 * 1024 - 1;
  const first = hold(port, big, 1024);
  await settle(300);
  const second = hold(port, big, 1024);
  const res = await Promise.race([second.done, settle(5000).then(() => new Error('no answer within 5 s'))]);
  first.req.destroy();
  second.req.destroy();
  assert.ok(!(res instanceof Error), `the second big body is answered at once (${res instanceof Error ? res.message : ''})`);
  assert.is(res.statusCode, 503);
});

l('a body that does not arrive in time is cut off well before the 30 s of an authenticated request', async ({ port }) => {
  const started = Date.now();
  const slow = hold(port, 100, 10);
  const res = await Promise.race([slow.done, settle(20_000).then(() => 'still open' as const)]);
  slow.req.destroy();
  assert.ok(res !== 'still open', 'the connection was answered or closed within 20 s');
  if (!(res instanceof Error)) assert.is(res.statusCode, 408);
  assert.ok(Date.now() - started < 20_000);
});

l('the signature is checked over the raw bytes first: a forged body is 401 whatever it holds', async ({ a }) => {
  const bodies = ['{not json', '['.repeat(100_000), JSON.stringify({ ref: 12, after: [1e308] })];
  for (const body of bodies) {
    const r = await raw(a.url, 'POST', '/v1/hooks/github', { headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': signGithubPayload('forged', body) }, body });
    assert.is(r.status, 401, `${body.slice(0, 20)}: ${r.status} ${r.text.slice(0, 200)}`);
  }
});

l.run();
