import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LogShipper } from '../../src/builder/logship.js';
import { AgentLink } from '../../src/link/index.js';
import { createLogger, setLogSink } from '../../src/log.js';

/** A fake of the agent's HTTP end (what AgentLink sends is recorded); the link itself is the real one. */
function client(fail = false) {
  const calls: { path: string; body: string; type: string | undefined }[] = [];
  const transport = {
    async request<T>(_m: string, path: string, o: { rawBody?: string | Buffer; contentType?: string } = {}): Promise<T> {
      if (fail) throw new Error('agent down');
      calls.push({ path, body: String(o.rawBody), type: o.contentType });
      return undefined as T;
    },
  };
  return Object.assign(new AgentLink(transport), { calls });
}

test('batches: 64 lines go at once, fewer after ~100 ms; text/plain, in order', async () => {
  const c = client();
  const s = new LogShipper(c, 'web', 'b1', createLogger());
  for (let i = 0; i < 70; i++) s.line(`line ${i}`);
  await new Promise((r) => setTimeout(r, 10));
  assert.is(c.calls.length, 1);
  assert.is(c.calls[0]!.body.split('\n').length, 65);
  assert.is(c.calls[0]!.path, '/v1/internal/apps/web/builds/b1/log');
  assert.match(c.calls[0]!.type ?? '', /^text\/plain/);
  await new Promise((r) => setTimeout(r, 150));
  assert.is(c.calls.length, 2);
  assert.is(c.calls[1]!.body, ['line 64', 'line 65', 'line 66', 'line 67', 'line 68', 'line 69', ''].join('\n'));
});

test('masks config values and URL credentials; close() flushes', async () => {
  const c = client();
  const s = new LogShipper(c, 'web', 'b2', createLogger());
  s.masker.set(['hunter2-secret', 'abc']);
  s.line('password is hunter2-secret, short abc stays');
  s.line('fetching https://user:tok3n@example.com/repo.git');
  await s.close();
  assert.is(c.calls[0]!.body, 'password is ***, short abc stays\nfetching https://***@example.com/repo.git\n');
});

test('an agent that does not take the log never fails the build: one warning, lines dropped', async () => {
  const lines: string[] = [];
  const restore = setLogSink((l) => lines.push(l));
  const s = new LogShipper(client(true), 'web', 'b3', createLogger());
  s.line('a');
  await s.close();
  s.line('b');
  await s.close();
  restore();
  assert.is(lines.filter((l) => l.includes('could not ship build log lines')).length, 1);
});

test.run();
