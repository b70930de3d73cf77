/** What every figure shares: style constants, the title block, the legend strip, axes and their ticks. */
import { fraction, type RGB } from './colormap.ts';
import { textWidth } from './font.ts';
import { hex, type SvgDoc } from './svg.ts';
import { wrap, truncate } from './text.ts';
import { formatTick, logTicks, niceTicks } from './ticks.ts';

export const STYLE = {
  margin: 16,
  titleSize: 15,
  textSize: 13,
  tickSize: 12,
  ink: '#191919',
  muted: '#5f5f5f',
  frame: '#464646',
  grid: '#e4e4e4',
};

/** Line height and baseline offset (from the line's top) of text at `size` px. */
export const lineHeight = (size: number): number => Math.ceil(size * 1.3);
export const baseline = (size: number): number => Math.round(size * 0.95);

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A drawn figure: the SVG document and where its parts are. */
export interface Figure<L> {
  svg: string;
  width: number;
  height: number;
  /** Where things are, in px (for callers and tests). */
  layout: L;
}

export interface TitleBlock {
  lines: string[];
  sublines: string[];
  height: number;
}

/** The title (bold, up to 3 lines) and subtitle (up to 2 lines) wrapped to `width`. */
export function titleBlock(title: string, subtitle: string | undefined, width: number): TitleBlock {
  const lines = title ? wrap(title, width, STYLE.titleSize, 'bold', 3) : [];
  const sublines = subtitle ? wrap(subtitle, width, STYLE.textSize, 'normal', 2) : [];
  return { lines, sublines, height: lines.length * lineHeight(STYLE.titleSize) + sublines.length * lineHeight(STYLE.textSize) };
}

export function drawTitle(doc: SvgDoc, x: number, y: number, tb: TitleBlock): void {
  for (const l of tb.lines) {
    doc.text(x, y + baseline(STYLE.titleSize), l, { size: STYLE.titleSize, weight: 'bold' });
    y += lineHeight(STYLE.titleSize);
  }
  for (const l of tb.sublines) {
    doc.text(x, y + baseline(STYLE.textSize), l, { size: STYLE.textSize, fill: STYLE.muted });
    y += lineHeight(STYLE.textSize);
  }
}

export type SwatchKind = 'line' | 'dashed' | 'band' | 'box' | 'dot' | 'marker';

export interface LegendEntry {
  name: string;
  color: RGB;
  kind: SwatchKind;
}

export interface LegendLayout {
  items: { entry: LegendEntry; x: number; row: number; label: string }[];
  height: number;
}

const SWATCH = 26;
const LEGEND_GAP = 18;

/** Legend entries laid out left to right in rows no wider than `width`. */
export function legendLayout(entries: LegendEntry[], width: number): LegendLayout {
  const items: LegendLayout['items'] = [];
  let x = 0;
  let row = 0;
  for (const entry of entries) {
    const label = truncate(entry.name, Math.max(40, Math.min(220, width - SWATCH - 6)), STYLE.tickSize);
    const w = SWATCH + 6 + textWidth(label, STYLE.tickSize);
    if (x > 0 && x + w > width) {
      row++;
      x = 0;
    }
    items.push({ entry, x, row, label });
    x += w + LEGEND_GAP;
  }
  return { items, height: items.length ? (row + 1) * lineHeight(STYLE.textSize) : 0 };
}

/** A swatch of `kind` centred vertically at `cy`, from `x` to `x + w`. */
function drawSwatch(doc: SvgDoc, x: number, cy: number, w: number, color: RGB, kind: SwatchKind): void {
  const c = hex(color);
  switch (kind) {
    case 'line':
    case 'dashed':
      doc.line(x, cy, x + w, cy, { stroke: c, 'stroke-width': 2, 'stroke-dasharray': kind === 'dashed' ? '7 4' : undefined });
      break;
    case 'band':
      doc.rect(x, cy - 5, w, 10, { fill: c, 'fill-opacity': 0.22 });
      break;
    case 'box':
      doc.rect(x + w / 2 - 6, cy - 6, 12, 12, { fill: c, stroke: STYLE.frame, 'stroke-width': 0.5 });
      break;
    case 'dot':
      doc.el('circle', { cx: x + w / 2, cy, r: 3.5, fill: c, 'fill-opacity': 0.6 });
      break;
    case 'marker':
      doc.line(x + w / 2, cy - 7, x + w / 2, cy + 7, { stroke: c, 'stroke-width': 3 });
      break;
  }
}

