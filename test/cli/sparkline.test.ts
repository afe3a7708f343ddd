import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { legendNumber, resample, sparkline, sparklineWithRange } from '../../src/cli/sparkline.js';

const BLOCKS = '▁▂▃▄▅▆▇█';
const level = (ch: string) => BLOCKS.indexOf(ch);

test('all zero: the lowest block everywhere, range 0–0', () => {
  assert.is(sparkline([0, 0, 0, 0]), '▁▁▁▁');
  assert.is(sparklineWithRange([0, 0, 0], 40, 'req/s'), '▁▁▁  0–0 req/s');
});

test('a single value, and a flat series, are at their max: █ over a baseline of 0', () => {
  assert.is(sparkline([7]), '█');
  assert.is(sparklineWithRange([150, 150, 150], 40, 'req/s'), '███  0–150 req/s');
});

test('a rising series gives non-decreasing blocks from ▁ to █', () => {
  const line = sparkline(Array.from({ length: 30 }, (_, i) => i * 3.5), 30);
  assert.is([...line].length, 30);
  const levels = [...line].map(level);
  assert.ok(levels.every((l) => l >= 0), line);
  for (let i = 1; i < levels.length; i++) assert.ok(levels[i]! >= levels[i - 1]!, line);
  assert.is(levels[0], 0);
  assert.is(levels.at(-1), 7);
});

test('the max maps to █, the baseline to ▁, halfway to the middle blocks', () => {
  assert.is(sparkline([0, 76, 152]), '▁▅█');
  assert.is(sparklineWithRange([0, 10, 40, 152, 120, 10], 40, 'req/s'), '▁▁▃█▇▁  0–152 req/s');
});

test('values all far above 0 use their min as the baseline, and the legend says so', () => {
  assert.is(sparklineWithRange([200, 215, 230], 40, 'ms'), '▁▅█  200–230 ms');
  // At or below half the max, the baseline stays 0.
  assert.is(sparklineWithRange([100, 200], 40, 'ms'), '▅█  0–200 ms');
});

test('nulls (and NaN) are spaces; a series of nothing but gaps says no data', () => {
  assert.is(sparkline([0, null, 10, Number.NaN, 5]), '▁ █ ▅');
  assert.is(sparkline([null, null]), '  ');
  assert.is(sparklineWithRange([null, null], 40, 'req/s'), '    no data');
  assert.is(sparklineWithRange([], 40, 'req/s'), 'no data');
  assert.is(sparkline([]), '');
});

test('resampling: a long series becomes `width` columns, the mean of each; a short one is not stretched', () => {
  assert.equal(resample([1, 3, 5, 7, 9, 11], 3), [2, 6, 10]);
  assert.equal(resample([1, null, null, null, 4, 8], 3), [1, null, 6]);
  assert.equal(resample([1, 2], 40), [1, 2]);
  const long = Array.from({ length: 600 }, (_, i) => (i < 300 ? 0 : 100));
  const line = sparkline(long, 40);
  assert.is([...line].length, 40);
  assert.is(line, '▁'.repeat(20) + '█'.repeat(20));
  assert.is([...sparkline(Array.from({ length: 101 }, (_, i) => i), 40)].length, 40);
  assert.is(sparkline([1, 2, 3], 0), '');
});

test('legend numbers are short', () => {
  assert.is(legendNumber(152.4), '152');
  assert.is(legendNumber(12.345), '12.3');
  assert.is(legendNumber(0.012345), '0.0123');
  assert.is(legendNumber(0), '0');
  assert.is(legendNumber(1234.5), '1235');
});

test.run();
