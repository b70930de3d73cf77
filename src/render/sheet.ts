/** The cortical sheet in a figure: crisp cells (vector rects or a pixelated raster) and outline paths. */
import type { RGB } from './colormap.ts';
import type { Rect } from './layout.ts';
import { encodeRgbPng } from './png.ts';
import { hex, num, type SvgDoc } from './svg.ts';

/** Largest sheet side accepted, in cells. */
export const MAX_SHEET_SIDE = 1024;
/** Largest sheet drawn, in px per side. */
export const MAX_SHEET_PX = 4096;
/** Sheets with at most this many cells are drawn as vector rects; larger ones as one embedded PNG. */
export const RECT_CELLS_LIMIT = 4096;

export type SheetRect = Rect & { cellPx: number };

/** Default cell size: the sheet's long side close to 512 px, integer, at least 4 px. */
export function defaultCellPx(rows: number, cols: number): number {
  return Math.max(4, Math.round(512 / Math.max(rows, cols)));
}

/** Check a sheet's shape, the lengths of its per-cell arrays, and the cell size; return the cell size. */
export function checkSheet(rows: number, cols: number, arrays: [string, ArrayLike<number> | undefined][], cellPx: number | undefined): number {
  if (!(Number.isInteger(rows) && Number.isInteger(cols) && rows >= 1 && cols >= 1 && rows <= MAX_SHEET_SIDE && cols <= MAX_SHEET_SIDE)) {
    throw new RangeError(`expected integer rows and cols in [1, ${MAX_SHEET_SIDE}], found ${rows}×${cols}`);
  }
  const n = rows * cols;
  for (const [name, a] of arrays) {
    if (a && a.length !== n) throw new RangeError(`expected ${name} of length ${n} for a ${rows}×${cols} sheet, found ${a.length}`);
  }
  const cp = cellPx ?? defaultCellPx(rows, cols);
  if (!(Number.isInteger(cp) && cp >= 1 && Math.max(rows, cols) * cp <= MAX_SHEET_PX)) {
    throw new RangeError(`expected an integer cellPx ≥ 1 with the sheet at most ${MAX_SHEET_PX} px a side, found ${cellPx}`);
  }
  return cp;
}

/** Whether a sheet of this many cells is drawn as rects (else as an embedded raster). */
export const drawsRects = (rows: number, cols: number): boolean => rows * cols <= RECT_CELLS_LIMIT;

/**
 * Paint the cells, cell i = r·cols + c in `colors` (RGB bytes), nearest-neighbour: each cell one
 * exact colour over its cellPx × cellPx square.
 */
export function drawCells(doc: SvgDoc, s: SheetRect, rows: number, cols: number, colors: Uint8Array): void {
  const cp = s.cellPx;
  if (drawsRects(rows, cols)) {
    // One path per colour; horizontal runs of a colour merged into one rectangle.
    const paths = new Map<string, string[]>();
    for (let r = 0; r < rows; r++) {
      let c = 0;
      while (c < cols) {
        const i = r * cols + c;
        let end = c + 1;
        while (end < cols && colors[3 * (r * cols + end)] === colors[3 * i] && colors[3 * (r * cols + end) + 1] === colors[3 * i + 1] && colors[3 * (r * cols + end) + 2] === colors[3 * i + 2]) end++;
        const key = hex([colors[3 * i], colors[3 * i + 1], colors[3 * i + 2]]);
        let list = paths.get(key);
        if (!list) paths.set(key, (list = []));
        list.push(`M${s.x + c * cp} ${s.y + r * cp}h${(end - c) * cp}v${cp}h${-(end - c) * cp}z`);
        c = end;
      }
    }
    let body = '';
    for (const [fill, d] of paths) body += `<path fill="${fill}" d="${d.join('')}"/>`;
    doc.raw(`<g shape-rendering="crispEdges">${body}</g>`);
    return;
  }
  const png = encodeRgbPng(colors, cols, rows).toString('base64');
  doc.raw(
    `<image x="${s.x}" y="${s.y}" width="${cols * cp}" height="${rows * cp}" preserveAspectRatio="none" ` +
      `image-rendering="optimizeSpeed" style="image-rendering:pixelated" xlink:href="data:image/png;base64,${png}"/>`,
  );
}

/** RGB bytes of every cell from a colour function. */
export function cellColors(n: number, color: (i: number) => RGB): Uint8Array {
  const out = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) out.set(color(i), 3 * i);
  return out;
}

/**
 * Outline the edges between neighbouring cells whose keys differ, and the sheet-border edges of cells
 * with a key other than 0 (keys ≥ 0, one per cell). With `width` 2 the line straddles the edge; with 1
 * it lies inside the cell with the larger key. Collinear neighbouring edges are merged into one segment.
 */
export function drawOutlines(doc: SvgDoc, s: SheetRect, rows: number, cols: number, color: RGB, width: 1 | 2, keys: Int32Array): void {
  const cp = s.cellPx;
  const segs: string[] = [];
  // Offset of the line from the edge: 0 (straddling), or half a pixel into the larger-key side.
  const offset = (a: number, b: number): number => (width === 2 ? 0 : a > b ? -0.5 : 0.5);
  // Horizontal edges between rows r−1 and r: runs along c.
  for (let r = 0; r <= rows; r++) {
    let start = -1;
    let off = 0;
    for (let c = 0; c <= cols; c++) {
      const a = c < cols && r > 0 ? keys[(r - 1) * cols + c] : 0;
      const b = c < cols && r < rows ? keys[r * cols + c] : 0;
      const o = a !== b ? offset(a, b) : NaN;
      if (start >= 0 && o !== off) {
        segs.push(`M${num(s.x + start * cp)} ${num(s.y + r * cp + off)}H${s.x + c * cp}`);
        start = -1;
      }
      if (a !== b && start < 0) {
        start = c;
        off = o;
      }
    }
  }
  // Vertical edges between columns c−1 and c: runs along r.
  for (let c = 0; c <= cols; c++) {
    let start = -1;
    let off = 0;
    for (let r = 0; r <= rows; r++) {
      const a = r < rows && c > 0 ? keys[r * cols + c - 1] : 0;
      const b = r < rows && c < cols ? keys[r * cols + c] : 0;
      const o = a !== b ? offset(a, b) : NaN;
      if (start >= 0 && o !== off) {
        segs.push(`M${num(s.x + c * cp + off)} ${num(s.y + start * cp)}V${s.y + r * cp}`);
        start = -1;
      }
      if (a !== b && start < 0) {
        start = r;
        off = o;
      }
    }
  }
  if (!segs.length) return;
  doc.raw(`<path fill="none" stroke="${hex(color)}" stroke-width="${width}" stroke-linecap="${width === 2 ? 'square' : 'butt'}" d="${segs.join('')}"/>`);
}
