/**
 * Time-series charts for the benches (issue #13: bench/out/autoscale.png): one panel per series stacked vertically,
 * a shared x axis in seconds, each panel with its own y axis and unit. Vega-Lite describes the chart, Vega renders
 * it to SVG headless (renderer 'none': no canvas, no browser), resvg turns the SVG into a PNG with a system font
 * (DejaVu Sans, Debian's fonts-dejavu-core, which `make deps` installs). docs/decisions.md, "Autoscaling: the chart".
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface ChartSeries {
  name: string;
  /** '' for a count (e.g. replicas): the panel is titled by the name alone. */
  unit: string;
  /** One value per entry of `t`; null is a gap (the line breaks there). */
  values: (number | null)[];
  /** Draw as steps (a value holds until the next one): for counts such as replicas. */
  step?: boolean;
}

export interface TimeSeriesChart {
  title: string;
  /** Seconds since the start, one per sample. */
  t: number[];
  series: ChartSeries[];
  /** Size of the PNG in pixels (default 1000 × 260 per panel + 80). */
  width?: number;
  height?: number;
}

const FONT = 'DejaVu Sans';
/** Where Debian (fonts-dejavu-core) and a few other systems keep it. */
const FONT_FILES = ['/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/TTF/DejaVuSans.ttf', '/usr/share/fonts/dejavu/DejaVuSans.ttf'];
const FONT_BOLD = (f: string) => f.replace('DejaVuSans.ttf', 'DejaVuSans-Bold.ttf');
const COLORS = ['#4c78a8', '#f58518', '#e45756', '#54a24b', '#b279a2', '#72b7b2'];
/** Room the plot areas leave for the title, axes, labels and the space between panels (px, approximate). */
const CHROME = { left: 70, right: 30, top: 50, bottom: 50, perPanel: 48 };

const panelTitle = (s: ChartSeries) => (s.unit ? `${s.name} (${s.unit})` : s.name);

/** Writes the chart of `o` as a PNG at `path` (its folder is created). */
export async function writeTimeSeriesPng(path: string, o: TimeSeriesChart): Promise<void> {
  const png = await renderTimeSeriesPng(o);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, png);
}

/** The chart of `o` as PNG bytes. */
export async function renderTimeSeriesPng(o: TimeSeriesChart): Promise<Buffer> {
  check(o);
  const font = FONT_FILES.find((f) => existsSync(f));
  if (!font) throw new Error(`no ${FONT} font found (${FONT_FILES.join(', ')}): install Debian's fonts-dejavu-core (make deps does)`);
  const width = Math.round(o.width ?? 1000);
  const height = Math.round(o.height ?? 260 * o.series.length + 80);
  // Vega sizes the plot areas, not the picture: a first pass measures what the axes and titles take, a second
  // gives the plots the rest, so that the scaling to exactly width × height below is close to 1.
  const first = estimate(o, width, height);
  const measured = svgSize(await renderSvg(o, first));
  const plot = {
    w: Math.max(100, first.w + width - measured.w),
    h: Math.max(40, first.h + Math.floor((height - TITLE_PX - measured.h) / o.series.length)),
  };
  // The title is drawn here, not by Vega: without a canvas Vega guesses text widths (about 1.4× too wide for
  // DejaVu), and a long title would then shrink every plot to make room for width it does not take.
  const svg = withTitle(await renderSvg(o, Number.isFinite(plot.w + plot.h) ? plot : first), o.title);
  const fontFiles = [font, FONT_BOLD(font)].filter((f) => existsSync(f));
  const resvg = new Resvg(fitTo(svg, width, height), {
    background: 'white',
    font: { loadSystemFonts: false, fontFiles, defaultFontFamily: FONT, sansSerifFamily: FONT },
  });
  return resvg.render().asPng();
}

function check(o: TimeSeriesChart): void {
  if (o.series.length === 0) throw new Error('a chart needs at least one series');
  for (const s of o.series) {
    if (s.values.length !== o.t.length) throw new Error(`series ${s.name}: ${s.values.length} values for ${o.t.length} times`);
  }
}

interface PlotSize { w: number; h: number }

/** A first guess of each panel's plot area from the room the title, axes and labels usually take. */
function estimate(o: TimeSeriesChart, width: number, height: number): PlotSize {
  return {
    w: Math.max(100, width - CHROME.left - CHROME.right),
    h: Math.max(40, Math.floor((height - CHROME.top - CHROME.bottom) / o.series.length) - CHROME.perPanel),
  };
}

