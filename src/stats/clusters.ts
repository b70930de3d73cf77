/**
 * Supra-threshold clusters on the sheet: connected components (4- or 8-neighbour) of cells above a
 * cluster-forming threshold, positive and negative t separately.
 *
 * Maps are rows×cols Float64Arrays in row-major order; NaN cells (no unit there) are never part of a cluster.
 */

import type { Connectivity, ThresholdScale } from '../domain/stats.ts';

/** Scale of a cluster-forming threshold. */
export type ClusterScale = ThresholdScale;
export type { Connectivity };

export interface ClusterOptions {
  /** Cluster-forming threshold: |t| ≥ threshold (scale 'abs-t', threshold > 0) or p ≤ threshold (scale 'p'). */
  threshold: number;
  scale: ClusterScale;
  /** Two-sided p per cell; required for scale 'p'. */
  pMap?: Float64Array;
  connectivity: Connectivity;
  /** Clusters with fewer cells are dropped (label 0). Default 1. */
  minSize?: number;
}

export interface Cluster {
  /** 1-based; clusters are numbered by decreasing mass (ties: larger size, then earlier first cell). */
  id: number;
  sign: 1 | -1;
  /** Number of cells. */
  size: number;
  /** Σ|t| over the cells. */
  mass: number;
  /** The t of largest |t| (signed). */
  peakT: number;
  peakRow: number;
  peakCol: number;
  /** Row-major cell index of the peak (map the cell to a unit with the layer's layout). */
  peakIndex: number;
  /** Mean row and mean column of the cells. */
  centroidRow: number;
  centroidCol: number;
}

export interface ClusterResult {
  clusters: Cluster[];
  /** Per cell: 0 = no cluster, else the cluster id. */
  labels: Int32Array;
}

/** Reusable work buffers for repeated cluster searches on maps of the same size. */
export class ClusterScratch {
  readonly cells: number;
  /** Per cell: +1 / −1 when supra-threshold with that sign, else 0. */
  readonly sgn: Int8Array;
  /** Per cell: component number (0 = unvisited). */
  readonly comp: Int32Array;
  /** BFS queue. */
  readonly queue: Int32Array;
  constructor(cells: number) {
    this.cells = cells;
    this.sgn = new Int8Array(cells);
    this.comp = new Int32Array(cells);
    this.queue = new Int32Array(cells);
  }
}

const DR4 = new Int32Array([-1, 1, 0, 0]);
const DC4 = new Int32Array([0, 0, -1, 1]);
const DR8 = new Int32Array([-1, -1, -1, 0, 0, 1, 1, 1]);
const DC8 = new Int32Array([-1, 0, 1, -1, 1, -1, 0, 1]);

function checkGrid(map: ArrayLike<number>, rows: number, cols: number): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) {
    throw new Error(`clusters: rows and cols must be positive integers (got ${rows}×${cols})`);
  }
  if (map.length !== rows * cols) throw new Error(`clusters: map has ${map.length} cells, expected ${rows}×${cols} = ${rows * cols}`);
}

function checkOptions(opts: ClusterOptions, cells: number): void {
  if (opts.connectivity !== 4 && opts.connectivity !== 8) throw new Error(`clusters: connectivity must be 4 or 8 (got ${String(opts.connectivity)})`);
  if (opts.scale === 'abs-t') {
    if (!(opts.threshold > 0)) throw new Error(`clusters: an |t| threshold must be > 0 (got ${opts.threshold})`);
  } else if (opts.scale === 'p') {
    if (!(opts.threshold > 0 && opts.threshold <= 1)) throw new Error(`clusters: a p threshold must be in (0, 1] (got ${opts.threshold})`);
    if (!opts.pMap) throw new Error("clusters: scale 'p' needs pMap");
    if (opts.pMap.length !== cells) throw new Error(`clusters: pMap has ${opts.pMap.length} cells, expected ${cells}`);
  } else {
    throw new Error(`clusters: scale must be 'abs-t' or 'p' (got ${String(opts.scale)})`);
  }
}

/** Fill scratch.sgn: +1 / −1 for supra-threshold cells (t > 0 / t < 0), else 0. */
function markSupra(map: ArrayLike<number>, opts: ClusterOptions, sgn: Int8Array): void {
  const n = sgn.length;
  const thr = opts.threshold;
  if (opts.scale === 'abs-t') {
    for (let i = 0; i < n; i++) {
      const t = map[i];
      sgn[i] = t >= thr ? 1 : t <= -thr ? -1 : 0;
    }
  } else {
    const pm = opts.pMap as Float64Array;
    for (let i = 0; i < n; i++) {
      const t = map[i];
      sgn[i] = pm[i] <= thr ? (t > 0 ? 1 : t < 0 ? -1 : 0) : 0;
    }
  }
}

/**
 * Label the connected components of cells with the same non-zero scratch.sgn into scratch.comp (1-based,
 * numbered in order of their first cell; 0 where sgn is 0) and call onCell(compId, cellIndex) for every
 * cell in BFS order. Returns the number of components.
 */
export function labelComponents(
  rows: number,
  cols: number,
  connectivity: Connectivity,
  scratch: ClusterScratch,
  onCell: ((comp: number, cell: number) => void) | null,
): number {
  const { sgn, comp, queue } = scratch;
  const n = rows * cols;
  const dr = connectivity === 4 ? DR4 : DR8;
  const dc = connectivity === 4 ? DC4 : DC8;
  const nb = dr.length;
  comp.fill(0);
  let count = 0;
  for (let start = 0; start < n; start++) {
    const s = sgn[start];
    if (s === 0 || comp[start] !== 0) continue;
    const id = ++count;
    comp[start] = id;
    let head = 0;
    let tail = 0;
    queue[tail++] = start;
    while (head < tail) {
      const cell = queue[head++];
      if (onCell !== null) onCell(id, cell);
      const r = (cell / cols) | 0;
      const c = cell - r * cols;
      for (let k = 0; k < nb; k++) {
        const rr = r + dr[k];
        const cc = c + dc[k];
        if (rr < 0 || rr >= rows || cc < 0 || cc >= cols) continue;
        const nbCell = rr * cols + cc;
        if (sgn[nbCell] === s && comp[nbCell] === 0) {
          comp[nbCell] = id;
          queue[tail++] = nbCell;
        }
      }
    }
  }
  return count;
}

