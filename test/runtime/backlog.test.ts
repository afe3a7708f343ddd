/** Pure: reading a listener's accept queue out of `ss -Hltn` output (the real read is in runtime/docker.test). */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseListenBacklog } from '../../src/runtime/backlog.js';

const t = suite('runtime/backlog');

t('the backlog (Send-Q) of the listener on the port; the largest of its IPv4 and IPv6 sockets', () => {
  const out = [
    'LISTEN 0      9            0.0.0.0:5000       0.0.0.0:*',
    'LISTEN 3      511             [::]:5000          [::]:*',
    'LISTEN 0      4096       127.0.0.1:50000     0.0.0.0:*',
    '',
  ].join('\n');
  assert.is(parseListenBacklog(out, 5000), 511);
  assert.is(parseListenBacklog(out, 50000), 4096, 'the port must match whole, not as a prefix');
  assert.is(parseListenBacklog(out, 500), null);
});

t('nothing listening, or output that is not ss\'s: null', () => {
  assert.is(parseListenBacklog('', 5000), null);
  assert.is(parseListenBacklog('ESTAB 0 0 10.0.0.1:5000 10.0.0.2:4000\n', 5000), null);
  assert.is(parseListenBacklog('LISTEN x y *:5000 *:*\n', 5000), null);
  assert.is(parseListenBacklog('LISTEN 0 5 *:5000 *:*\n', 5000), 5);
});

t.run();
