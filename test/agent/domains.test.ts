/** The pure parts of routing: host names, health checks, metrics totals and the Prometheus text. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { escapeLabel, prometheusText } from '../../src/api/prometheus.js';
import { normalizeHost, parseAppMetrics, totalMetrics, validateHealthcheck, DEFAULT_HEALTHCHECK, type AppMetrics } from '../../src/model/index.js';
import { PleacoError } from '../../src/errors.js';

function throws(fn: () => unknown, re: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, PleacoError);
    assert.is((err as PleacoError).status, 400);
    assert.match((err as PleacoError).message, re);
    return;
  }
  assert.unreachable('accepted');
}

test('hosts: lowercased; labels 1-63 of [a-z0-9-]; two labels at least; 253 at most', () => {
  assert.is(normalizeHost('WWW.Example.COM'), 'www.example.com');
  assert.is(normalizeHost('a-b.c0.io'), 'a-b.c0.io');
  assert.is(normalizeHost(`${'a'.repeat(63)}.com`), `${'a'.repeat(63)}.com`);
  const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
  assert.is(normalizeHost(long).length, 253);
  throws(() => normalizeHost(long + 'x'), /at most 253/);
  throws(() => normalizeHost('*.example.com'), /wildcard/);
  throws(() => normalizeHost('localhost'), /with a dot/);
  throws(() => normalizeHost('1.2.3.4'), /IP address/);
  throws(() => normalizeHost('ex ample.com'), /label "ex ample"/);
  throws(() => normalizeHost('xn--é.com'), /label/);
});

test('health check: defaults fill what is left out; limits', () => {
  assert.equal(validateHealthcheck({}), DEFAULT_HEALTHCHECK);
  assert.equal(validateHealthcheck({ path: '/up', intervalMs: 500, rise: 10, fall: 1 }), { path: '/up', intervalMs: 500, rise: 10, fall: 1, deadlineMs: 60_000 });
  assert.equal(validateHealthcheck({ path: '/up', deadlineMs: 5000 }).deadlineMs, 5000);
  assert.throws(() => validateHealthcheck({ path: '/', deadlineMs: 999 }), /deadlineMs must be an integer from 1000 to 3600000/);
  assert.equal(validateHealthcheck({ intervalMs: 60_000 }).intervalMs, 60_000);
  throws(() => validateHealthcheck(null), /must be an object/);
  throws(() => validateHealthcheck([]), /must be an object/);
  throws(() => validateHealthcheck({ path: '/a\tb' }), /spaces or control/);
  throws(() => validateHealthcheck({ path: '/a#b' }), /may only contain/);
  throws(() => validateHealthcheck({ path: '/a;b' }), /may only contain/);
});

const m = (over: Partial<AppMetrics>): AppMetrics => ({ app: 'web', node: 'n', at: '2025-03-01T12:00:00.000Z', reqRate: 0, reqTotal: 0, inFlight: 0, queue: 0, codes: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 }, avgResponseMs: 0, avgTotalMs: 0, ...over });

test('totals: sums; the average response time weighted by rate, or by totals when idle', () => {
  assert.is(totalMetrics([m({ reqRate: 1, avgResponseMs: 10 }), m({ reqRate: 3, avgResponseMs: 2 })]).avgResponseMs, 4);
  assert.is(totalMetrics([m({ reqTotal: 1, avgResponseMs: 10 }), m({ reqTotal: 1, avgResponseMs: 2 })]).avgResponseMs, 6);
  assert.is(totalMetrics([m({ avgResponseMs: 10 })]).avgResponseMs, 0, 'no requests at all');
  assert.is(totalMetrics([]).reqRate, 0);
});

test('parseAppMetrics: missing code classes count 0; other numbers are required', () => {
  const v = { ...m({ node: 'n1', reqRate: 2 }), codes: { '2xx': 5 } };
  assert.equal(parseAppMetrics('metrics/n1/web', v).codes, { '1xx': 0, '2xx': 5, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 });
  const { queue: _q, ...noQueue } = m({ node: 'n1' });
  throws(() => parseAppMetrics('metrics/n1/web', noQueue), /queue must be a number/);
  throws(() => parseAppMetrics('metrics/n1/Web', m({ node: 'n1', app: 'Web' })), /metrics\/<node>\/<app>/);
  throws(() => parseAppMetrics('metrics/n1/web', { ...m({ node: 'n1' }), at: 'yesterday' }), /at must be an ISO time/);
});

test('prometheus text: label values escaped; HELP and TYPE even with no samples', () => {
  assert.is(escapeLabel('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  const text = prometheusText([m({ node: 'n"1\\x\ny', reqRate: 2.5 })]);
  assert.ok(text.includes('pleaco_app_requests_per_second{app="web",node="n\\"1\\\\x\\ny"} 2.5\n'), text);
  const empty = prometheusText([]).split('\n');
  assert.is(empty.length, 11);
  assert.is(empty[1], '# TYPE pleaco_app_requests_per_second gauge');
});

test.run();
