/**
 * The cortical sheet: where every unit of a topographic layer sits.
 *
 * A layout is resolved once per layer into a `SheetLayout`, an explicit two-way mapping between units
 * and the row-major cells of a rows×cols raster. Maps, neighbourhoods (clusters, Moran's I) and the JSON
 * output all go through that raster, so grids, permuted grids (TopoLM) and learned coordinates (TDANN)
 * are handled the same way downstream.
 */
import type { Layout } from '../domain/manifest.ts';
import type { SheetLayout } from '../domain/sheet.ts';

/** A layout that cannot be used for the layer it was given for. `field` names the offending field. */
export class LayoutError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = 'LayoutError';
    this.field = field;
  }
}

export type { SheetLayout };

/** The part of a layout that scatter and gather need (stored layer results carry it too). */
export type CellMap = Pick<SheetLayout, 'rows' | 'cols' | 'cellOfUnit'>;

/** Largest side of a raster made from explicit coordinates. */
export const MAX_RASTER_SIDE = 1024;

function isPositiveInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1;
}

/**
 * TopoLoss sheet for n units: rows = the largest divisor of n that is ≤ √n, cols = n / rows.
 * 64 → 8×8, 128 → 8×16, 1000 → 25×40, a prime p → 1×p.
 */
export function topolossGrid(n: number): { rows: number; cols: number } {
  if (!isPositiveInteger(n)) {
    throw new LayoutError('nUnits', `expected a positive integer number of units, found ${String(n)}`);
  }
  let r = Math.floor(Math.sqrt(n));
  while ((r + 1) * (r + 1) <= n) r++;
  while (r * r > n) r--;
  while (n % r !== 0) r--;
  return { rows: r, cols: n / r };
}

/** Resolve a manifest layout (or the TopoLoss default when none is given) for a layer of `nUnits` units. */
export function resolveLayout(layout: Layout | undefined, nUnits: number): SheetLayout {
  if (!isPositiveInteger(nUnits)) {
    throw new LayoutError('nUnits', `expected a positive integer number of units, found ${String(nUnits)}`);
  }
  if (layout === undefined) return resolveGrid(undefined, undefined, undefined, nUnits);
  if (layout.type === 'grid') return resolveGrid(layout.rows, layout.cols, layout.permutation, nUnits);
  if (layout.type === 'coordinates') return resolveCoordinates(layout.x, layout.y, layout.cellSize, nUnits);
  throw new LayoutError('type', `expected layout type 'grid' or 'coordinates', found ${JSON.stringify((layout as { type?: unknown }).type)}`);
}

function resolveGrid(
  rowsIn: number | undefined,
  colsIn: number | undefined,
  permutation: readonly number[] | undefined,
  n: number,
): SheetLayout {
  for (const [field, v] of [['rows', rowsIn], ['cols', colsIn]] as const) {
    if (v !== undefined && !isPositiveInteger(v)) {
      throw new LayoutError(field, `expected ${field} to be a positive integer, found ${String(v)}`);
    }
  }
  let rows: number;
  let cols: number;
  if (rowsIn !== undefined && colsIn !== undefined) {
    rows = rowsIn;
    cols = colsIn;
    if (permutation === undefined && rows * cols !== n) {
      throw new LayoutError('rows', `expected rows×cols to equal the layer's ${n} units, found ${rows}×${cols} = ${rows * cols}`);
    }
    if (permutation !== undefined && rows * cols < n) {
      throw new LayoutError('rows', `expected rows×cols to be at least the layer's ${n} units (a permuted grid may have empty cells), found ${rows}×${cols} = ${rows * cols}`);
    }
  } else if (rowsIn !== undefined) {
    if (n % rowsIn !== 0) {
      throw new LayoutError('rows', `expected rows to divide the layer's ${n} units when cols is not given, found rows = ${rowsIn}`);
    }
    rows = rowsIn;
    cols = n / rowsIn;
  } else if (colsIn !== undefined) {
    if (n % colsIn !== 0) {
      throw new LayoutError('cols', `expected cols to divide the layer's ${n} units when rows is not given, found cols = ${colsIn}`);
    }
    cols = colsIn;
    rows = n / colsIn;
  } else {
    ({ rows, cols } = topolossGrid(n));
  }

  const nCells = rows * cols;
  const cellOfUnit = new Int32Array(n);
  const unitOfCell = new Int32Array(nCells).fill(-1);
  if (permutation === undefined) {
    for (let i = 0; i < n; i++) {
      cellOfUnit[i] = i;
      unitOfCell[i] = i;
    }
  } else {
    if (!Array.isArray(permutation) || permutation.length !== n) {
      const found = Array.isArray(permutation) ? `length ${permutation.length}` : typeof permutation;
      throw new LayoutError('permutation', `expected one cell per unit (length ${n}), found ${found}`);
    }
    for (let i = 0; i < n; i++) {
      const c = permutation[i];
      if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c >= nCells) {
        throw new LayoutError('permutation', `expected permutation[${i}] to be an integer cell in [0, ${nCells - 1}] (rows ${rows} × cols ${cols}), found ${String(c)}`);
      }
      if (unitOfCell[c] !== -1) {
        throw new LayoutError('permutation', `expected every unit in its own cell, found units ${unitOfCell[c]} and ${i} both at cell ${c}`);
      }
      unitOfCell[c] = i;
      cellOfUnit[i] = c;
    }
  }
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const c = cellOfUnit[i];
    x[i] = c % cols;
    y[i] = Math.floor(c / cols);
  }
  return { type: 'grid', rows, cols, cellOfUnit, unitOfCell, x, y };
}

