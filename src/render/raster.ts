/**
 * PNG rendering of selectivity maps (the sheet, a colorbar, titles, threshold / cluster outlines) and
 * of simple line plots (smoothness curves). Everything is drawn into a raw RGBA buffer by hand and
 * encoded with sharp; text uses the bitmap font in `font.ts`, so no system fonts are needed.
 */
import sharp from 'sharp';
import { colorFor, sequentialColorFor, type RGB } from './colormap.ts';
import { drawText, drawTextVertical, textWidth, textHeight, GLYPH_ADVANCE, type Color } from './font.ts';

// ---------------------------------------------------------------------------------------------------
// A minimal RGBA canvas.

const WHITE: RGB = [255, 255, 255];
const BLACK: RGB = [0, 0, 0];
const INK: RGB = [25, 25, 25];
const MUTED: RGB = [95, 95, 95];
const FRAME: RGB = [70, 70, 70];
const GRID: RGB = [228, 228, 228];

class Canvas {
  readonly rgba: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
    background: RGB = WHITE,
  ) {
    this.rgba = new Uint8Array(width * height * 4);
    for (let i = 0; i < width * height; i++) {
      this.rgba[i * 4] = background[0];
      this.rgba[i * 4 + 1] = background[1];
      this.rgba[i * 4 + 2] = background[2];
      this.rgba[i * 4 + 3] = 255;
    }
  }

  set(x: number, y: number, c: RGB): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const o = (y * this.width + x) * 4;
    this.rgba[o] = c[0];
    this.rgba[o + 1] = c[1];
    this.rgba[o + 2] = c[2];
    this.rgba[o + 3] = 255;
  }

  /** Fill the rectangle [x, x+w) × [y, y+h), clipped. */
  fill(x: number, y: number, w: number, h: number, c: RGB): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) {
      let o = (yy * this.width + x0) * 4;
      for (let xx = x0; xx < x1; xx++, o += 4) {
        this.rgba[o] = c[0];
        this.rgba[o + 1] = c[1];
        this.rgba[o + 2] = c[2];
        this.rgba[o + 3] = 255;
      }
    }
  }

  /** A `t`-pixel frame just outside the rectangle [x, x+w) × [y, y+h). */
  frame(x: number, y: number, w: number, h: number, c: RGB, t = 1): void {
    this.fill(x - t, y - t, w + 2 * t, t, c);
    this.fill(x - t, y + h, w + 2 * t, t, c);
    this.fill(x - t, y, t, h, c);
    this.fill(x + w, y, t, h, c);
  }

  /** A line of width `thick` px; `dash` = [on, off] pattern lengths in px. */
  line(x0: number, y0: number, x1: number, y1: number, c: RGB, thick = 1, dash?: [number, number]): void {
    x0 = Math.round(x0);
    y0 = Math.round(y0);
    x1 = Math.round(x1);
    y1 = Math.round(y1);
    const dx = Math.abs(x1 - x0);
    const dy = -Math.abs(y1 - y0);
    const sx = x0 < x1 ? 1 : -1;
    const sy = y0 < y1 ? 1 : -1;
    let err = dx + dy;
    let step = 0;
    const off = Math.floor((thick - 1) / 2);
    for (;;) {
      const on = !dash || step % (dash[0] + dash[1]) < dash[0];
      if (on) this.fill(x0 - off, y0 - off, thick, thick, c);
      if (x0 === x1 && y0 === y1) break;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y0 += sy;
      }
      step++;
    }
  }

  text(x: number, y: number, s: string, c: Color, scale: number): number {
    return drawText(this.rgba, this.width, this.height, x, y, s, c, scale);
  }

  textVertical(x: number, y: number, s: string, c: Color, scale: number): void {
    drawTextVertical(this.rgba, this.width, this.height, x, y, s, c, scale);
  }

}

// ---------------------------------------------------------------------------------------------------
// Numbers: nice ticks and labels.

