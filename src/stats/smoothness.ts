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
 * position are skipped. O(m²) in the number m of used units.
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

  // The first pass bins each pair once and adds its |Δvalue| to the observed sums and, with the values
  // shuffled beforehand, to the first shuffle's chance sums; each further shuffle takes a pass of its
  // own. Every sum receives its terms in pair order, shuffle after shuffle.
  const counts = new Float64Array(bins);
  const sums = new Float64Array(bins);
  const chanceSums = new Float64Array(bins);
  const invW = 1 / width;
  const vs = v.slice();
  let totalSum = 0;
  const pass = (observed: boolean, chance: boolean) => {
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
          totalSum += a;
        }
        if (chance) chanceSums[b] += Math.abs(sk - vs[l]);
      }
    }
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