function resolveCoordinates(xs: readonly number[], ys: readonly number[], cellSizeIn: number | undefined, n: number): SheetLayout {
  for (const [field, arr] of [['x', xs], ['y', ys]] as const) {
    if (!Array.isArray(arr) || arr.length !== n) {
      const found = Array.isArray(arr) ? `length ${arr.length}` : typeof arr;
      throw new LayoutError(field, `expected one ${field} coordinate per unit (length ${n}), found ${found}`);
    }
    for (let i = 0; i < n; i++) {
      const v = arr[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new LayoutError(field, `expected finite numbers, found ${field}[${i}] = ${String(v)}`);
      }
    }
  }
  if (cellSizeIn !== undefined && !(typeof cellSizeIn === 'number' && Number.isFinite(cellSizeIn) && cellSizeIn > 0)) {
    throw new LayoutError('cellSize', `expected a finite cellSize > 0, found ${String(cellSizeIn)}`);
  }
  const x = Float64Array.from(xs);
  const y = Float64Array.from(ys);

  // Two units at the same point can never get cells of their own.
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const key = `${x[i]},${y[i]}`;
    const j = seen.get(key);
    if (j !== undefined) {
      throw new LayoutError('x', `expected distinct coordinates per unit, found units ${j} and ${i} both at (${x[i]}, ${y[i]})`);
    }
    seen.set(key, i);
  }

  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (let i = 0; i < n; i++) {
    if (x[i] < minX) minX = x[i];
    if (x[i] > maxX) maxX = x[i];
    if (y[i] < minY) minY = y[i];
    if (y[i] > maxY) maxY = y[i];
  }
  const extent = Math.max(maxX - minX, maxY - minY);

  const rasterise = (cs: number): { rows: number; cols: number; cellOfUnit: Int32Array; unitOfCell: Int32Array } | 'too-large' | 'collision' => {
    const cols = Math.round((maxX - minX) / cs) + 1;
    const rows = Math.round((maxY - minY) / cs) + 1;
    if (!(cols <= MAX_RASTER_SIDE && rows <= MAX_RASTER_SIDE)) return 'too-large';
    const cellOfUnit = new Int32Array(n);
    const unitOfCell = new Int32Array(rows * cols).fill(-1);
    for (let i = 0; i < n; i++) {
      const c = Math.round((x[i] - minX) / cs);
      const r = Math.round((y[i] - minY) / cs);
      const cell = r * cols + c;
      if (unitOfCell[cell] !== -1) return 'collision';
      unitOfCell[cell] = i;
      cellOfUnit[i] = cell;
    }
    return { rows, cols, cellOfUnit, unitOfCell };
  };

  let cellSize: number;
  let raster: ReturnType<typeof rasterise>;
  if (cellSizeIn !== undefined) {
    cellSize = cellSizeIn;
    raster = rasterise(cellSize);
    if (raster === 'too-large') {
      throw new LayoutError('cellSize', `expected a cellSize giving at most ${MAX_RASTER_SIDE}×${MAX_RASTER_SIDE} cells, found cellSize ${cellSize} over a coordinate extent of ${extent} (${Math.round(extent / cellSize) + 1} cells on the long side)`);
    }
    if (raster === 'collision') {
      throw new LayoutError('cellSize', `expected a cellSize that puts every unit in its own cell, found two units sharing a cell at cellSize ${cellSize}; omit cellSize to choose one automatically`);
    }
  } else if (n === 1) {
    cellSize = 1;
    raster = rasterise(cellSize);
  } else {
    cellSize = medianNearestNeighbourDistance(x, y);
    for (;;) {
      raster = rasterise(cellSize);
      if (raster === 'too-large') {
        const side = Math.round(extent / cellSize) + 1;
        throw new LayoutError('x', `expected coordinates that fit a raster of at most ${MAX_RASTER_SIDE}×${MAX_RASTER_SIDE} cells with one unit per cell, found units too close together for their extent ${extent}: separating them needs a cell size below ${cellSize}, i.e. ${side} cells on the long side`);
      }
      if (raster !== 'collision') break;
      cellSize *= 0.9;
    }
  }
  if (typeof raster === 'string') throw new Error('unreachable');
  return { type: 'coordinates', ...raster, x, y, cellSize };
}

