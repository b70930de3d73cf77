/**
 * A histogram drawn from counts already binned (e.g. a streaming histogram: equal-width bins from `lo`),
 * with optional shaded bands (quantile groups) and dashed markers.
 */
import { qualitativePalette, type RGB } from './colormap.ts';
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
  logAxis,
  project,
  STYLE,
  titleBlock,
  type Figure,
  type LegendEntry,
} from './layout.ts';
import type { PlotLayout } from './line-plot.ts';
import { hex, num, SvgDoc } from './svg.ts';

export interface BinnedHistogramOptions {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel?: string;
  /** Left edge of bin 0 and the common bin width (> 0). */
  lo: number;
  width: number;
  /** Counts per bin (at most 10000 bins). */
  counts: ArrayLike<number>;
  /** A log y axis (zero bins are not drawn). */
  logY?: boolean;
  markers?: { x: number; name: string; color?: RGB }[];
  /** Value ranges drawn as alternating light bands behind the bars (e.g. quantile groups). */
  bands?: { lo: number; hi: number }[];
  bandsLabel?: string;
  widthPx?: number;
  heightPx?: number;
}

export function binnedHistogramFigure(o: BinnedHistogramOptions): Figure<PlotLayout> {
  const W = figureSize(o.widthPx, 640, 'width');
  const H = figureSize(o.heightPx, 420, 'height');
  const n = o.counts.length;
  if (!(n >= 1 && n <= 10000)) throw new RangeError(`expected 1 to 10000 bins, found ${n}`);
  if (!(Number.isFinite(o.lo) && o.width > 0 && Number.isFinite(o.width))) throw new RangeError('expected a finite lo and a positive bin width');
  const counts = Array.from(o.counts, (c) => (Number.isFinite(c) && c > 0 ? c : 0));
  const hi = o.lo + n * o.width;
  const markers = (o.markers ?? []).filter((m) => Number.isFinite(m.x)).slice(0, 8);
  const palette = qualitativePalette(Math.max(1, markers.length + 1));
  const X = linearAxis([o.lo, hi, ...markers.map((m) => m.x)]);
  const logY = o.logY === true && counts.some((c) => c > 0);
  const Y = logY ? logAxis(counts.filter((c) => c > 0).concat([0.7])) : linearAxis(counts, true);
  const m = STYLE.margin;
  const tb = titleBlock(o.title, o.subtitle, W - 2 * m);
  const bars: RGB = [0, 114, 178];
  const entries: LegendEntry[] = markers.map((mk, k) => ({ name: mk.name, color: mk.color ?? palette[k + 1], kind: 'dashed' as const }));
  if (o.bands?.length && o.bandsLabel) entries.push({ name: o.bandsLabel, color: [215, 215, 215], kind: 'box' });
  const legend = legendLayout(entries, W - 2 * m);
  const yLabel = o.yLabel ?? 'count';
  const plot = chartArea({ width: W, height: H, title: tb, legend, xLabel: o.xLabel, yLabel, yLabelsWidth: labelsWidth(Y.labels), xLabelsHeight: lineHeight(STYLE.tickSize) + 6 });
  const px = (v: number): number => project(X, v, plot.x, plot.x + plot.width);
  const py = (v: number): number => project(Y, v, plot.y + plot.height, plot.y);
  const doc = new SvgDoc(W, H);
  drawTitle(doc, m, m, tb);
  drawLegend(doc, m, m + tb.height + (tb.height ? 8 : 0), legend);
  (o.bands ?? []).forEach((b, k) => {
    if (!(Number.isFinite(b.lo) && Number.isFinite(b.hi) && b.hi > b.lo)) return;
    const x1 = Math.max(plot.x, px(b.lo));
    const x2 = Math.min(plot.x + plot.width, px(b.hi));
    if (x2 > x1) doc.rect(x1, plot.y, x2 - x1, plot.height, { fill: k % 2 ? '#f2f2f2' : '#e3e3e3' });
  });
  drawYAxis(doc, plot, Y);
  drawXAxis(doc, plot, X, false);
  const base = logY ? plot.y + plot.height : py(0);
  let d = '';
  for (let j = 0; j < n; j++) {
    if (counts[j] <= 0) continue;
    const x1 = px(o.lo + j * o.width);
    const x2 = px(o.lo + (j + 1) * o.width);
    d += `M${num(x1)} ${num(base)}V${num(py(counts[j]))}H${num(x2)}V${num(base)}z`;
  }
  if (d) doc.el('path', { d, fill: hex(bars), 'fill-opacity': 0.8, stroke: hex(bars), 'stroke-width': 0.5 });
  markers.forEach((mk, k) => {
    const x = px(mk.x);
    doc.line(x, plot.y, x, plot.y + plot.height, { stroke: hex(mk.color ?? palette[k + 1]), 'stroke-width': 2, 'stroke-dasharray': '7 4' });
  });
  drawFrame(doc, plot);
  drawAxisTitles(doc, plot, H, o.xLabel, yLabel, m);
  return { svg: doc.toString(), width: W, height: H, layout: { plot, x: X, y: Y } };
}
