/**
 * Maps on the sheet: a statistic with a colorbar (diverging about 0 or sequential), optional threshold
 * and cluster outlines; and a categorical map (one category per cell) with a legend.
 */
import { colormapAt, fraction, mapColors, NAN_COLOR, qualitativePalette, type RGB } from './colormap.ts';
import { textWidth } from './font.ts';
import { baseline, drawFrame, drawTitle, lineHeight, STYLE, titleBlock, type Figure, type Rect } from './layout.ts';
import { svgToPng } from './png.ts';
import { cellColors, checkSheet, drawCells, drawOutlines, drawsRects, type SheetRect } from './sheet.ts';
import { hex, num, SvgDoc } from './svg.ts';
import { truncate } from './text.ts';
import { formatTick, formatValue, niceTicks } from './ticks.ts';

const OUTLINE: RGB = [0, 0, 0];
const MAX = Number.MAX_VALUE;

export interface MapOptions {
  /** The sheet: rows·cols values, row-major, NaN = empty cell. */
  values: Float64Array;
  rows: number;
  cols: number;
  title: string;
  subtitle?: string;
  /** Name of the statistic, e.g. "t", "Cohen's d", "signed -log10 p". */
  statLabel: string;
  /** Diverging colours symmetric about 0 (default). false: sequential colours over [vmin, vmax]. */
  symmetric?: boolean;
  /** Colour scale limit; default (or when not a finite positive number) max |finite value| (symmetric) or the largest finite value. */
  vmax?: number;
  /** Lower colour limit when not symmetric; default (or when not finite) min(0, smallest finite value). */
  vmin?: number;
  /** Outline cells with |v| ≥ threshold and mark ±threshold on the colorbar (ignored unless finite). */
  threshold?: number;
  /** Outline these cells (1 = in), instead of the threshold rule. */
  outlineMask?: Uint8Array;
  /** Outline each cluster (label > 0; 0 or negative = no cluster). */
  clusterLabels?: Int32Array;
  /** Pixels per cell side. Default: the sheet's long side ≈ 512 px, at least 4 px per cell. */
  cellPx?: number;
}

export interface MapLayout {
  sheet: SheetRect;
  colorbar: Rect;
  /** The rows the title and subtitle occupy. */
  titleBand: { y: number; height: number };
  vmin: number;
  vmax: number;
  ticks: number[];
  /** How the cells are drawn: vector rects (small sheets) or one pixelated embedded PNG. */
  cells: 'rects' | 'image';
}

const BAR_W = 22;
const GAP = 28;

/** A lo < hi pair containing `lo` (for degenerate colour limits). */
function widen(lo: number, hi: number): [number, number] {
  if (hi > lo) return [lo, hi];
  const pad = Math.max(1, Math.abs(lo));
  return lo + pad < Infinity ? [lo, lo + pad] : [lo - pad, lo];
}

/** The colour limits of a map: see `MapOptions.vmax` / `vmin`. */
function colourLimits(o: MapOptions, symmetric: boolean): [number, number] {
  let maxAbs = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < o.values.length; i++) {
    const v = o.values[i];
    if (!Number.isFinite(v)) continue;
    maxAbs = Math.max(maxAbs, Math.abs(v));
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const given = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);
  if (symmetric) {
    const vmax = given(o.vmax) && o.vmax > 0 ? o.vmax : maxAbs > 0 ? maxAbs : 1;
    return [-vmax, vmax];
  }
  const vmin = given(o.vmin) ? o.vmin : Number.isFinite(lo) ? Math.min(0, lo) : 0;
  const vmax = given(o.vmax) ? o.vmax : Number.isFinite(hi) ? hi : vmin + 1;
  return widen(Math.max(-MAX, vmin), Math.min(MAX, vmax));
}

