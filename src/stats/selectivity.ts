/**
 * Selectivity of units across a battery of k categories, from each category's per-unit sufficient
 * statistics (n, mean, sample variance): d′ of each category against the rest, the preferred category,
 * a selectivity index, lifetime sparseness (Vinje & Gallant 2000; Rolls & Tovee 1995) and the number of
 * categories with d′ at or above a threshold. Pure functions over typed arrays.
 */

/**
 * d′ = (m1 − m2) / √((v1 + v2) / 2), v the sample variances (ddof 1). When both variances are 0 the
 * value is 0 if the means are equal and NaN otherwise (an infinite separation has no finite d′).
 */
export function dPrime(m1: number, v1: number, m2: number, v2: number): number {
  const s2 = (v1 + v2) / 2;
  if (!(s2 > 0)) {
    if (s2 === 0) return m1 === m2 ? 0 : NaN;
    return NaN;
  }
  return (m1 - m2) / Math.sqrt(s2);
}

/**
 * Rolls–Tovee sparseness a = (Σr/n)² / (Σr²/n) of the responses r, with negative responses set to 0
 * first (the measure is defined for firing rates). 1 when all responses are equal and positive, 1/n when
 * one response is positive and the rest 0. NaN when no response is positive or n = 0.
 */
export function rollsToveeSparseness(r: ArrayLike<number>): number {
  const n = r.length;
  if (n === 0) return NaN;
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const v = r[i];
    if (Number.isNaN(v)) return NaN;
    const x = v > 0 ? v : 0;
    s += x;
    s2 += x * x;
  }
  if (!(s2 > 0)) return NaN;
  const m = s / n;
  return (m * m) / (s2 / n);
}

/**
 * Lifetime sparseness (Vinje & Gallant 2000): S = (1 − a) / (1 − 1/n), a the Rolls–Tovee measure of the
 * (rectified) responses. 0 for a unit that responds equally to everything, 1 for a unit that responds to
 * one of the n items only. NaN when n < 2 or no response is positive.
 */
export function lifetimeSparseness(r: ArrayLike<number>): number {
  const n = r.length;
  if (n < 2) return NaN;
  const a = rollsToveeSparseness(r);
  if (Number.isNaN(a)) return NaN;
  // Rounding can put a a hair outside [1/n, 1]; S is clamped to [0, 1].
  return Math.min(1, Math.max(0, (1 - a) / (1 - 1 / n)));
}

/**
 * Index of the largest response (ties: the lowest index); −1 when any response is NaN or all are equal
 * (no preference).
 */
export function preferredCategory(r: ArrayLike<number>): number {
  const n = r.length;
  if (n === 0) return -1;
  let best = 0;
  let allEqual = true;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(r[i])) return -1;
    if (r[i] !== r[0]) allEqual = false;
    if (r[i] > r[best]) best = i;
  }
  return allEqual ? -1 : best;
}

/**
 * Selectivity index SI = (r_pref − r̄_other) / (|r_pref| + |r̄_other|), r_pref the largest response and
 * r̄_other the mean of the other n − 1. For non-negative responses this is the usual
 * (R_pref − R_nonpref) / (R_pref + R_nonpref), in [0, 1]; the absolute values keep it in [0, 1] for signed
 * responses too. 0 when all responses are equal and not 0; NaN when n < 2, a response is NaN, or the
 * denominator is 0 (e.g. a unit silent on every category).
 */
export function selectivityIndex(r: ArrayLike<number>): number {
  const n = r.length;
  if (n < 2) return NaN;
  const p = preferredCategory(r);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(r[i])) return NaN;
    sum += r[i];
  }
  const pref = p < 0 ? r[0] : r[p];
  const other = (sum - pref) / (n - 1);
  const den = Math.abs(pref) + Math.abs(other);
  if (!(den > 0)) return NaN;
  if (p < 0) return 0;
  return (pref - other) / den;
}

/**
 * Exact pooled n, mean and sample variance (ddof 1) of the union of some groups, from each group's n,
 * mean and variance (the Chan et al. merge): M2 = Σ (n_g − 1)·v_g + Σ n_g·(m_g − m)².
 */
export function pooledMoments(n: ArrayLike<number>, mean: ArrayLike<number>, variance: ArrayLike<number>, include?: (g: number) => boolean): { n: number; mean: number; variance: number } {
  let N = 0;
  let s = 0;
  for (let g = 0; g < n.length; g++) {
    if (include && !include(g)) continue;
    N += n[g];
    s += n[g] * mean[g];
  }
  if (N === 0) return { n: 0, mean: NaN, variance: NaN };
  const m = s / N;
  let m2 = 0;
  for (let g = 0; g < n.length; g++) {
    if (include && !include(g)) continue;
    if (n[g] === 0) continue;
    const within = n[g] > 1 ? (n[g] - 1) * variance[g] : 0;
    const d = mean[g] - m;
    m2 += within + n[g] * d * d;
  }
  return { n: N, mean: m, variance: N > 1 ? m2 / (N - 1) : NaN };
}

/** Per-category sufficient statistics of a battery: k categories, each with n samples and per-unit mean and variance. */
export interface BatteryStats {
  /** Samples per category. */
  n: number[];
  /** mean[c][u]. */
  mean: ArrayLike<number>[];
  /** Sample variance (ddof 1), variance[c][u]. */
  variance: ArrayLike<number>[];
}

