import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeTimeSeriesPng, type ChartSeries } from '../../bench/chart.js';
import { tempDir } from '../helpers/tmp.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width and height from the IHDR chunk, which the PNG format puts first, right after the signature. */
function ihdr(png: Buffer): { width: number; height: number } {
  assert.is(png.subarray(12, 16).toString('latin1'), 'IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

function synthetic(n: number): { t: number[]; series: ChartSeries[] } {
  const t = Array.from({ length: n }, (_, i) => i * 2);
  const load = t.map((s) => (s < 60 ? 20 : s < 240 ? 150 + 10 * Math.sin(s / 10) : 10));
  const replicas = t.map((s) => (s < 70 ? 1 : s < 90 ? 3 : s < 300 ? 4 : 2));
  const p99 = t.map((s) => (s < 60 ? 12 : s < 90 ? 180 - (s - 60) * 5 : 25 + (s % 7)));
  return {
    t,
    series: [
      { name: 'load', unit: 'req/s', values: load },
      { name: 'replicas', unit: '', values: replicas, step: true },
      { name: 'p99 latency', unit: 'ms', values: p99 },
    ],
  };
}

async function draw(name: string, o: Parameters<typeof writeTimeSeriesPng>[1]): Promise<Buffer> {
  const tmp = tempDir('pleaco-chart-');
  try {
    const path = join(tmp.dir, 'out', name);
    await writeTimeSeriesPng(path, o);
    return readFileSync(path);
  } finally {
    tmp.cleanup();
  }
}

test('three panels: a PNG of the asked size with something drawn in it', async () => {
  const png = await draw('autoscale.png', { title: 'autoscale: a load step', ...synthetic(180), width: 900, height: 700 });
  assert.equal(png.subarray(0, 8), SIGNATURE);
  assert.equal(ihdr(png), { width: 900, height: 700 });
  // A blank 900 x 700 PNG is about 3 KB; three lines, axes and labels take far more.
  assert.ok(png.length > 25_000, `only ${png.length} bytes`);
});

test('default size: 1000 wide, 260 px per panel plus room for the title and the axis', async () => {
  const png = await draw('default.png', { title: 'defaults', ...synthetic(40) });
  assert.equal(ihdr(png), { width: 1000, height: 3 * 260 + 80 });
});

test('nulls are gaps: a series with missing samples, and one with none at all, still render', async () => {
  const { t, series } = synthetic(120);
  const gappy = series.map((s, i) => ({ ...s, values: s.values.map((v, k) => (i === 2 && k >= 40 && k < 60) || k === 0 ? null : v) }));
  const withGaps = await draw('gaps.png', { title: 'gaps', t, series: gappy, width: 800, height: 600 });
  assert.equal(withGaps.subarray(0, 8), SIGNATURE);
  assert.equal(ihdr(withGaps), { width: 800, height: 600 });
  const whole = await draw('whole.png', { title: 'gaps', t, series, width: 800, height: 600 });
  assert.is.not(withGaps.equals(whole), true, 'the gap changed nothing');
  const empty = await draw('empty.png', { title: 'no data yet', t, series: [{ name: 'p99 latency', unit: 'ms', values: t.map(() => null) }], width: 600, height: 300 });
  assert.equal(ihdr(empty), { width: 600, height: 300 });
});

test('a series whose length differs from t is refused', async () => {
  let err: unknown;
  try {
    await draw('bad.png', { title: 'bad', t: [0, 1, 2], series: [{ name: 'load', unit: 'req/s', values: [1, 2] }] });
  } catch (e) {
    err = e;
  }
  assert.match(String(err), /2 values for 3 times/);
});

test.run();