function svgSize(svg: string): { w: number; h: number } {
  const open = /<svg\b[^>]*>/.exec(svg)?.[0] ?? '';
  return { w: Number(/\swidth="([\d.]+)"/.exec(open)?.[1] ?? NaN), h: Number(/\sheight="([\d.]+)"/.exec(open)?.[1] ?? NaN) };
}

async function renderSvg(o: TimeSeriesChart, plot: PlotSize): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec(o, plot)).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The Vega-Lite spec: long-format rows {t, panel, v}, one filtered line panel per series, concatenated vertically. */
function spec(o: TimeSeriesChart, plot: PlotSize): TopLevelSpec {
  const n = o.series.length;
  const rows = o.series.flatMap((s, i) => o.t.map((t, k) => ({ t, panel: i, v: finite(s.values[k]) })));
  const finiteT = o.t.filter((t) => Number.isFinite(t));
  const domain = finiteT.length ? [Math.min(...finiteT), Math.max(...finiteT)] : [0, 1];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    background: 'white',
    padding: { left: 10, right: 20, top: 10, bottom: 10 },
    data: { values: rows },
    spacing: 22,
    vconcat: o.series.map((s, i) => panel(s, i, i === n - 1, domain, plot, o.t.length <= 120)),
    resolve: { scale: { x: 'shared', y: 'independent' } },
    config: {
      font: FONT,
      view: { stroke: '#ddd' },
      axis: { labelFontSize: 12, titleFontSize: 13, gridColor: '#eee', domainColor: '#888', tickColor: '#888' },
      title: { subtitleFontSize: 12 },
    },
  };
}

type Panel = Extract<TopLevelSpec, { vconcat: unknown }>['vconcat'][number];

function panel(s: ChartSeries, i: number, last: boolean, domain: number[], plot: PlotSize, points: boolean): Panel {
  const color = COLORS[i % COLORS.length]!;
  const empty = !s.values.some((v) => finite(v) !== null);
  return {
    width: plot.w,
    height: plot.h,
    title: { text: empty ? `${panelTitle(s)}: no data` : panelTitle(s), anchor: 'start', frame: 'group', fontSize: 14, color: '#333', offset: 6 },
    transform: [{ filter: `datum.panel === ${i}` }],
    mark: {
      type: 'line',
      color,
      strokeWidth: 2,
      interpolate: s.step ? 'step-after' : 'linear',
      ...(points ? { point: { filled: true, size: 18, color } } : {}),
    },
    encoding: {
      x: {
        field: 't',
        type: 'quantitative',
        scale: { domain, nice: false, zero: false },
        axis: last ? { title: 'seconds', tickCount: 12 } : { title: null, labels: false, ticks: false, tickCount: 12 },
      },
      y: {
        field: 'v',
        type: 'quantitative',
        scale: empty ? { domain: [0, 1] } : { zero: true, nice: true },
        axis: { title: null, tickCount: 5, ...(s.step ? { tickMinStep: 1, format: 'd' } : {}) },
      },
    },
  };
}

const finite = (v: number | null | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

const TITLE_PX = 40;

/** `svg` with `title` above it, in bold 18 px. */
function withTitle(svg: string, title: string): string {
  const { w, h } = svgSize(svg);
  const open = /<svg\b[^>]*>/.exec(svg)![0];
  const inner = svg.slice(open.length, svg.lastIndexOf('</svg>'));
  const text = title.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" width="${w}" height="${h + TITLE_PX}" viewBox="0 0 ${w} ${h + TITLE_PX}">` +
    `<rect width="${w}" height="${h + TITLE_PX}" fill="white"/><text x="12" y="28" font-family="${FONT}" font-size="18" font-weight="bold" fill="#000">${text}</text>` +
    `<g transform="translate(0,${TITLE_PX})">${inner}</g></svg>`;
}

/** The SVG scaled into exactly `width` × `height` (its viewBox kept, aspect kept, top-centred). */
function fitTo(svg: string, width: number, height: number): string {
  const { w, h } = svgSize(svg);
  return svg.replace(/<svg\b[^>]*>/, (open) => {
    let tag = open.replace(/\s(width|height)="[^"]*"/g, '');
    if (!/\sviewBox=/.test(tag) && w && h) tag = tag.replace('<svg', `<svg viewBox="0 0 ${w} ${h}"`);
    return tag.replace('<svg', `<svg width="${width}" height="${height}" preserveAspectRatio="xMidYMin meet"`);
  });
}
