/** A layer's cortical sheet, resolved: the two-way mapping between units and raster cells. */
export interface SheetLayout {
  /** How the units were placed. */
  type: 'grid' | 'coordinates';
  rows: number;
  cols: number;
  /** unit → row-major cell index (row * cols + col). */
  cellOfUnit: Int32Array;
  /** row-major cell → unit, or −1 for an empty cell. */
  unitOfCell: Int32Array;
  /** Sheet x of every unit: the column for grids, the given coordinate for explicit layouts. */
  x: Float64Array;
  /** Sheet y of every unit: the row for grids, the given coordinate for explicit layouts. */
  y: Float64Array;
  /** Coordinates layouts only: the raster cell size used (cell (0, 0) is centred on (min x, min y)). */
  cellSize?: number;
}
