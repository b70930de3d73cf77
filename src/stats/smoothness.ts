/**
 * Smoothness curve of a map (TDANN-style): mean |Δvalue| between unit pairs, binned by the Euclidean
 * distance of their sheet positions, with a chance curve from shuffled positions.
 */
import { Rng } from './rng.ts';

export interface SmoothnessOptions {
  /** Number of equal-width distance bins over [0, maxDistance]. Default 20. */
  bins?: number;
  /** Pairs farther apart are ignored. Default: the diagonal of the used units' bounding box (≥ every distance). */
  maxDistance?: number;
  /** Above this many (non-NaN) units a seeded random subset of this size is used, all pairs within it. Default 4096. */
  maxUnits?: number;
  /** Number of position shuffles averaged into the chance curve. Default 1. */
  chanceShuffles?: number;
  /** Seed for the unit subset and the shuffles. Default 0. */
  seed?: number;
}

export interface SmoothnessResult {
  binEdges: Float64Array; // bins + 1
  binCenters: Float64Array;
  /** Mean |Δvalue| of the pairs in each bin (NaN for empty bins). */
  meanAbsDiff: Float64Array;
  /** Pairs in each bin. */
  counts: Float64Array;
  /** Mean |Δvalue| per bin after shuffling which value sits at which position (averaged over shuffles). */
  chanceMean: Float64Array;
  /** Mean |Δvalue| over all used pairs within maxDistance: the exact expectation of the chance curve. */
  overallMeanAbsDiff: number;
  /** Units used (after dropping NaN values and sub-sampling). */
  unitsUsed: number;
  sampled: boolean;
}

/**
 * values, x, y: one entry per unit (x = column direction, y = row direction). Units with a NaN value or
 * position are skipped. O(m²) in the number m of used units; units at distinct integer positions (a
 * grid sheet) are summed offset by offset, several times faster than pair by pair.
 */