/**
 * Median distance from each point to its nearest other point (points assumed distinct, n ≥ 2).
 * Uses a uniform bucket grid searched in growing rings, so it stays near O(n) for sheet-like layouts.
 */
export function medianNearestNeighbourDistance(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n < 2) return NaN;
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (let i = 0; i < n; i++) {
    minX = Math.min(minX, x[i]);
    maxX = Math.max(maxX, x[i]);
    minY = Math.min(minY, y[i]);
    maxY = Math.max(maxY, y[i]);
  }
  const w = maxX - minX;
  const h = maxY - minY;
  let s = Math.max(Math.sqrt((w * h) / n), Math.max(w, h) / (2 * n));
  if (!(s > 0)) s = 1;
  const bw = Math.floor(w / s) + 1;
  const bh = Math.floor(h / s) + 1;
  // Counting sort of points into buckets.
  const bucketOf = new Int32Array(n);
  const start = new Int32Array(bw * bh + 1);
  for (let i = 0; i < n; i++) {
    const bx = Math.min(bw - 1, Math.floor((x[i] - minX) / s));
    const by = Math.min(bh - 1, Math.floor((y[i] - minY) / s));
    bucketOf[i] = by * bw + bx;
    start[bucketOf[i] + 1]++;
  }
  for (let b = 0; b < bw * bh; b++) start[b + 1] += start[b];
  const fill = start.slice(0, bw * bh);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[fill[bucketOf[i]]++] = i;

  const nn = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const bx = bucketOf[i] % bw;
    const by = Math.floor(bucketOf[i] / bw);
    let best = Infinity;
    for (let k = 0; ; k++) {
      const y0 = by - k, y1 = by + k, x0 = bx - k, x1 = bx + k;
      for (let cy = Math.max(0, y0); cy <= Math.min(bh - 1, y1); cy++) {
        const onEdgeRow = cy === y0 || cy === y1;
        for (let cx = Math.max(0, x0); cx <= Math.min(bw - 1, x1); cx++) {
          if (!onEdgeRow && cx !== x0 && cx !== x1) continue; // only the ring at Chebyshev distance k
          const b = cy * bw + cx;
          for (let p = start[b]; p < start[b + 1]; p++) {
            const j = order[p];
            if (j === i) continue;
            const d = Math.hypot(x[j] - x[i], y[j] - y[i]);
            if (d < best) best = d;
          }
        }
      }
      // Points in ring k+1 or beyond are at least k·s away.
      if (best <= k * s) break;
      if (x0 <= 0 && y0 <= 0 && x1 >= bw - 1 && y1 >= bh - 1) break;
    }
    nn[i] = best;
  }
  nn.sort();
  return n % 2 === 1 ? nn[(n - 1) / 2] : (nn[n / 2 - 1] + nn[n / 2]) / 2;
}

/** Paint per-unit values on the sheet: a rows*cols row-major array, `fill` (NaN) in empty cells. */
export function toSheet(values: ArrayLike<number>, layout: CellMap, fill = NaN): Float64Array {
  const n = layout.cellOfUnit.length;
  if (values.length !== n) {
    throw new LayoutError('values', `expected ${n} values (one per unit), found ${values.length}`);
  }
  const sheet = new Float64Array(layout.rows * layout.cols).fill(fill);
  for (let i = 0; i < n; i++) sheet[layout.cellOfUnit[i]] = values[i];
  return sheet;
}

/** Read per-unit values back from a rows*cols row-major sheet (the inverse of `toSheet`). */
export function fromSheet(sheet: ArrayLike<number>, layout: CellMap): Float64Array {
  const nCells = layout.rows * layout.cols;
  if (sheet.length !== nCells) {
    throw new LayoutError('sheet', `expected ${nCells} sheet cells (${layout.rows}×${layout.cols}), found ${sheet.length}`);
  }
  const n = layout.cellOfUnit.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = sheet[layout.cellOfUnit[i]];
  return out;
}

/** Integer labels per unit on the sheet (0 in empty cells): cluster labels, masks. */
export function labelsToSheet(labels: ArrayLike<number>, layout: CellMap): Int32Array {
  const out = new Int32Array(layout.rows * layout.cols);
  for (let i = 0; i < layout.cellOfUnit.length; i++) out[layout.cellOfUnit[i]] = labels[i];
  return out;
}

/** A 0/1 sheet marking the cells of the given units. */
export function unitsToSheetMask(units: ArrayLike<number>, layout: CellMap): Uint8Array {
  const out = new Uint8Array(layout.rows * layout.cols);
  for (let i = 0; i < units.length; i++) out[layout.cellOfUnit[units[i]]] = 1;
  return out;
}
