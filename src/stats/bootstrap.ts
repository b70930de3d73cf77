/**
 * Seeded nonparametric bootstrap (Efron): resample the observations with replacement, recompute the
 * statistic, and take percentiles of the resampled values as the confidence interval. The same seed
 * gives the same resamples on every platform (xoshiro128**, see rng.ts).
 */
import { Rng } from './rng.ts';

/** The q-quantile of sorted values by linear interpolation between order statistics (R's type 7, numpy's default). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  if (!(q >= 0 && q <= 1)) throw new Error(`quantileSorted: q must be in [0, 1] (got ${q})`);
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

export interface BootstrapOptions {
  /** Number of resamples (≥ 1). */
  resamples: number;
  seed: number;
  /** Confidence level, e.g. 0.95. */
  level: number;
}

export interface BootstrapCI {
  /** The statistic on the observed data. */
  estimate: number;
  /** Percentile interval at `level`: the (1 − level)/2 and (1 + level)/2 quantiles of the resampled statistic. */
  lo: number;
  hi: number;
  /** Standard deviation of the resampled statistic (the bootstrap standard error). */
  se: number;
  n: number;
  resamples: number;
  level: number;
}

function checkOptions(o: BootstrapOptions): void {
  if (!(Number.isInteger(o.resamples) && o.resamples >= 1)) throw new Error(`bootstrap: resamples must be a positive integer (got ${o.resamples})`);
  if (!(o.level > 0 && o.level < 1)) throw new Error(`bootstrap: level must be in (0, 1) (got ${o.level})`);
}

function summarise(estimate: number, stats: Float64Array, n: number, o: BootstrapOptions): BootstrapCI {
  const finite = stats.filter((v) => !Number.isNaN(v)).sort();
  let s = 0;
  for (const v of finite) s += v;
  const m = s / finite.length;
  let ss = 0;
  for (const v of finite) ss += (v - m) * (v - m);
  const a = (1 - o.level) / 2;
  return {
    estimate,
    lo: quantileSorted(finite, a),
    hi: quantileSorted(finite, 1 - a),
    se: finite.length > 1 ? Math.sqrt(ss / (finite.length - 1)) : NaN,
    n,
    resamples: o.resamples,
    level: o.level,
  };
}

export function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return a.length ? s / a.length : NaN;
}

/**
 * Bootstrap CI of the mean. Resample b draws indices i₁ … i_n uniformly from 0 … n−1 with
 * `rng.nextInt(n)`, in order, from one stream seeded with `seed`. NaN bounds when n = 0.
 */
export function bootstrapMean(values: ArrayLike<number>, o: BootstrapOptions): BootstrapCI {
  checkOptions(o);
  const n = values.length;
  if (n === 0) return { estimate: NaN, lo: NaN, hi: NaN, se: NaN, n: 0, resamples: o.resamples, level: o.level };
  const rng = new Rng(o.seed);
  const stats = new Float64Array(o.resamples);
  for (let b = 0; b < o.resamples; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[rng.nextInt(n)];
    stats[b] = s / n;
  }
  return summarise(mean(values), stats, n, o);
}

/** Cohen's d of two samples with the pooled SD, s² = (Σ(a − ā)² + Σ(b − b̄)²) / (n_a + n_b − 2); NaN when undefined. */
export function cohensD(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const na = a.length;
  const nb = b.length;
  if (na < 1 || nb < 1 || na + nb < 3) return NaN;
  const ma = mean(a);
  const mb = mean(b);
  let ss = 0;
  for (let i = 0; i < na; i++) ss += (a[i] - ma) * (a[i] - ma);
  for (let i = 0; i < nb; i++) ss += (b[i] - mb) * (b[i] - mb);
  const sp = Math.sqrt(ss / (na + nb - 2));
  if (!(sp > 0)) return ma === mb ? 0 : NaN;
  return (ma - mb) / sp;
}

/**
 * Bootstrap CI of Cohen's d between two independent samples: each resample draws n_a from a and then
 * n_b from b, with replacement, from one stream seeded with `seed`.
 */
export function bootstrapCohensD(a: ArrayLike<number>, b: ArrayLike<number>, o: BootstrapOptions): BootstrapCI {
  checkOptions(o);
  const na = a.length;
  const nb = b.length;
  const estimate = cohensD(a, b);
  if (na === 0 || nb === 0) return { estimate, lo: NaN, hi: NaN, se: NaN, n: na + nb, resamples: o.resamples, level: o.level };
  const rng = new Rng(o.seed);
  const ra = new Float64Array(na);
  const rb = new Float64Array(nb);
  const stats = new Float64Array(o.resamples);
  for (let k = 0; k < o.resamples; k++) {
    for (let i = 0; i < na; i++) ra[i] = a[rng.nextInt(na)];
    for (let i = 0; i < nb; i++) rb[i] = b[rng.nextInt(nb)];
    stats[k] = cohensD(ra, rb);
  }
  return summarise(estimate, stats, na + nb, o);
}