export function drawLegend(doc: SvgDoc, x: number, y: number, lg: LegendLayout): void {
  const lh = lineHeight(STYLE.textSize);
  for (const it of lg.items) {
    const top = y + it.row * lh;
    drawSwatch(doc, x + it.x, top + lh / 2, SWATCH, it.entry.color, it.entry.kind);
    doc.text(x + it.x + SWATCH + 6, top + baseline(STYLE.tickSize) + 1, it.label, { size: STYLE.tickSize });
  }
}

/** A numeric axis: its range, ticks and their labels. */
export interface Axis {
  lo: number;
  hi: number;
  log: boolean;
  ticks: number[];
  labels: string[];
}

const MAX = Number.MAX_VALUE;
const clamp = (v: number): number => (v > MAX ? MAX : v < -MAX ? -MAX : v);

/**
 * A linear axis covering the finite `values` (and 0 if `includeZero`), extended to whole tick steps;
 * 0…1 when there are none.
 */
export function linearAxis(values: Iterable<number>, includeZero = false, maxTicks = 9): Axis {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (includeZero) {
    lo = Math.min(lo, 0);
    hi = Math.max(hi, 0);
  }
  if (!(lo <= hi)) [lo, hi] = [0, 1];
  if (lo === hi) {
    const pad = Math.abs(lo) > 1e-200 ? Math.abs(lo) * 0.1 : 1;
    [lo, hi] = [clamp(lo - pad), clamp(hi + pad)];
  }
  const nice = niceTicks(lo, hi, 3, maxTicks, 6);
  const { step } = nice;
  const a = clamp(Math.floor(lo / step + 1e-9) * step);
  const b = clamp(Math.ceil(hi / step - 1e-9) * step);
  const k0 = Math.ceil(a / step - 1e-9);
  const k1 = Math.floor(b / step + 1e-9);
  let ticks: number[] = [];
  const n = k1 - k0;
  if (n <= maxTicks + 2) {
    // Count by i, not k: beyond 2^53, k + 1 === k and a loop over k would never end.
    for (let i = 0; i <= n; i++) {
      const t = Number(((k0 + i) * step).toPrecision(12)) || 0;
      if (Number.isFinite(t) && (!ticks.length || t > ticks[ticks.length - 1])) ticks.push(t);
    }
  }
  if (ticks.length < 2) {
    ticks = nice.ticks;
    return { lo, hi, log: false, ticks, labels: ticks.map((t) => formatTick(t, step)) };
  }
  return { lo: Math.min(lo, a, ticks[0]), hi: Math.max(hi, b, ticks[ticks.length - 1]), log: false, ticks, labels: ticks.map((t) => formatTick(t, step)) };
}

/** A log10 axis over the positive finite `values`; 1…10 when there are none. */
export function logAxis(values: Iterable<number>, maxTicks = 8): Axis {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!(v > 0 && v < Infinity)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(lo <= hi)) [lo, hi] = [1, 10];
  if (lo === hi) [lo, hi] = [lo / 2, Math.min(MAX, hi * 2)];
  const ticks = logTicks(lo, hi, maxTicks);
  return { lo, hi, log: true, ticks, labels: ticks.map((t) => formatTick(t, t)) };
}

/** Position of `v` along an axis mapped onto [p0, p1] (NaN for values a log axis cannot show). */
export function project(ax: Axis, v: number, p0: number, p1: number): number {
  const f = ax.log ? (v > 0 ? fraction(Math.log10(v), Math.log10(ax.lo), Math.log10(ax.hi)) : NaN) : fraction(v, ax.lo, ax.hi);
  return p0 + f * (p1 - p0);
}

/** Width of the widest tick label of `ax`. */
export const labelsWidth = (labels: string[]): number => Math.max(0, ...labels.map((l) => textWidth(l, STYLE.tickSize)));