/**
 * "Nice" tick values (1, 2, 2.5 or 5 × 10^k apart) inside [lo, hi], between minCount and maxCount of
 * them, as close to `prefer` as possible. Returns the ticks and their step.
 */
export function niceTicks(lo: number, hi: number, minCount = 5, maxCount = 11, prefer = 7): { ticks: number[]; step: number } {
  if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi)) return { ticks: Number.isFinite(lo) ? [lo] : [], step: 1 };
  const span = hi - lo;
  const e0 = Math.floor(Math.log10(span / Math.max(1, prefer - 1)));
  let best: { step: number; count: number; score: number } | undefined;
  for (let e = e0 - 2; e <= e0 + 2; e++) {
    for (const m of [1, 2, 2.5, 5]) {
      const step = m * Math.pow(10, e);
      const count = Math.floor(hi / step + 1e-9) - Math.ceil(lo / step - 1e-9) + 1;
      if (count < minCount || count > maxCount) continue;
      const score = Math.abs(count - prefer) + (m === 2.5 ? 1.5 : 0);
      if (!best || score < best.score) best = { step, count, score };
    }
  }
  if (!best) {
    // No nice step gives a count in range (e.g. only 5–6 ticks allowed for a span just under 2 × a nice
    // step): allow more ticks rather than print odd numbers.
    if (maxCount < 4 * Math.max(minCount, 2) + 1) return niceTicks(lo, hi, minCount, maxCount + 2, prefer);
    return { ticks: [lo, (lo + hi) / 2, hi].map(cleanNumber), step: span / 2 };
  }
  const first = Math.ceil(lo / best.step - 1e-9);
  const ticks: number[] = [];
  for (let i = 0; i < best.count; i++) ticks.push(cleanNumber((first + i) * best.step));
  return { ticks, step: best.step };
}

function cleanNumber(v: number): number {
  const r = Number(v.toPrecision(12));
  return r === 0 ? 0 : r; // no −0
}

function decimalsForStep(step: number): number {
  if (!(step > 0)) return 0;
  let d = 0;
  while (d < 12 && Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) > 1e-9 * 10 ** d) d++;
  return d;
}

/** A tick label: fixed decimals as the step needs, ASCII minus, no "-0". */
export function formatTick(v: number, step: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || step < 1e-4)) return v.toExponential(1).replace('e+', 'e');
  const s = v.toFixed(decimalsForStep(step));
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
}