export interface UnitSelectivity {
  units: number;
  k: number;
  /** d′ of category c vs the union of the others, dprime[c][u]. */
  dprime: Float64Array[];
  /** Index of the category with the largest mean response, −1 for none (all equal or NaN). */
  preferred: Int32Array;
  /** Largest d′ over the categories (NaN when every d′ is NaN). */
  maxDprime: Float64Array;
  /** Selectivity index over the k category means. */
  si: Float64Array;
  /** Lifetime sparseness (Vinje–Gallant) over the k category means, negatives set to 0. */
  sparseness: Float64Array;
  /** Number of categories with d′ ≥ threshold. */
  nAbove: Int32Array;
  threshold: number;
}

/**
 * Every unit's selectivity across the battery. The "rest" of category c is the union of the other
 * categories' samples, pooled exactly from their moments (see {@link pooledMoments}).
 */
export function unitSelectivity(b: BatteryStats, threshold: number): UnitSelectivity {
  const k = b.n.length;
  if (k < 2) throw new Error(`unitSelectivity: a battery needs at least 2 categories (got ${k})`);
  if (b.mean.length !== k || b.variance.length !== k) throw new Error('unitSelectivity: n, mean and variance must have one entry per category');
  const units = b.mean[0].length;
  for (let c = 0; c < k; c++) {
    if (b.mean[c].length !== units || b.variance[c].length !== units) throw new Error(`unitSelectivity: category ${c} has ${b.mean[c].length} units, expected ${units}`);
  }
  if (!Number.isFinite(threshold)) throw new Error('unitSelectivity: threshold must be finite');
  const dprime = Array.from({ length: k }, () => new Float64Array(units));
  const preferred = new Int32Array(units);
  const maxDprime = new Float64Array(units);
  const si = new Float64Array(units);
  const sparseness = new Float64Array(units);
  const nAbove = new Int32Array(units);
  const r = new Float64Array(k);
  const m = new Float64Array(k);
  const v = new Float64Array(k);
  for (let u = 0; u < units; u++) {
    for (let c = 0; c < k; c++) {
      m[c] = b.mean[c][u];
      v[c] = b.variance[c][u];
      r[c] = m[c];
    }
    let best = NaN;
    let above = 0;
    for (let c = 0; c < k; c++) {
      const rest = pooledMoments(b.n, m, v, (g) => g !== c);
      const d = dPrime(m[c], v[c], rest.mean, rest.variance);
      dprime[c][u] = d;
      if (!Number.isNaN(d)) {
        if (Number.isNaN(best) || d > best) best = d;
        if (d >= threshold) above++;
      }
    }
    maxDprime[u] = best;
    nAbove[u] = above;
    preferred[u] = preferredCategory(r);
    si[u] = selectivityIndex(r);
    sparseness[u] = lifetimeSparseness(r);
  }
  return { units, k, dprime, preferred, maxDprime, si, sparseness, nAbove, threshold };
}

/** Median of the finite values (NaN when there are none). */
export function medianFinite(a: ArrayLike<number>): number {
  const v: number[] = [];
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i])) v.push(a[i]);
  if (v.length === 0) return NaN;
  v.sort((x, y) => x - y);
  const h = v.length >> 1;
  return v.length % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

/** Mean of the finite values (NaN when there are none). */
export function meanFinite(a: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isFinite(a[i])) {
      s += a[i];
      n++;
    }
  }
  return n ? s / n : NaN;
}

/**
 * How often neighbouring units on the sheet prefer the same category: the fraction of unit pairs in
 * queen-adjacent cells (8 neighbours, each pair once) that share a preferred category, among pairs where
 * both units have one; and its chance level when the same preferences are placed at random,
 * Σ_c n_c(n_c − 1) / (n(n − 1)) over the n units with a preference.
 */
export function neighbourAgreement(preferred: Int32Array, unitOfCell: Int32Array, rows: number, cols: number): { agreement: number; chance: number; pairs: number } {
  let same = 0;
  let pairs = 0;
  const at = (r: number, c: number) => (r >= 0 && r < rows && c >= 0 && c < cols ? unitOfCell[r * cols + c] : -1);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const u = at(r, c);
      if (u < 0 || preferred[u] < 0) continue;
      // Each unordered pair once: the right, lower-left, lower and lower-right neighbours.
      for (const [dr, dc] of [
        [0, 1],
        [1, -1],
        [1, 0],
        [1, 1],
      ]) {
        const w = at(r + dr, c + dc);
        if (w < 0 || preferred[w] < 0) continue;
        pairs++;
        if (preferred[w] === preferred[u]) same++;
      }
    }
  }
  const counts = new Map<number, number>();
  let n = 0;
  for (let u = 0; u < preferred.length; u++) {
    if (preferred[u] < 0) continue;
    counts.set(preferred[u], (counts.get(preferred[u]) ?? 0) + 1);
    n++;
  }
  let chance = NaN;
  if (n > 1) {
    let s = 0;
    for (const c of counts.values()) s += c * (c - 1);
    chance = s / (n * (n - 1));
  }
  return { agreement: pairs ? same / pairs : NaN, chance, pairs };
}