export function smoothnessCurve(values: ArrayLike<number>, x: Float64Array, y: Float64Array, opts: SmoothnessOptions = {}): SmoothnessResult {
  const N = values.length;
  if (x.length !== N || y.length !== N) throw new Error(`smoothnessCurve: values (${N}), x (${x.length}) and y (${y.length}) lengths differ`);
  const bins = opts.bins ?? 20;
  const maxUnits = opts.maxUnits ?? 4096;
  const shuffles = opts.chanceShuffles ?? 1;
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`smoothnessCurve: bins must be a positive integer`);
  if (!Number.isInteger(maxUnits) || maxUnits < 2) throw new Error(`smoothnessCurve: maxUnits must be an integer ≥ 2`);
  if (!Number.isInteger(shuffles) || shuffles < 0) throw new Error(`smoothnessCurve: chanceShuffles must be a non-negative integer`);
  const rng = new Rng(opts.seed ?? 0);

  let idx: Int32Array;
  {
    const ok: number[] = [];
    for (let i = 0; i < N; i++) if (!Number.isNaN(values[i]) && Number.isFinite(x[i]) && Number.isFinite(y[i])) ok.push(i);
    idx = Int32Array.from(ok);
  }
  let sampled = false;
  if (idx.length > maxUnits) {
    // Partial Fisher–Yates: a uniform random subset of maxUnits units, then back in index order.
    for (let i = 0; i < maxUnits; i++) {
      const j = i + rng.nextInt(idx.length - i);
      const tmp = idx[i];
      idx[i] = idx[j];
      idx[j] = tmp;
    }
    idx = idx.slice(0, maxUnits).sort();
    sampled = true;
  }
  const m = idx.length;
  const v = new Float64Array(m);
  const px = new Float64Array(m);
  const py = new Float64Array(m);
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  let maxY = -Infinity;
  for (let k = 0; k < m; k++) {
    const i = idx[k];
    v[k] = values[i];
    px[k] = x[i];
    py[k] = y[i];
    if (px[k] < minX) minX = px[k];
    if (px[k] > maxX) maxX = px[k];
    if (py[k] < minY) minY = py[k];
    if (py[k] > maxY) maxY = py[k];
  }
  const maxD = opts.maxDistance ?? (m > 0 ? Math.hypot(maxX - minX, maxY - minY) : 0);
  if (!(maxD > 0)) throw new Error(`smoothnessCurve: maxDistance must be > 0 (need at least two distinct positions)`);
  const width = maxD / bins;
  const binEdges = new Float64Array(bins + 1);
  const binCenters = new Float64Array(bins);
  for (let b = 0; b <= bins; b++) binEdges[b] = b * width;
  binEdges[bins] = maxD;
  for (let b = 0; b < bins; b++) binCenters[b] = (b + 0.5) * width;

  // Each pass bins every pair once. The first adds |Δvalue| to the observed sums and, with the values
  // shuffled beforehand, to the first shuffle's chance sums; each further shuffle takes a pass of its own.
  const counts = new Float64Array(bins);
  const sums = new Float64Array(bins);
  const chanceSums = new Float64Array(bins);
  const vs = v.slice();
  const lattice = latticeOf(px, py);
  let totalSum = 0;
  const acc: PassSums = { v, vs, maxD, bins, invW: 1 / width, counts, sums, chanceSums };
  const pass = (observed: boolean, chance: boolean) => {
    totalSum += lattice ? latticePass(lattice, acc, observed, chance) : pairPass(px, py, acc, observed, chance);
  };
  if (shuffles > 0) rng.shuffle(vs);
  pass(true, shuffles > 0);
  for (let s = 1; s < shuffles; s++) {
    rng.shuffle(vs);
    pass(false, true);
  }
  let totalCount = 0;
  for (let b = 0; b < bins; b++) totalCount += counts[b];
  const meanAbsDiff = new Float64Array(bins);
  for (let b = 0; b < bins; b++) meanAbsDiff[b] = counts[b] > 0 ? sums[b] / counts[b] : NaN;
  const chanceMean = new Float64Array(bins).fill(NaN);
  if (shuffles > 0) for (let b = 0; b < bins; b++) chanceMean[b] = counts[b] > 0 ? chanceSums[b] / (counts[b] * shuffles) : NaN;
  return {
    binEdges,
    binCenters,
    meanAbsDiff,
    counts,
    chanceMean,
    overallMeanAbsDiff: totalCount > 0 ? totalSum / totalCount : NaN,
    unitsUsed: m,
    sampled,
  };
}

/** The values (observed, shuffled), the binning and the sums a pass adds to. */
interface PassSums {
  v: Float64Array;
  vs: Float64Array;
  maxD: number;
  bins: number;
  invW: number;
  counts: Float64Array;
  sums: Float64Array;
  chanceSums: Float64Array;
}

/** Units at distinct integer positions of a lattice not much larger than their number. */
export interface Lattice {
  W: number;
  H: number;
  /** Lattice cell (row-major, origin at the minimum x and y) of each used unit. */
  cell: Int32Array;
  /** Every cell of the W×H box holds a unit. */
  dense: boolean;
}

export function latticeOf(px: Float64Array, py: Float64Array): Lattice | null {
  const m = px.length;
  if (m < 2) return null;
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  let maxY = -Infinity;
  for (let k = 0; k < m; k++) {
    if (!Number.isInteger(px[k]) || !Number.isInteger(py[k])) return null;
    if (px[k] < minX) minX = px[k];
    if (px[k] > maxX) maxX = px[k];
    if (py[k] < minY) minY = py[k];
    if (py[k] > maxY) maxY = py[k];
  }
  const W = maxX - minX + 1;
  const H = maxY - minY + 1;
  // A sparse lattice has more offsets than pairs: the pair loop is cheaper there.
  if (W * H > 4 * m || W * H > 1 << 26) return null;
  const cell = new Int32Array(m);
  const taken = new Uint8Array(W * H);
  for (let k = 0; k < m; k++) {
    const c = (py[k] - minY) * W + (px[k] - minX);
    if (taken[c]) return null; // two units at one position
    taken[c] = 1;
    cell[k] = c;
  }
  return { W, H, cell, dense: W * H === m };
}

