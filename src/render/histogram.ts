/** Histograms of one or more overlaid distributions (e.g. activations for two stimulus sets). */
import { fraction, qualitativePalette, type RGB } from './colormap.ts';
import {
  chartArea,
  drawAxisTitles,
  drawFrame,
  drawLegend,
  drawTitle,
  drawXAxis,
  drawYAxis,
  figureSize,
  labelsWidth,
  legendLayout,
  lineHeight,
  linearAxis,
  project,
  STYLE,
  titleBlock,
  type Figure,
  type LegendEntry,
} from './layout.ts';
import type { PlotLayout } from './line-plot.ts';
import { hex, num, SvgDoc } from './svg.ts';

export interface HistogramSeries {
  name: string;
  values: ArrayLike<number>;
  color?: RGB;
}

export interface HistogramMarker {
  /** A dashed vertical line at x (e.g. a threshold or a mean), named in the legend. */
  x: number;
  name: string;
  color?: RGB;
}

const MARKER_COLORS: RGB[] = [
  [0, 0, 0],
  [213, 94, 0],
  [0, 114, 178],
  [0, 158, 115],
];

export interface HistogramOptions {
  title: string;
  subtitle?: string;
  xLabel: string;
  /** Default "count" (or "proportion" when normalised). */
  yLabel?: string;
  series: HistogramSeries[];
  /** Number of bins over the range of all finite values (default: 2·n^(1/3), 5 to 100; at most 1000). */
  bins?: number;
  /** Each series' counts divided by its number of finite values. */
  normalize?: boolean;
  markers?: HistogramMarker[];
  width?: number;
  height?: number;
}

export interface HistogramLayout extends PlotLayout {
  /** Bin edges (bins + 1) and, per series, the height of each bin. */
  edges: number[];
  heights: number[][];
}

/** Bin edges over [lo, hi] and the index of each value's bin (shared by the histogram and the effect plot). */
export function binning(lo: number, hi: number, bins: number): { edges: number[]; bin: (v: number) => number } {
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo * (1 - i / bins) + hi * (i / bins)));
  return { edges, bin: (v) => Math.min(bins - 1, Math.max(0, Math.floor(fraction(v, lo, hi) * bins))) };
}

/** The finite range of some arrays, widened when it is a single value; undefined without finite values. */
export function finiteRange(arrays: ArrayLike<number>[]): [number, number] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (!(lo <= hi)) return undefined;
  if (lo === hi) {
    const pad = lo === 0 ? 0.5 : Math.abs(lo) * 0.05;
    return [Math.max(-Number.MAX_VALUE, lo - pad), Math.min(Number.MAX_VALUE, hi + pad)];
  }
  return [lo, hi];
}

export function histogramFigure(o: HistogramOptions): Figure<HistogramLayout> {
  const width = figureSize(o.width, 640, 'width');
  const height = figureSize(o.height, 440, 'height');
  if (!(o.series.length >= 1 && o.series.length <= 16)) throw new RangeError(`expected 1 to 16 series, found ${o.series.length}`);
  if (o.bins !== undefined && !(Number.isInteger(o.bins) && o.bins >= 1 && o.bins <= 1000)) throw new RangeError(`expected bins an integer in [1, 1000], found ${o.bins}`);
  const palette = qualitativePalette(o.series.length);
  const series = o.series.map((s, k) => ({ ...s, color: s.color ?? palette[k] }));
  const markers = (o.markers ?? []).slice(0, 16).map((mk, k) => ({ ...mk, color: mk.color ?? MARKER_COLORS[k % MARKER_COLORS.length] }));

  const range = finiteRange(series.map((s) => s.values)) ?? [0, 1];
  let n = 0;
  for (const s of series) for (let i = 0; i < s.values.length; i++) if (Number.isFinite(s.values[i])) n++;
  const bins = o.bins ?? Math.max(5, Math.min(100, Math.round(2 * Math.cbrt(n))));
  const { edges, bin } = binning(range[0], range[1], bins);
  const heights = series.map((s) => {
    const h = new Array<number>(bins).fill(0);
    let count = 0;
    for (let i = 0; i < s.values.length; i++) {
      if (!Number.isFinite(s.values[i])) continue;
      h[bin(s.values[i])]++;
      count++;
    }
    return o.normalize && count > 0 ? h.map((v) => v / count) : h;
  });

  const X = linearAxis([...range, ...markers.map((mk) => mk.x)]);
  const Y = linearAxis(heights.flat(), true);
  const m = STYLE.margin;
  const tb = titleBlock(o.title, o.subtitle, width - 2 * m);
  const entries: LegendEntry[] = [
    ...(series.length > 1 ? series.map((s) => ({ name: s.name, color: s.color, kind: 'band' as const })) : []),
    ...markers.map((mk) => ({ name: mk.name, color: mk.color, kind: 'dashed' as const })),
  ];
  const legend = legendLayout(entries, width - 2 * m);
  const yLabel = o.yLabel ?? (o.normalize ? 'proportion' : 'count');
  const plot = chartArea({ width, height, title: tb, legend, xLabel: o.xLabel, yLabel, yLabelsWidth: labelsWidth(Y.labels), xLabelsHeight: lineHeight(STYLE.tickSize) + 6 });
  const px = (v: number): number => project(X, v, plot.x, plot.x + plot.width);
  const py = (v: number): number => project(Y, v, plot.y + plot.height, plot.y);

  const doc = new SvgDoc(width, height);
  drawTitle(doc, m, m, tb);
  drawLegend(doc, m, m + tb.height + (tb.height ? 8 : 0), legend);
  drawYAxis(doc, plot, Y);
  drawXAxis(doc, plot, X, false);
  const base = py(0);
  series.forEach((s, k) => {
    const h = heights[k];
    let d = `M${num(px(edges[0]))} ${num(base)}`;
    for (let b = 0; b < bins; b++) d += `V${num(py(h[b]))}H${num(px(edges[b + 1]))}`;
    d += `V${num(base)}`;
    const c = hex(s.color);
    doc.el('path', { d: `${d}z`, fill: c, 'fill-opacity': series.length > 1 ? 0.35 : 0.75, stroke: 'none' });
    doc.el('path', { d, fill: 'none', stroke: c, 'stroke-width': 1.5 });
  });
  for (const mk of markers) {
    if (!Number.isFinite(mk.x)) continue;
    const x = px(mk.x);
    doc.line(x, plot.y, x, plot.y + plot.height, { stroke: hex(mk.color), 'stroke-width': 2, 'stroke-dasharray': '7 4' });
  }
  drawFrame(doc, plot);
  drawAxisTitles(doc, plot, height, o.xLabel, yLabel, m);
  return { svg: doc.toString(), width, height, layout: { plot, x: X, y: Y, edges, heights } };
}