/** Horizontal grid lines, tick marks and labels of a y axis at the left of `plot`. */
export function drawYAxis(doc: SvgDoc, plot: Rect, ax: Axis, grid = true): void {
  ax.ticks.forEach((t, i) => {
    const y = Math.round(project(ax, t, plot.y + plot.height, plot.y)) + 0.5;
    if (grid) doc.line(plot.x, y, plot.x + plot.width, y, { stroke: STYLE.grid });
    doc.line(plot.x - 5, y, plot.x, y, { stroke: STYLE.frame });
    doc.text(plot.x - 8, y + STYLE.tickSize * 0.36, ax.labels[i], { size: STYLE.tickSize, anchor: 'end' });
  });
}

/** Vertical grid lines, tick marks and labels of an x axis below `plot`. */
export function drawXAxis(doc: SvgDoc, plot: Rect, ax: Axis, grid = true): void {
  const bottom = plot.y + plot.height;
  ax.ticks.forEach((t, i) => {
    const x = Math.round(project(ax, t, plot.x, plot.x + plot.width)) + 0.5;
    if (grid) doc.line(x, plot.y, x, bottom, { stroke: STYLE.grid });
    doc.line(x, bottom, x, bottom + 5, { stroke: STYLE.frame });
    doc.text(x, bottom + 8 + baseline(STYLE.tickSize), ax.labels[i], { size: STYLE.tickSize, anchor: 'middle' });
  });
}

export function drawFrame(doc: SvgDoc, r: Rect): void {
  doc.rect(r.x - 0.5, r.y - 0.5, r.width + 1, r.height + 1, { fill: 'none', stroke: STYLE.frame });
}

/** An axis title: centred below the plot (x) or rotated at the left edge of the figure (y). */
export function drawAxisTitles(doc: SvgDoc, plot: Rect, figureHeight: number, xLabel: string | undefined, yLabel: string | undefined, leftEdge: number): void {
  if (xLabel) {
    doc.text(plot.x + plot.width / 2, figureHeight - STYLE.margin - Math.round(STYLE.textSize * 0.3), truncate(xLabel, plot.width, STYLE.textSize), {
      size: STYLE.textSize,
      anchor: 'middle',
    });
  }
  if (yLabel) {
    const x = leftEdge + baseline(STYLE.textSize);
    const y = plot.y + plot.height / 2;
    doc.text(x, y, truncate(yLabel, plot.height, STYLE.textSize), { size: STYLE.textSize, anchor: 'middle', rotate: -90 });
  }
}

/** Space an axis title takes (one line of text plus a gap), or 0 without one. */
export const axisTitleSpace = (label: string | undefined): number => (label ? lineHeight(STYLE.textSize) + 4 : 0);

/**
 * The common chart scaffold: title block, legend strip, then a plot area leaving room for y tick labels
 * (`yLabelsWidth`) and x tick labels (`xLabelsHeight`) and axis titles.
 */
export function chartArea(o: {
  width: number;
  height: number;
  title: TitleBlock;
  legend: LegendLayout;
  xLabel?: string;
  yLabel?: string;
  yLabelsWidth: number;
  xLabelsHeight: number;
  rightPad?: number;
}): Rect {
  const m = STYLE.margin;
  const top = m + o.title.height + (o.title.height ? 8 : 0) + o.legend.height + (o.legend.height ? 8 : 0) + 6;
  const left = m + axisTitleSpace(o.yLabel) + o.yLabelsWidth + 10;
  const bottom = o.height - m - axisTitleSpace(o.xLabel) - o.xLabelsHeight - 8;
  const right = o.width - m - (o.rightPad ?? 12);
  const plot = { x: Math.round(left), y: Math.round(top), width: Math.round(right - left), height: Math.round(bottom - top) };
  if (plot.width < 40 || plot.height < 40) throw new RangeError(`a ${o.width}×${o.height} figure leaves no room for the plot`);
  return plot;
}

/** Validate a figure size in px: integers in [160, 4096], `fallback` when undefined. */
export function figureSize(v: number | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  if (!(Number.isInteger(v) && v >= 160 && v <= 4096)) throw new RangeError(`expected ${name} an integer in [160, 4096], found ${v}`);
  return v;
}