/** The sheet, its frame and outlines at `sheet`. */
function drawSheet(doc: SvgDoc, sheet: SheetRect, rows: number, cols: number, colors: Uint8Array, outlines: { mask?: Uint8Array; clusters?: Int32Array }): void {
  drawCells(doc, sheet, rows, cols, colors);
  drawFrame(doc, sheet);
  const lw = sheet.cellPx >= 8 ? 2 : 1;
  const { mask, clusters } = outlines;
  const keys = new Int32Array(rows * cols);
  if (mask) {
    for (let i = 0; i < keys.length; i++) keys[i] = mask[i] ? 1 : 0;
    drawOutlines(doc, sheet, rows, cols, OUTLINE, lw, keys);
  }
  if (clusters) {
    for (let i = 0; i < keys.length; i++) keys[i] = clusters[i] > 0 ? clusters[i] : 0;
    drawOutlines(doc, sheet, rows, cols, OUTLINE, lw, keys);
  }
}

/** A statistic on the sheet with a colorbar, as SVG with its layout. */
export function mapFigure(o: MapOptions): Figure<MapLayout> {
  const { rows, cols, values } = o;
  const cellPx = checkSheet(rows, cols, [['values', values], ['outlineMask', o.outlineMask], ['clusterLabels', o.clusterLabels]], o.cellPx);
  const n = rows * cols;
  const symmetric = o.symmetric ?? true;
  const [vmin, vmax] = colourLimits(o, symmetric);
  const m = STYLE.margin;
  const ts = STYLE.tickSize;

  // Geometry, left to right: margin, sheet, gap, colorbar + tick labels, margin.
  const sheetW = cols * cellPx;
  const sheetH = rows * cellPx;
  const statLabel = truncate(o.statLabel, 240, STYLE.textSize);
  const labelBlock = lineHeight(STYLE.textSize) + 8;
  const barH = Math.max(200, sheetH - labelBlock);
  const maxTicks = Math.max(5, Math.floor(barH / (lineHeight(ts) + 6)) + 1);
  const { ticks, step } = niceTicks(vmin, vmax, 5, Math.min(11, maxTicks), 7);
  const tickLabels = ticks.map((t) => formatTick(t, step));
  const yOf = (v: number, top: number): number => top + (1 - fraction(v, vmin, vmax)) * barH;

  // End labels (the exact scale limits) when they are not already close to a tick.
  const endLabels: { v: number; text: string }[] = [];
  for (const v of [vmax, vmin]) {
    const nearest = Math.min(Infinity, ...ticks.map((t) => Math.abs(yOf(t, 0) - yOf(v, 0))));
    if (nearest >= lineHeight(ts) + 4) endLabels.push({ v, text: formatValue(v) });
  }
  const threshold = o.threshold !== undefined && Number.isFinite(o.threshold) ? Math.abs(o.threshold) : undefined;
  const thrLabel = threshold !== undefined ? `${symmetric ? `|${statLabel}|` : statLabel} \u2265 ${formatValue(threshold)}` : undefined;
  const labelsW = Math.max(0, ...[...tickLabels, ...endLabels.map((e) => e.text)].map((s) => textWidth(s, ts)));
  const rightW = Math.ceil(Math.max(BAR_W + 9 + labelsW, textWidth(statLabel, STYLE.textSize), thrLabel ? textWidth(thrLabel, STYLE.textSize) : 0));
  const width = Math.max(360, m + sheetW + GAP + rightW + m);

  const tb = titleBlock(o.title, o.subtitle, width - 2 * m);
  const plotTop = m + tb.height + (tb.height ? 14 : 0);
  const sheet: SheetRect = { x: m, y: plotTop, width: sheetW, height: sheetH, cellPx };
  const bar: Rect = { x: m + sheetW + GAP, y: plotTop + labelBlock, width: BAR_W, height: barH };
  const rightBottom = bar.y + barH + lineHeight(ts) / 2 + (thrLabel ? 10 + lineHeight(STYLE.textSize) : 0);
  const height = Math.ceil(Math.max(sheet.y + sheetH, rightBottom) + m + 2);

  const doc = new SvgDoc(width, height);
  drawTitle(doc, m, m, tb);

  // The sheet: crisp cells, then outlines.
  let mask = o.outlineMask;
  if (!mask && threshold !== undefined) {
    mask = new Uint8Array(n);
    for (let i = 0; i < n; i++) mask[i] = Math.abs(values[i]) >= threshold ? 1 : 0; // NaN → 0
  }
  drawSheet(doc, sheet, rows, cols, mapColors(values, symmetric ? 'diverging' : 'sequential', vmin, vmax), { mask, clusters: o.clusterLabels });

  // Colorbar: label, gradient, frame, ticks, end labels, threshold marks.
  doc.text(bar.x, plotTop + baseline(STYLE.textSize), statLabel, { size: STYLE.textSize });
  const stops = 65;
  const map = symmetric ? 'diverging' : 'sequential';
  const grad = doc.def((id) => {
    let s = `<linearGradient id="${id}" x1="0" y1="0" x2="0" y2="1">`;
    for (let i = 0; i < stops; i++) s += `<stop offset="${num(i / (stops - 1))}" stop-color="${hex(colormapAt(map, 1 - i / (stops - 1)))}"/>`;
    return `${s}</linearGradient>`;
  });
  doc.rect(bar.x, bar.y, BAR_W, barH, { fill: `url(#${grad})` });
  drawFrame(doc, bar);
  const labelX = bar.x + BAR_W + 9;
  const tickY = (v: number): number => Math.round(Math.min(bar.y + barH - 1, yOf(v, bar.y))) + 0.5;
  ticks.forEach((t, i) => {
    const y = tickY(t);
    doc.line(bar.x + BAR_W, y, bar.x + BAR_W + 6, y, { stroke: STYLE.frame });
    doc.text(labelX, y + ts * 0.36, tickLabels[i], { size: ts });
  });
  for (const e of endLabels) {
    const y = tickY(e.v);
    doc.line(bar.x + BAR_W, y, bar.x + BAR_W + 3, y, { stroke: STYLE.frame });
    doc.text(labelX, y + ts * 0.36, e.text, { size: ts, fill: STYLE.muted });
  }
  if (threshold !== undefined && thrLabel) {
    for (const t of symmetric ? [threshold, -threshold] : [threshold]) {
      if (t > vmax || t < vmin) continue;
      const y = Math.round(Math.min(bar.y + barH - 1, yOf(t, bar.y)));
      doc.rect(bar.x - 6, y - 1, BAR_W + 6, 2, { fill: hex(OUTLINE) });
      doc.el('path', { d: `M${bar.x - 12} ${y - 5}L${bar.x - 5} ${y}L${bar.x - 12} ${y + 5}z`, fill: hex(OUTLINE) });
    }
    doc.text(bar.x, bar.y + barH + lineHeight(ts) / 2 + 10 + baseline(STYLE.textSize), thrLabel, { size: STYLE.textSize });
  }

  return {
    svg: doc.toString(),
    width,
    height,
    layout: { sheet, colorbar: bar, titleBand: { y: m, height: tb.height }, vmin, vmax, ticks, cells: drawsRects(rows, cols) ? 'rects' : 'image' },
  };
}

