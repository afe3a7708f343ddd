import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bytes, columns, duration, header, keyValues, list, paint, relativeTime, table, width } from '../../src/cli/format.js';
import { formatLogLine } from '../../src/cli/commands/logs.js';

test('table: aligned columns, upper-case headers, empty cells, no trailing spaces', () => {
  const lines = table(['name', 'release', 'url'], [
    ['web', 'v3', 'http://web.local'],
    ['api-server', null, undefined],
  ]);
  assert.equal(lines, ['NAME        RELEASE  URL', 'web         v3       http://web.local', 'api-server']);
});

test('table: width ignores colour escapes', () => {
  const red = paint(true, 'red', 'crashed');
  assert.is(width(red), 7);
  const lines = table(['state', 'n'], [[red, 1], ['up', 2]]);
  assert.is(lines[2], 'up       2');
  assert.is(lines[1], `${red}  1`);
});

test('columns, header and keyValues', () => {
  assert.equal(columns([['a', 'first'], ['abc', 'second']]), ['  a    first', '  abc  second']);
  assert.is(header('web'), '=== web');
  assert.equal(keyValues([['Repo', 'r'], ['Last build', 'b'], ['Skipped', undefined]]), ['Repo:       r', 'Last build: b']);
});

test('paint only when colour is on', () => {
  assert.is(paint(false, 'green', 'ok'), 'ok');
  assert.is(paint(true, 'green', 'ok'), '\u001b[32mok\u001b[39m');
});

test('durations', () => {
  assert.is(duration(850), '850ms');
  assert.is(duration(4200), '4.2s');
  assert.is(duration(42_000), '42s');
  assert.is(duration(65_000), '1m 05s');
  assert.is(duration(2 * 3600_000 + 3 * 60_000), '2h 03m');
  assert.is(duration(3 * 86_400_000 + 4 * 3600_000), '3d 04h');
  assert.is(duration(-1), '-');
});

test('relative times, past and future', () => {
  const now = Date.parse('2025-03-01T12:00:00Z');
  const at = (ms: number) => new Date(now - ms).toISOString();
  assert.is(relativeTime(at(3000), now), 'just now');
  assert.is(relativeTime(at(60_000), now), '1 minute ago');
  assert.is(relativeTime(at(5 * 60_000), now), '5 minutes ago');
  assert.is(relativeTime(at(2 * 3600_000), now), '2 hours ago');
  assert.is(relativeTime(at(3 * 86_400_000), now), '3 days ago');
  assert.is(relativeTime(at(-30_000), now), 'in 30 seconds');
  assert.is(relativeTime(undefined, now), '-');
  assert.is(relativeTime('not a date', now), 'not a date');
});

test('bytes and lists', () => {
  assert.is(bytes(512), '512 B');
  assert.is(bytes(8 * 1024 ** 3), '8.0 GiB');
  assert.is(bytes(16 * 1024 ** 3), '16 GiB');
  assert.is(list(['A']), 'A');
  assert.is(list(['A', 'B', 'C']), 'A, B and C');
});

test('log lines: `web#0 v3 | line`', () => {
  assert.is(formatLogLine({ slot: 'web#0', release: 3, stream: 'stdout', line: 'listening on 5000\n' }), 'web#0 v3 | listening on 5000');
  assert.is(formatLogLine({ slot: 'web#1', release: 4, stream: 'stderr', line: 'oops' }), 'web#1 v4 | oops');
});

test.run();