/** A free-standing value (colorbar ends, thresholds): 3 significant digits. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2).replace('e+', 'e');
  return String(Number(v.toPrecision(3)));
}

/** Split text into lines of at most `maxChars` characters, at spaces where possible. */
function wrap(text: string, maxChars: number): string[] {
  const out: string[] = [];
  const max = Math.max(1, maxChars);
  for (const para of text.split('\n')) {
    let line = '';
    for (let word of para.split(' ')) {
      while ([...word].length > max) {
        if (line) {
          out.push(line);
          line = '';
        }
        const chars = [...word];
        out.push(chars.slice(0, max).join(''));
        word = chars.slice(max).join('');
      }
      const candidate = line ? `${line} ${word}` : word;
      if ([...candidate].length <= max) line = candidate;
      else {
        out.push(line);
        line = word;
      }
    }
    out.push(line);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Selectivity maps.

export interface MapPngOptions {
  /** The sheet: rows*cols values, row-major, NaN = empty cell. */
  values: Float64Array;
  rows: number;
  cols: number;
  title: string;
  subtitle?: string;
  /** Name of the statistic, e.g. "t", "Cohen's d", "log10 p". */
  statLabel: string;
  /** Diverging colours symmetric about 0 (default). false: sequential colours over [vmin, vmax]. */
  symmetric?: boolean;
  /** Colour scale limit; default max |finite value| (symmetric) or the largest finite value. */
  vmax?: number;
  /** Lower colour limit when not symmetric; default min(0, smallest finite value). */
  vmin?: number;
  /** Outline cells with |v| ≥ threshold and mark ±threshold on the colorbar. */
  threshold?: number;
  /** Outline these cells (1 = in), instead of the threshold rule. */
  outlineMask?: Uint8Array;
  /** Outline each cluster (label > 0; 0 or negative = no cluster). */
  clusterLabels?: Int32Array;
  /** Pixels per cell side. Default: the sheet's long side ≈ 512 px, at least 4 px per cell. */
  cellPx?: number;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A rendered map before PNG encoding, with where things are (for callers and tests). */
export interface MapRaster {
  width: number;
  height: number;
  /** width*height*4 bytes, opaque. */
  rgba: Uint8Array;
  /** The cells: cell (r, c) covers x + c*cellPx … + cellPx − 1, y + r*cellPx …. */
  sheet: Rect & { cellPx: number };
  colorbar: Rect;
  /** The rows the title and subtitle occupy. */
  titleBand: { y: number; height: number };
  vmin: number;
  vmax: number;
  ticks: number[];
}

const MARGIN = 16;
const TEXT_SCALE = 2;

/** Default cell size: the sheet's long side close to 512 px, integer, at least 4 px. */
export function defaultCellPx(rows: number, cols: number): number {
  return Math.max(4, Math.round(512 / Math.max(rows, cols)));
}

/** Draw a selectivity map into an RGBA raster. */
export function renderMapRgba(opts: MapPngOptions): MapRaster {
  const { rows, cols, values } = opts;
  if (!(Number.isInteger(rows) && Number.isInteger(cols) && rows >= 1 && cols >= 1)) {
    throw new RangeError(`expected positive integer rows and cols, found ${rows}×${cols}`);
  }
  const nCells = rows * cols;
  if (values.length !== nCells) throw new RangeError(`expected ${nCells} values for a ${rows}×${cols} sheet, found ${values.length}`);
  for (const [name, arr] of [['outlineMask', opts.outlineMask], ['clusterLabels', opts.clusterLabels]] as const) {
    if (arr && arr.length !== nCells) throw new RangeError(`expected ${name} of length ${nCells}, found ${arr.length}`);
  }
  const cellPx = opts.cellPx ?? defaultCellPx(rows, cols);
  if (!(Number.isInteger(cellPx) && cellPx >= 1)) throw new RangeError(`expected an integer cellPx ≥ 1, found ${cellPx}`);

  // Colour scale.
  const symmetric = opts.symmetric ?? true;
  let maxAbs = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < nCells; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    maxAbs = Math.max(maxAbs, Math.abs(v));
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  let vmin: number;
  let vmax: number;
  if (symmetric) {
    vmax = opts.vmax !== undefined && opts.vmax > 0 ? opts.vmax : maxAbs > 0 ? maxAbs : 1;
    vmin = -vmax;
  } else {
    vmin = opts.vmin ?? (Number.isFinite(lo) ? Math.min(0, lo) : 0);
    vmax = opts.vmax ?? (Number.isFinite(hi) ? hi : 1);
    if (!(vmax > vmin)) vmax = vmin + 1;
  }
  const colour = (v: number): RGB => (symmetric ? colorFor(v, vmax) : sequentialColorFor(v, vmin, vmax));

  // Geometry, left to right: margin, sheet, gap, colorbar + tick labels, margin.
  const sheetW = cols * cellPx;
  const sheetH = rows * cellPx;
  const lineH = textHeight('X', TEXT_SCALE);
  const lineGap = 4;
  const statLabel = opts.statLabel;
  const labelBlock = lineH + 16;
  const barW = 22;
  const barH = Math.max(200, sheetH - labelBlock);
  const maxTicks = Math.max(5, Math.floor(barH / (lineH + 6)) + 1);
  const { ticks, step } = niceTicks(vmin, vmax, 5, Math.min(11, maxTicks), 7);
  const tickLabels = ticks.map((t) => formatTick(t, step));
  const scaleOf = (v: number, barTop: number): number => barTop + ((vmax - v) / (vmax - vmin)) * barH;

  // End labels (the exact scale limits) when they are not already close to a tick.
  const endLabels: { v: number; text: string }[] = [];
  for (const v of [vmax, vmin]) {
    const nearest = Math.min(...ticks.map((t) => Math.abs(scaleOf(t, 0) - scaleOf(v, 0))));
    if (nearest >= lineH + 8) endLabels.push({ v, text: formatValue(v) });
  }
  const threshold = opts.threshold !== undefined && Number.isFinite(opts.threshold) ? Math.abs(opts.threshold) : undefined;
  const thrLabel = threshold !== undefined ? `${symmetric ? `|${statLabel}|` : statLabel} ≥ ${formatValue(threshold)}` : undefined;
  const labelsW = Math.max(...[...tickLabels, ...endLabels.map((e) => e.text)].map((s) => textWidth(s, TEXT_SCALE)));
  const rightW = Math.max(barW + 9 + labelsW, textWidth(statLabel, TEXT_SCALE), thrLabel ? textWidth(thrLabel, TEXT_SCALE) : 0);
  const gap = 28;
  const width = Math.max(360, MARGIN + sheetW + gap + rightW + MARGIN);

  // Title band.
  const maxChars = Math.max(8, Math.floor((width - 2 * MARGIN + 1) / (GLYPH_ADVANCE * TEXT_SCALE)));
  const titleLines = wrap(opts.title, maxChars);
  const subtitleLines = opts.subtitle ? wrap(opts.subtitle, maxChars) : [];
  const lineStep = lineH + lineGap;
  const titleTop = MARGIN;
  const titleH = (titleLines.length + subtitleLines.length) * lineStep - lineGap;
  const plotTop = titleTop + titleH + 18;

  const sheet = { x: MARGIN, y: plotTop, width: sheetW, height: sheetH, cellPx };
  const bar = { x: MARGIN + sheetW + gap, y: plotTop + labelBlock, width: barW, height: barH };
  const rightBottom = bar.y + barH + lineH / 2 + (thrLabel ? 14 + lineH : 0);
  const height = Math.max(sheet.y + sheetH, rightBottom) + MARGIN + 2;

  const cv = new Canvas(width, height);

  // Titles.
  let ty = titleTop;
  for (const line of titleLines) {
    cv.text(MARGIN, ty, line, INK, TEXT_SCALE);
    ty += lineStep;
  }
  for (const line of subtitleLines) {
    cv.text(MARGIN, ty, line, MUTED, TEXT_SCALE);
    ty += lineStep;
  }

  // The sheet: crisp cells.
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) cv.fill(sheet.x + c * cellPx, sheet.y + r * cellPx, cellPx, cellPx, colour(values[r * cols + c]));
  }
  cv.frame(sheet.x, sheet.y, sheetW, sheetH, FRAME, 1);

  // Outlines.
  const lw = cellPx >= 8 ? 2 : 1;
  let mask = opts.outlineMask;
  if (!mask && threshold !== undefined) {
    mask = new Uint8Array(nCells);
    for (let i = 0; i < nCells; i++) mask[i] = Math.abs(values[i]) >= threshold ? 1 : 0; // NaN → 0
  }
  if (mask) {
    const m = mask;
    drawBoundaries(cv, sheet, rows, cols, lw, BLACK, (i) => (m[i] ? 1 : 0), (a, b) => a !== b);
  }
  if (opts.clusterLabels) {
    const lab = opts.clusterLabels;
    drawBoundaries(cv, sheet, rows, cols, lw, BLACK, (i) => Math.max(0, lab[i]), (a, b) => a !== b && (a > 0 || b > 0));
  }

  // Colorbar.
  cv.text(bar.x, plotTop, statLabel, INK, TEXT_SCALE);
  for (let yy = 0; yy < barH; yy++) {
    const v = vmax - ((yy + 0.5) / barH) * (vmax - vmin);
    cv.fill(bar.x, bar.y + yy, barW, 1, colour(v));
  }
  cv.frame(bar.x, bar.y, barW, barH, FRAME, 1);
  const labelX = bar.x + barW + 9;
  ticks.forEach((t, i) => {
    const y = Math.round(Math.min(bar.y + barH - 1, scaleOf(t, bar.y)));
    cv.fill(bar.x + barW, y, 6, 1, FRAME);
    cv.text(labelX, y - Math.floor((7 * TEXT_SCALE) / 2), tickLabels[i], INK, TEXT_SCALE);
  });
  for (const e of endLabels) {
    const y = Math.round(Math.min(bar.y + barH - 1, scaleOf(e.v, bar.y)));
    cv.fill(bar.x + barW, y, 3, 1, FRAME);
    cv.text(labelX, y - Math.floor((7 * TEXT_SCALE) / 2), e.text, MUTED, TEXT_SCALE);
  }
  if (threshold !== undefined && thrLabel) {
    const marks = symmetric ? [threshold, -threshold] : [threshold];
    for (const t of marks) {
      if (t > vmax || t < vmin) continue;
      const y = Math.round(Math.min(bar.y + barH - 1, scaleOf(t, bar.y)));
      cv.fill(bar.x - 6, y - 1, barW + 6, 2, BLACK);
      // A small arrowhead pointing at the bar from the left.
      for (let k = 0; k < 5; k++) cv.fill(bar.x - 11 + k, y - (4 - k), 1, 2 * (4 - k) + 1, BLACK);
    }
    cv.text(bar.x, bar.y + barH + lineH / 2 + 10, thrLabel, INK, TEXT_SCALE);
  }

  return { width, height, rgba: cv.rgba, sheet, colorbar: bar, titleBand: { y: titleTop, height: titleH }, vmin, vmax, ticks };
}

/**
 * Draw the edges between neighbouring cells whose keys differ (`differs`), and sheet-border edges of
 * cells whose key differs from 0. A `lw`=2 line straddles the edge; a 1 px line goes on the side of
 * the cell with the larger key.
 */
function drawBoundaries(
  cv: Canvas,
  sheet: Rect & { cellPx: number },
  rows: number,
  cols: number,
  lw: number,
  color: RGB,
  key: (i: number) => number,
  differs: (a: number, b: number) => boolean,
): void {
  const cp = sheet.cellPx;
  const at = (r: number, c: number): number => (r < 0 || c < 0 || r >= rows || c >= cols ? 0 : key(r * cols + c));
  // Vertical edges: between (r, c-1) and (r, c), for c = 0 … cols.
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c <= cols; c++) {
      const a = at(r, c - 1);
      const b = at(r, c);
      if (!differs(a, b)) continue;
      const ex = sheet.x + c * cp;
      const y0 = sheet.y + r * cp;
      if (lw >= 2) cv.fill(ex - 1, y0 - 1, 2, cp + 2, color);
      else cv.fill(a > b ? ex - 1 : ex, y0, 1, cp, color);
    }
  }
  // Horizontal edges: between (r-1, c) and (r, c), for r = 0 … rows.
  for (let r = 0; r <= rows; r++) {
    for (let c = 0; c < cols; c++) {
      const a = at(r - 1, c);
      const b = at(r, c);
      if (!differs(a, b)) continue;
      const ey = sheet.y + r * cp;
      const x0 = sheet.x + c * cp;
      if (lw >= 2) cv.fill(x0 - 1, ey - 1, cp + 2, 2, color);
      else cv.fill(x0, a > b ? ey - 1 : ey, cp, 1, color);
    }
  }
}