/** A statistic on the sheet as SVG. */
export function renderMapSvg(o: MapOptions): string {
  return mapFigure(o).svg;
}

/** A statistic on the sheet as PNG (the SVG rasterised). */
export function renderMapPng(o: MapOptions): Promise<Buffer> {
  return svgToPng(mapFigure(o).svg);
}

export interface CategoricalMapOptions {
  /** The category of each cell (an index into `labels`), row-major; negative = none. */
  categories: Int32Array;
  rows: number;
  cols: number;
  /** Category names, in index order (at most 64). */
  labels: string[];
  /** Their colours; default `qualitativePalette(labels.length)`. */
  colors?: RGB[];
  title: string;
  subtitle?: string;
  /** Legend entry for cells without a category (drawn grey); none when omitted. */
  noneLabel?: string;
  /** Outline these cells (1 = in). */
  outlineMask?: Uint8Array;
  /** Outline each cluster (label > 0). */
  clusterLabels?: Int32Array;
  cellPx?: number;
}

export interface CategoricalMapLayout {
  sheet: SheetRect;
  /** The legend's swatches, in category order (then the "none" entry, if any). */
  swatches: Rect[];
  titleBand: { y: number; height: number };
  cells: 'rects' | 'image';
}

/** Largest number of categories a categorical map shows. */
export const MAX_CATEGORIES = 64;

