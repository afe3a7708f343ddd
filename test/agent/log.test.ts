import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger, setLogSink } from '../../src/log.js';
import { PleacoError, toPleacoError } from '../../src/errors.js';

test('log lines are JSON with secrets and URL credentials masked', () => {
  const lines: string[] = [];
  const restore = setLogSink((l) => lines.push(l));
  try {
    createLogger({ proc: 't' }).info('fetching https://bob:tok3n@git.example.invalid/x.git', { webhookSecret: 'abc123', env: { A: 'v' }, repo: 'https://bob:tok3n@h/x', n: 1 });
  } finally {
    restore();
  }
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.is(rec.proc, 't');
  assert.is(rec.level, 'info');
  assert.is(rec.webhookSecret, '[redacted]');
  assert.is(rec.env, '[redacted]');
  assert.is(rec.n, 1);
  assert.not.match(lines[0]!, /tok3n|abc123/);
});

test('errors: 4xx and 503 are exposed, other 5xx stay generic', () => {
  assert.equal(new PleacoError('not_found', 'no app named x').toJSON(), { error: { code: 'not_found', message: 'no app named x' } });
  assert.equal(new PleacoError('docker_unavailable', 'Docker down').toJSON().error.code, 'docker_unavailable');
  assert.equal(toPleacoError(new Error('ENOSPC at /var/lib/secret/path')).toJSON(), { error: { code: 'internal', message: 'internal error' } });
  assert.is(toPleacoError(new Error('x')).status, 500);
});

test.run();