/** Render a selectivity map as a PNG. */
export async function renderMapPng(opts: MapPngOptions): Promise<Buffer> {
  const r = renderMapRgba(opts);
  return encodeRgbaPng(r.rgba, r.width, r.height);
}

/** Encode an opaque RGBA raster as PNG with sharp. */
export async function encodeRgbaPng(rgba: Uint8Array, width: number, height: number): Promise<Buffer> {
  if (rgba.length !== width * height * 4) throw new RangeError(`expected ${width * height * 4} RGBA bytes for ${width}×${height}, found ${rgba.length}`);
  return sharp(Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength), { raw: { width, height, channels: 4 } })
    .removeAlpha() // every pixel is opaque: an RGB PNG is smaller
    .png({ compressionLevel: 6 })
    .toBuffer();
}

// ---------------------------------------------------------------------------------------------------
// Line plots.

export interface LineSeries {
  name: string;
  x: Float64Array;
  y: Float64Array;
  color: RGB;
  /** Draw dashed (e.g. a chance level). */
  dashed?: boolean;
  /** Draw a marker at every point (default true). */
  markers?: boolean;
}

export interface LinePlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  /** Image size in px (default 640 × 440). */
  width?: number;
  height?: number;
}

export interface LinePlotRaster {
  width: number;
  height: number;
  rgba: Uint8Array;
  /** The plotting area (inside the axes). */
  plot: Rect;
  xRange: [number, number];
  yRange: [number, number];
}