/**
 * One pass over the pairs of units on a lattice, offset by offset: a pair's distance depends only on
 * its offset (dx, dy), so each offset is binned once and its pairs are summed in a contiguous loop.
 * Returns the observed |Δvalue| total of the pass. Same pairs and bins as `pairPass`.
 */
function latticePass(L: Lattice, acc: PassSums, observed: boolean, chance: boolean): number {
  const { W, H, cell, dense } = L;
  const { v, vs, maxD, bins, invW, counts, sums, chanceSums } = acc;
  const g = new Float64Array(W * H);
  const gs = new Float64Array(W * H);
  const occ = new Uint8Array(W * H);
  for (let k = 0; k < cell.length; k++) {
    g[cell[k]] = v[k];
    gs[cell[k]] = vs[k];
    occ[cell[k]] = 1;
  }
  let total = 0;
  for (let dy = 0; dy < H; dy++) {
    for (let dx = dy === 0 ? 1 : 1 - W; dx < W; dx++) {
      const d = Math.sqrt(dx * dx + dy * dy);
      if (d > maxD) continue;
      let b = Math.floor(d * invW);
      if (b >= bins) b = bins - 1;
      // Columns c with c + dx inside the lattice.
      const c0 = dx < 0 ? -dx : 0;
      const c1 = dx > 0 ? W - dx : W;
      let n = 0;
      let s = 0;
      let cs = 0;
      for (let r = 0; r + dy < H; r++) {
        const a0 = r * W;
        const b0 = (r + dy) * W + dx;
        if (dense) {
          if (observed && chance) {
            for (let c = c0; c < c1; c++) {
              s += Math.abs(g[a0 + c] - g[b0 + c]);
              cs += Math.abs(gs[a0 + c] - gs[b0 + c]);
            }
          } else if (observed) for (let c = c0; c < c1; c++) s += Math.abs(g[a0 + c] - g[b0 + c]);
          else for (let c = c0; c < c1; c++) cs += Math.abs(gs[a0 + c] - gs[b0 + c]);
          n += c1 - c0;
        } else {
          for (let c = c0; c < c1; c++) {
            if (occ[a0 + c] === 0 || occ[b0 + c] === 0) continue;
            n++;
            if (observed) s += Math.abs(g[a0 + c] - g[b0 + c]);
            if (chance) cs += Math.abs(gs[a0 + c] - gs[b0 + c]);
          }
        }
      }
      if (observed) {
        counts[b] += n;
        sums[b] += s;
        total += s;
      }
      if (chance) chanceSums[b] += cs;
    }
  }
  return total;
}

/** One pass over every pair of units k < l, for positions anywhere in the plane. */
function pairPass(px: Float64Array, py: Float64Array, acc: PassSums, observed: boolean, chance: boolean): number {
  const { v, vs, maxD, bins, invW, counts, sums, chanceSums } = acc;
  const m = v.length;
  let total = 0;
  for (let k = 0; k < m; k++) {
    const vk = v[k];
    const sk = vs[k];
    const xk = px[k];
    const yk = py[k];
    for (let l = k + 1; l < m; l++) {
      const dx = xk - px[l];
      const dy = yk - py[l];
      const d = Math.sqrt(dx * dx + dy * dy);
      if (d > maxD) continue;
      let b = Math.floor(d * invW);
      if (b >= bins) b = bins - 1;
      if (observed) {
        const a = Math.abs(vk - v[l]);
        counts[b]++;
        sums[b] += a;
        total += a;
      }
      if (chance) chanceSums[b] += Math.abs(sk - vs[l]);
    }
  }
  return total;
}
