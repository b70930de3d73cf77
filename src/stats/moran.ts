/**
 * Moran's I of a sheet map with binary contiguity weights (queen = 8 neighbours, rook = 4) over the
 * occupied (non-NaN) cells, unsmoothed, and its spatial permutation null.
 *
 *   I = (n / W) · Σ_i Σ_j w_ij z_i z_j / Σ_i z_i²,   z = x − mean(x),   W = Σ_ij w_ij (ordered pairs)
 *
 * Occupied cells without occupied neighbours stay in n and in Σz² (as PySAL does with islands).
 */
import { Rng } from './rng.ts';

import type { Contiguity } from '../domain/stats.ts';

export type { Contiguity };

export interface ContiguityGraph {
  /** Number of occupied cells. */
  n: number;
  /** Occupied cell index (row-major) of each compact node 0 … n−1. */
  cells: Int32Array;
  /** CSR neighbour lists over compact nodes: neighbours of k are neighbors[offsets[k] … offsets[k+1]). */
  offsets: Int32Array;
  neighbors: Int32Array;
  /** Where k's neighbours after k start in its list (the lists are in increasing order). */
  forward: Int32Array;
  /** Σ w_ij = total number of (ordered) neighbour pairs. */
  W: number;
  /** Every cell occupied (node k is cell k): the sheet's shape and contiguity, for the fast sum. */
  full: { rows: number; cols: number; contiguity: Contiguity } | null;
}

/** Binary contiguity among the non-NaN cells of a rows×cols map. */
export function contiguityGraph(map: ArrayLike<number>, rows: number, cols: number, contiguity: Contiguity): ContiguityGraph {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) throw new Error(`moran: bad grid ${rows}×${cols}`);
  if (map.length !== rows * cols) throw new Error(`moran: map has ${map.length} cells, expected ${rows * cols}`);
  if (contiguity !== 'queen' && contiguity !== 'rook') throw new Error(`moran: contiguity must be 'queen' or 'rook' (got ${String(contiguity)})`);
  const N = rows * cols;
  const node = new Int32Array(N).fill(-1);
  let n = 0;
  for (let i = 0; i < N; i++) if (!Number.isNaN(map[i])) node[i] = n++;
  const cells = new Int32Array(n);
  for (let i = 0; i < N; i++) if (node[i] >= 0) cells[node[i]] = i;
  const dr = contiguity === 'rook' ? [-1, 0, 0, 1] : [-1, -1, -1, 0, 0, 1, 1, 1];
  const dc = contiguity === 'rook' ? [0, -1, 1, 0] : [-1, 0, 1, -1, 1, -1, 0, 1];
  // Row-major offsets: the first half lists the neighbours before a cell, the second those after it.
  const half = dr.length / 2;
  const offsets = new Int32Array(n + 1);
  const forward = new Int32Array(n);
  const tmp = new Int32Array(n * dr.length);
  let W = 0;
  for (let k = 0; k < n; k++) {
    const cell = cells[k];
    const r = (cell / cols) | 0;
    const c = cell - r * cols;
    for (let q = 0; q < dr.length; q++) {
      if (q === half) forward[k] = W;
      const rr = r + dr[q];
      const cc = c + dc[q];
      if (rr < 0 || rr >= rows || cc < 0 || cc >= cols) continue;
      const j = node[rr * cols + cc];
      if (j >= 0) tmp[W++] = j;
    }
    offsets[k + 1] = W;
  }
  return { n, cells, offsets, neighbors: tmp.slice(0, W), forward, W, full: n === N ? { rows, cols, contiguity } : null };
}

/** Σ_k z_k Σ_{j∈N(k)} z_j, as twice the sum over the pairs j > k (the weights are symmetric). */
function crossSum(z: Float64Array, g: ContiguityGraph): number {
  if (g.full && g.full.rows >= 3 && g.full.cols >= 3) return crossSumFull(z, g, g.full.rows, g.full.cols, g.full.contiguity === 'queen');
  const { offsets, neighbors, forward, n } = g;
  let s = 0;
  for (let k = 0; k < n; k++) s += z[k] * forwardSum(z, forward, offsets, neighbors, k);
  return 2 * s;
}

/** Σ z_j over the neighbours j > k of k. */
function forwardSum(z: Float64Array, forward: Int32Array, offsets: Int32Array, neighbors: Int32Array, k: number): number {
  let acc = 0;
  for (let q = forward[k]; q < offsets[k + 1]; q++) acc += z[neighbors[q]];
  return acc;
}

/**
 * `crossSum` of a fully occupied grid: interior cells add their neighbours after them (right, and the
 * row below) at fixed offsets, in the order the graph lists them (so the sum is the same to the last
 * bit), border cells through the graph.
 */
function crossSumFull(z: Float64Array, g: ContiguityGraph, rows: number, cols: number, queen: boolean): number {
  const { offsets, neighbors, forward } = g;
  let s = 0;
  for (let c = 0; c < cols; c++) s += z[c] * forwardSum(z, forward, offsets, neighbors, c);
  for (let r = 1; r < rows - 1; r++) {
    const row = r * cols;
    s += z[row] * forwardSum(z, forward, offsets, neighbors, row);
    const end = row + cols - 1;
    if (queen) {
      for (let k = row + 1; k < end; k++) {
        const dn = k + cols;
        s += z[k] * (z[k + 1] + z[dn - 1] + z[dn] + z[dn + 1]);
      }
    } else {
      for (let k = row + 1; k < end; k++) s += z[k] * (z[k + 1] + z[k + cols]);
    }
    s += z[end] * forwardSum(z, forward, offsets, neighbors, end);
  }
  for (let k = (rows - 1) * cols; k < rows * cols; k++) s += z[k] * forwardSum(z, forward, offsets, neighbors, k);
  return 2 * s;
}

