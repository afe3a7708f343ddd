/**
 * Terminal sparklines for `pleaco autoscale NAME` (issue #13): a series as block characters ▁▂▃▄▅▆▇█, one per
 * column. Pure. docs/decisions.md, "Autoscaling: the chart".
 *
 * - Columns: a series longer than `width` is resampled to `width` columns, each the mean of the values that fall
 *   in it (nulls skipped); a shorter one is not stretched: one column per value.
 * - Gaps: a null, NaN or infinite value, or a column with none but such values, is a space.
 * - Scale: the lowest block is the baseline, █ the largest column. The baseline is 0, so that heights compare with
 *   nothing (a flat 150 req/s is all █, not all ▁), unless every column is above half the maximum (e.g. a p99
 *   between 200 and 230 ms): then it is the smallest column, so that the variation shows. sparklineWithRange
 *   prints the baseline it chose. Negative values (none of pleaco's series) take the smallest column as baseline.
 */

const BLOCKS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'] as const;

const usable = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

/** `values` in at most `width` columns: the mean of each column's usable values, null when it has none. */
export function resample(values: readonly (number | null)[], width: number): (number | null)[] {
  const n = values.length;
  const cols = Math.max(0, Math.min(n, Math.floor(width)));
  const out: (number | null)[] = [];
  for (let c = 0; c < cols; c++) {
    const bucket = values.slice(Math.floor((c * n) / cols), Math.floor(((c + 1) * n) / cols)).filter(usable);
    out.push(bucket.length ? bucket.reduce((a, b) => a + b, 0) / bucket.length : null);
  }
  return out;
}

/** The baseline and top of the scale for `cols` (see the module's comment); null when there is nothing to draw. */
function range(cols: readonly (number | null)[]): { lo: number; hi: number } | null {
  const xs = cols.filter(usable);
  if (xs.length === 0) return null;
  const min = Math.min(...xs);
  const hi = Math.max(...xs);
  const lo = min >= 0 && (min <= hi / 2 || min === hi) ? 0 : min;
  return { lo, hi };
}

function block(v: number | null, lo: number, hi: number): string {
  if (!usable(v)) return ' ';
  if (hi === lo) return hi === 0 ? BLOCKS[0] : BLOCKS[7];
  const level = Math.round(((v - lo) / (hi - lo)) * (BLOCKS.length - 1));
  return BLOCKS[Math.max(0, Math.min(BLOCKS.length - 1, level))]!;
}

/** `values` as block characters, at most `width` columns, a space for a gap. */
export function sparkline(values: (number | null)[], width = 40): string {
  return draw(values, width).line;
}

function draw(values: readonly (number | null)[], width: number): { line: string; scale: { lo: number; hi: number } | null } {
  const cols = resample(values, width);
  const scale = range(cols);
  return { line: cols.map((v) => (scale ? block(v, scale.lo, scale.hi) : ' ')).join(''), scale };
}

/** A number short enough for a sparkline's legend: 152, 12.3, 0.0123. */
export function legendNumber(v: number): string {
  if (Math.abs(v) >= 100) return String(Math.round(v));
  return String(Number(v.toPrecision(3)));
}

/** The sparkline and its scale, e.g. `▁▁▂▅▇█▇▅▂▁  0–152 req/s`; `no data` when nothing is usable. */
export function sparklineWithRange(values: (number | null)[], width = 40, unit = ''): string {
  const { line, scale } = draw(values, width);
  const legend = scale ? `${legendNumber(scale.lo)}–${legendNumber(scale.hi)}${unit ? ` ${unit}` : ''}` : 'no data';
  return line ? `${line}  ${legend}` : legend;
}