/**
 * One category per cell on the sheet (e.g. each unit's preferred stimulus category, or a binary mask),
 * with a legend of the k colours.
 */
export function categoricalMapFigure(o: CategoricalMapOptions): Figure<CategoricalMapLayout> {
  const { rows, cols, categories, labels } = o;
  const cellPx = checkSheet(rows, cols, [['categories', categories], ['outlineMask', o.outlineMask], ['clusterLabels', o.clusterLabels]], o.cellPx);
  const k = labels.length;
  if (!(k >= 1 && k <= MAX_CATEGORIES)) throw new RangeError(`expected 1 to ${MAX_CATEGORIES} category labels, found ${k}`);
  if (o.colors && o.colors.length !== k) throw new RangeError(`expected ${k} colours, found ${o.colors.length}`);
  const byte = (v: number): number => (Number.isFinite(v) ? Math.max(0, Math.min(255, Math.round(v))) : 0);
  const colors = (o.colors ?? qualitativePalette(k)).map((c): RGB => [byte(c[0]), byte(c[1]), byte(c[2])]);
  const n = rows * cols;
  for (let i = 0; i < n; i++) {
    if (categories[i] >= k) throw new RangeError(`cell ${i} has category ${categories[i]}, but there are only ${k} labels`);
  }
  const m = STYLE.margin;
  const sheetW = cols * cellPx;
  const sheetH = rows * cellPx;
  const entries = labels.map((l, i) => ({ label: truncate(l, 220, STYLE.textSize), color: colors[i] }));
  if (o.noneLabel !== undefined) entries.push({ label: truncate(o.noneLabel, 220, STYLE.textSize), color: NAN_COLOR });
  const rowH = lineHeight(STYLE.textSize) + 6;
  const sw = 14;
  const legendW = Math.ceil(sw + 8 + Math.max(0, ...entries.map((e) => textWidth(e.label, STYLE.textSize))));
  const width = Math.max(360, m + sheetW + GAP + legendW + m);
  const tb = titleBlock(o.title, o.subtitle, width - 2 * m);
  const top = m + tb.height + (tb.height ? 14 : 0);
  const sheet: SheetRect = { x: m, y: top, width: sheetW, height: sheetH, cellPx };
  const height = Math.ceil(Math.max(top + sheetH, top + entries.length * rowH) + m + 2);

  const doc = new SvgDoc(width, height);
  drawTitle(doc, m, m, tb);
  const colorsOf = cellColors(n, (i) => (categories[i] >= 0 ? colors[categories[i]] : NAN_COLOR));
  drawSheet(doc, sheet, rows, cols, colorsOf, { mask: o.outlineMask, clusters: o.clusterLabels });
  const lx = m + sheetW + GAP;
  const swatches: Rect[] = entries.map((e, i) => {
    const r = { x: lx, y: top + i * rowH + 2, width: sw, height: sw };
    doc.rect(r.x, r.y, sw, sw, { fill: hex(e.color), stroke: STYLE.frame, 'stroke-width': 0.5 });
    doc.text(lx + sw + 8, r.y + sw / 2 + STYLE.textSize * 0.36, e.label, { size: STYLE.textSize });
    return r;
  });
  return { svg: doc.toString(), width, height, layout: { sheet, swatches, titleBand: { y: m, height: tb.height }, cells: drawsRects(rows, cols) ? 'rects' : 'image' } };
}