/** Find the clusters of a t-map and build the cluster table and label image. */
export function findClusters(map: Float64Array, rows: number, cols: number, opts: ClusterOptions): ClusterResult {
  checkGrid(map, rows, cols);
  const n = rows * cols;
  checkOptions(opts, n);
  const minSize = opts.minSize ?? 1;
  const scratch = new ClusterScratch(n);
  markSupra(map, opts, scratch.sgn);

  // Per component accumulators, grown as needed.
  const acc: { sign: 1 | -1; size: number; mass: number; peakT: number; peakIndex: number; sumR: number; sumC: number; first: number }[] = [];
  labelComponents(rows, cols, opts.connectivity, scratch, (id, cell) => {
    const t = map[cell];
    const at = Math.abs(t);
    const r = (cell / cols) | 0;
    const c = cell - r * cols;
    let a = acc[id - 1];
    if (a === undefined) {
      a = { sign: scratch.sgn[cell] > 0 ? 1 : -1, size: 0, mass: 0, peakT: t, peakIndex: cell, sumR: 0, sumC: 0, first: cell };
      acc[id - 1] = a;
    }
    a.size++;
    a.mass += at;
    a.sumR += r;
    a.sumC += c;
    // Peak: largest |t|; ties → lower cell index.
    if (at > Math.abs(a.peakT) || (at === Math.abs(a.peakT) && cell < a.peakIndex)) {
      a.peakT = t;
      a.peakIndex = cell;
    }
  });

  const keep: number[] = [];
  for (let k = 0; k < acc.length; k++) if (acc[k].size >= minSize) keep.push(k);
  keep.sort((x, y) => acc[y].mass - acc[x].mass || acc[y].size - acc[x].size || acc[x].first - acc[y].first);
  const newId = new Int32Array(acc.length + 1); // old component id → new cluster id (0 = dropped)
  const clusters: Cluster[] = keep.map((k, i) => {
    const a = acc[k];
    newId[k + 1] = i + 1;
    const peakRow = (a.peakIndex / cols) | 0;
    return {
      id: i + 1,
      sign: a.sign,
      size: a.size,
      mass: a.mass,
      peakT: a.peakT,
      peakRow,
      peakCol: a.peakIndex - peakRow * cols,
      peakIndex: a.peakIndex,
      centroidRow: a.sumR / a.size,
      centroidCol: a.sumC / a.size,
    };
  });
  const labels = new Int32Array(n);
  const comp = scratch.comp;
  for (let i = 0; i < n; i++) labels[i] = comp[i] === 0 ? 0 : newId[comp[i]];
  return { clusters, labels };
}

export interface MaxClusterStats {
  /** Largest cluster mass (Σ|t|) over both signs; 0 when there is no cluster. */
  maxMass: number;
  /** Largest cluster size over both signs; 0 when there is no cluster. */
  maxSize: number;
}

/**
 * Largest cluster mass and size of a map (both signs), without building cluster objects: the statistic of
 * a cluster-level permutation null. Pass a {@link ClusterScratch} (and an `out` object) to make repeated
 * calls allocation-free. Clusters smaller than minSize are ignored.
 */
export function maxClusterStats(
  map: Float64Array,
  rows: number,
  cols: number,
  opts: ClusterOptions,
  scratch?: ClusterScratch,
  out?: MaxClusterStats,
): MaxClusterStats {
  checkGrid(map, rows, cols);
  const n = rows * cols;
  checkOptions(opts, n);
  const s = scratch ?? new ClusterScratch(n);
  if (s.cells !== n) throw new Error(`maxClusterStats: scratch is for ${s.cells} cells, map has ${n}`);
  const res = out ?? { maxMass: 0, maxSize: 0 };
  const minSize = opts.minSize ?? 1;
  markSupra(map, opts, s.sgn);

  const { sgn, comp, queue } = s;
  const dr = opts.connectivity === 4 ? DR4 : DR8;
  const dc = opts.connectivity === 4 ? DC4 : DC8;
  const nb = dr.length;
  comp.fill(0);
  let maxMass = 0;
  let maxSize = 0;
  for (let start = 0; start < n; start++) {
    const sg = sgn[start];
    if (sg === 0 || comp[start] !== 0) continue;
    comp[start] = 1;
    let head = 0;
    let tail = 0;
    queue[tail++] = start;
    let mass = 0;
    while (head < tail) {
      const cell = queue[head++];
      mass += Math.abs(map[cell]);
      const r = (cell / cols) | 0;
      const c = cell - r * cols;
      for (let k = 0; k < nb; k++) {
        const rr = r + dr[k];
        const cc = c + dc[k];
        if (rr < 0 || rr >= rows || cc < 0 || cc >= cols) continue;
        const nbCell = rr * cols + cc;
        if (sgn[nbCell] === sg && comp[nbCell] === 0) {
          comp[nbCell] = 1;
          queue[tail++] = nbCell;
        }
      }
    }
    if (tail >= minSize) {
      if (mass > maxMass) maxMass = mass;
      if (tail > maxSize) maxSize = tail;
    }
  }
  res.maxMass = maxMass;
  res.maxSize = maxSize;
  return res;
}