function axisRange(values: number[]): { lo: number; hi: number; ticks: number[]; step: number } {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = 0;
    hi = 1;
  }
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  let { step } = niceTicks(lo, hi, 3, 9, 6);
  if (!(step > 0)) step = (hi - lo) / 4;
  const a = cleanNumber(Math.floor(lo / step + 1e-9) * step);
  const b = cleanNumber(Math.ceil(hi / step - 1e-9) * step);
  const ticks: number[] = [];
  for (let k = Math.round(a / step); k <= Math.round(b / step); k++) ticks.push(cleanNumber(k * step));
  return { lo: a, hi: b, ticks, step };
}

/** Draw a line plot (axes, ticks, grid, legend) into an RGBA raster. */
export function renderLinePlotRgba(opts: LinePlotOptions): LinePlotRaster {
  const width = opts.width ?? 640;
  const height = opts.height ?? 440;
  const s = TEXT_SCALE;
  const lineH = textHeight('X', s);
  const xs: number[] = [];
  const ys: number[] = [];
  for (const se of opts.series) {
    if (se.x.length !== se.y.length) throw new RangeError(`series "${se.name}": x has ${se.x.length} values, y has ${se.y.length}`);
    for (let i = 0; i < se.x.length; i++) {
      if (Number.isFinite(se.x[i]) && Number.isFinite(se.y[i])) {
        xs.push(se.x[i]);
        ys.push(se.y[i]);
      }
    }
  }
  const X = axisRange(xs);
  const Y = axisRange(ys);
  const xTickLabels = X.ticks.map((t) => formatTick(t, X.step));
  const yTickLabels = Y.ticks.map((t) => formatTick(t, Y.step));
  const yLabelsW = Math.max(...yTickLabels.map((l) => textWidth(l, s)));

  const titleLines = wrap(opts.title, Math.floor((width - 2 * MARGIN) / (GLYPH_ADVANCE * s)));
  const top = MARGIN + titleLines.length * (lineH + 4) + 12;
  const left = MARGIN + lineH + 10 + yLabelsW + 8;
  const bottom = height - MARGIN - lineH - 10 - lineH - 8;
  const right = width - MARGIN - Math.ceil(textWidth(xTickLabels[xTickLabels.length - 1] ?? '', s) / 2);
  const plot: Rect = { x: left, y: top, width: right - left, height: bottom - top };
  if (plot.width < 40 || plot.height < 40) throw new RangeError(`a ${width}×${height} image leaves no room for the plot`);

  const px = (x: number): number => plot.x + ((x - X.lo) / (X.hi - X.lo)) * (plot.width - 1);
  const py = (y: number): number => plot.y + plot.height - 1 - ((y - Y.lo) / (Y.hi - Y.lo)) * (plot.height - 1);

  const cv = new Canvas(width, height);
  let ty = MARGIN;
  for (const line of titleLines) {
    cv.text(MARGIN, ty, line, INK, s);
    ty += lineH + 4;
  }

  // Grid, ticks and tick labels.
  X.ticks.forEach((t, i) => {
    const x = Math.round(px(t));
    cv.fill(x, plot.y, 1, plot.height, GRID);
    cv.fill(x, plot.y + plot.height, 1, 5, FRAME);
    cv.text(x - textWidth(xTickLabels[i], s) / 2, plot.y + plot.height + 8, xTickLabels[i], INK, s);
  });
  Y.ticks.forEach((t, i) => {
    const y = Math.round(py(t));
    cv.fill(plot.x, y, plot.width, 1, GRID);
    cv.fill(plot.x - 5, y, 5, 1, FRAME);
    cv.text(plot.x - 8 - textWidth(yTickLabels[i], s), y - (7 * s) / 2, yTickLabels[i], INK, s);
  });
  cv.frame(plot.x, plot.y, plot.width, plot.height, FRAME, 1);
  // Axis labels.
  cv.text(plot.x + (plot.width - textWidth(opts.xLabel, s)) / 2, height - MARGIN - lineH, opts.xLabel, INK, s);
  cv.textVertical(MARGIN, plot.y + (plot.height - textWidth(opts.yLabel, s)) / 2, opts.yLabel, INK, s);

  // Series.
  for (const se of opts.series) {
    let prev: [number, number] | undefined;
    for (let i = 0; i < se.x.length; i++) {
      if (!(Number.isFinite(se.x[i]) && Number.isFinite(se.y[i]))) {
        prev = undefined;
        continue;
      }
      const p: [number, number] = [px(se.x[i]), py(se.y[i])];
      if (prev) cv.line(prev[0], prev[1], p[0], p[1], se.color, 2, se.dashed ? [8, 5] : undefined);
      prev = p;
    }
    if (se.markers ?? true) {
      for (let i = 0; i < se.x.length; i++) {
        if (Number.isFinite(se.x[i]) && Number.isFinite(se.y[i])) cv.fill(Math.round(px(se.x[i])) - 2, Math.round(py(se.y[i])) - 2, 5, 5, se.color);
      }
    }
  }

  // Legend in the corner that hides the fewest points.
  if (opts.series.length > 0) {
    const sample = 28;
    const rowH = lineH + 6;
    const boxW = 8 + sample + 8 + Math.max(...opts.series.map((se) => textWidth(se.name, s))) + 8;
    const boxH = 6 + opts.series.length * rowH;
    const corners: [number, number][] = [
      [plot.x + plot.width - boxW - 8, plot.y + 8],
      [plot.x + 8, plot.y + 8],
      [plot.x + plot.width - boxW - 8, plot.y + plot.height - boxH - 8],
      [plot.x + 8, plot.y + plot.height - boxH - 8],
    ];
    let best = corners[0];
    let bestHidden = Infinity;
    for (const [bx, by] of corners) {
      let hidden = 0;
      for (const se of opts.series) {
        for (let i = 0; i < se.x.length; i++) {
          const x = px(se.x[i]);
          const y = py(se.y[i]);
          if (x >= bx - 4 && x <= bx + boxW + 4 && y >= by - 4 && y <= by + boxH + 4) hidden++;
        }
      }
      if (hidden < bestHidden) {
        bestHidden = hidden;
        best = [bx, by];
      }
    }
    const [bx, by] = best;
    cv.fill(bx, by, boxW, boxH, WHITE);
    cv.frame(bx, by, boxW, boxH, [160, 160, 160], 1);
    opts.series.forEach((se, k) => {
      const cy = by + 6 + k * rowH + Math.floor(lineH / 2) - 2;
      cv.line(bx + 8, cy, bx + 8 + sample, cy, se.color, 2, se.dashed ? [8, 5] : undefined);
      cv.text(bx + 8 + sample + 8, by + 6 + k * rowH, se.name, INK, s);
    });
  }

  return { width, height, rgba: cv.rgba, plot, xRange: [X.lo, X.hi], yRange: [Y.lo, Y.hi] };
}

/** Render a line plot (e.g. a smoothness curve: mean |Δt| by sheet distance) as a PNG. */
export async function renderLinePlotPng(opts: LinePlotOptions): Promise<Buffer> {
  const r = renderLinePlotRgba(opts);
  return encodeRgbaPng(r.rgba, r.width, r.height);
}