/** Centred values of the occupied cells (compact order) and Σz². */
function centred(map: ArrayLike<number>, g: ContiguityGraph): { z: Float64Array; ss: number } {
  const z = new Float64Array(g.n);
  let mean = 0;
  for (let k = 0; k < g.n; k++) mean += map[g.cells[k]];
  mean /= g.n;
  let ss = 0;
  for (let k = 0; k < g.n; k++) {
    const v = map[g.cells[k]] - mean;
    z[k] = v;
    ss += v * v;
  }
  return { z, ss };
}

export interface MoranOptions {
  contiguity: Contiguity;
}

/** Moran's I; NaN when fewer than 2 occupied cells, no neighbour pairs, or a constant map. */
export function moranI(map: ArrayLike<number>, rows: number, cols: number, opts: MoranOptions): number {
  const g = contiguityGraph(map, rows, cols, opts.contiguity);
  if (g.n < 2 || g.W === 0) return NaN;
  const { z, ss } = centred(map, g);
  if (!(ss > 0)) return NaN;
  return ((g.n / g.W) * crossSum(z, g)) / ss;
}

export interface MoranPermutationOptions extends MoranOptions {
  permutations: number;
  seed: number;
  /**
   * The arrangements of this seed and permutation count for `n` occupied cells (`shuffleTable`), or
   * undefined to shuffle as it goes; asked once the cells are counted.
   */
  table?: (n: number) => ShuffleTable | undefined;
}

/**
 * The arrangements a seeded permutation null visits: row k holds, for each occupied cell (compact
 * order), the index of the value it has after k + 1 shuffles. They depend on the seed, the number of
 * cells and of permutations, not on the values, so the layers of a job (one sheet size, one seed) can
 * share them instead of each drawing the same 999 × n random numbers again.
 */
export interface ShuffleTable {
  seed: number;
  n: number;
  permutations: number;
  rows: Uint16Array | Int32Array;
}

export function shuffleTable(seed: number, n: number, permutations: number): ShuffleTable {
  const idx = n <= 65536 ? new Uint16Array(n) : new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const rows = n <= 65536 ? new Uint16Array(n * permutations) : new Int32Array(n * permutations);
  const rng = new Rng(seed);
  for (let k = 0; k < permutations; k++) {
    rng.shuffle(idx);
    rows.set(idx, k * n);
  }
  return { seed, n, permutations, rows };
}

export interface MoranPermutationResult {
  I: number;
  /** E[I] under no autocorrelation: −1/(n − 1). */
  expected: number;
  /** One-sided (upper) permutation p: (1 + #{I_perm ≥ I}) / (1 + permutations). */
  p: number;
  /** Mean and SD (ddof 1) of the permutation null. */
  nullMean: number;
  nullSd: number;
  /** (I − nullMean) / nullSd. */
  zScore: number;
  /** Number of occupied cells. */
  n: number;
  permutations: number;
}

/**
 * Moran's I with a spatial permutation null: the values are shuffled among the occupied cells (the
 * occupancy pattern and so the weights stay fixed). Seeded; the observed map is not counted among the
 * permutations.
 */
export function moranPermutation(map: ArrayLike<number>, rows: number, cols: number, opts: MoranPermutationOptions): MoranPermutationResult {
  const P = opts.permutations;
  if (!Number.isInteger(P) || P < 1) throw new Error(`moranPermutation: permutations must be a positive integer (got ${P})`);
  const g = contiguityGraph(map, rows, cols, opts.contiguity);
  const n = g.n;
  const expected = n > 1 ? -1 / (n - 1) : NaN;
  const { z, ss } = centred(map, g);
  if (n < 2 || g.W === 0 || !(ss > 0)) {
    return { I: NaN, expected, p: NaN, nullMean: NaN, nullSd: NaN, zScore: NaN, n, permutations: P };
  }
  const scale = n / g.W / ss;
  const I = crossSum(z, g) * scale;
  const t = opts.table?.(n);
  if (t && (t.seed !== opts.seed || t.n !== n || t.permutations !== P)) {
    throw new Error(`moranPermutation: the shuffle table is for seed ${t.seed}, ${t.n} cells, ${t.permutations} permutations (not ${opts.seed}, ${n}, ${P})`);
  }
  const rng = t ? null : new Rng(opts.seed);
  const zp = z.slice();
  let ge = 0;
  let mean = 0;
  let m2 = 0;
  for (let k = 1; k <= P; k++) {
    if (t) {
      // The same arrangement the k-th shuffle gives: the values gathered by the table's row.
      const row = t.rows.subarray((k - 1) * n, k * n);
      for (let i = 0; i < n; i++) zp[i] = z[row[i]];
    } else rng!.shuffle(zp);
    const Ik = crossSum(zp, g) * scale;
    if (Ik >= I) ge++;
    const d = Ik - mean;
    mean += d / k;
    m2 += d * (Ik - mean);
  }
  const sd = P > 1 ? Math.sqrt(m2 / (P - 1)) : NaN;
  return { I, expected, p: (1 + ge) / (1 + P), nullMean: mean, nullSd: sd, zScore: (I - mean) / sd, n, permutations: P };
}
