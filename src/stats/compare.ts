/**
 * Similarity of two maps of the same layer: Pearson r and SSIM, ignoring cells that are NaN in either map.
 */

/** Pearson r over the indices where both values are finite. NaN if fewer than 2 such or a constant side. */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`pearson: lengths differ (${a.length} vs ${b.length})`);
  let n = 0;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    n++;
    ma += x;
    mb += y;
  }
  if (n < 2) return NaN;
  ma /= n;
  mb /= n;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    const dx = x - ma;
    const dy = y - mb;
    sxx += dx * dx;
    syy += dy * dy;
    sxy += dx * dy;
  }
  if (!(sxx > 0) || !(syy > 0)) return NaN;
  const r = sxy / Math.sqrt(sxx * syy);
  return r > 1 ? 1 : r < -1 ? -1 : r;
}

export interface SsimOptions {
  /** 'gaussian' (default, σ = sigma, truncated at radius round(3.5σ)) or 'uniform' (size×size box). */
  window?: 'gaussian' | 'uniform';
  /** Gaussian σ in cells. Default 1.5. */
  sigma?: number;
  /** Uniform window side (odd). Default 7. */
  size?: number;
  /** L in C1 = (0.01·L)², C2 = (0.03·L)². Default: max − min over the valid cells of both maps. */
  dataRange?: number;
}

/**
 * Global SSIM (Wang et al. 2004) between two rows×cols maps: the mean over the valid cells of
 *   ((2 μa μb + C1)(2 σab + C2)) / ((μa² + μb² + C1)(σa² + σb² + C2)),
 * with local weighted means, variances and covariance from the window centred on each cell. Only cells
 * finite in both maps contribute: windows use normalised convolution (the weights of the valid cells in the
 * window, renormalised to sum 1), which also handles the sheet border (no padding). Variances are the
 * weighted population ones (no N/(N−1) factor). Choices: Gaussian σ = 1.5 truncated at 3.5σ (as
 * scikit-image's gaussian_weights=True), C1 = (0.01 L)², C2 = (0.03 L)², L the joint data range, since
 * t-maps have no fixed range. Returns NaN when no cell is valid.
 */
export function ssim(a: Float64Array, b: Float64Array, rows: number, cols: number, opts: SsimOptions = {}): number {
  const n = rows * cols;
  if (a.length !== n || b.length !== n) throw new Error(`ssim: maps must have ${rows}×${cols} = ${n} cells (got ${a.length}, ${b.length})`);
  const kernel = windowKernel(opts);
  const r = (kernel.length - 1) / 2;

  const valid = new Float64Array(n);
  const fa = new Float64Array(n);
  const fb = new Float64Array(n);
  const faa = new Float64Array(n);
  const fbb = new Float64Array(n);
  const fab = new Float64Array(n);
  let lo = Infinity;
  let hi = -Infinity;
  let nValid = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    nValid++;
    valid[i] = 1;
    fa[i] = x;
    fb[i] = y;
    faa[i] = x * x;
    fbb[i] = y * y;
    fab[i] = x * y;
    if (x < lo) lo = x;
    if (y < lo) lo = y;
    if (x > hi) hi = x;
    if (y > hi) hi = y;
  }
  if (nValid === 0) return NaN;
  const L = opts.dataRange ?? hi - lo;
  if (!(L > 0)) {
    // Both maps constant over the valid cells: identical constants are identical maps.
    return lo === hi ? 1 : NaN;
  }
  const C1 = (0.01 * L) ** 2;
  const C2 = (0.03 * L) ** 2;
  const tmp = new Float64Array(n);
  for (const f of [valid, fa, fb, faa, fbb, fab]) separableFilter(f, rows, cols, kernel, r, tmp);

  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) continue;
    const w = valid[i]; // > 0: the centre cell is valid
    const mua = fa[i] / w;
    const mub = fb[i] / w;
    const va = faa[i] / w - mua * mua;
    const vb = fbb[i] / w - mub * mub;
    const cov = fab[i] / w - mua * mub;
    sum += ((2 * mua * mub + C1) * (2 * cov + C2)) / ((mua * mua + mub * mub + C1) * (va + vb + C2));
  }
  return sum / nValid;
}

/** The 1-D window (odd length, weights summing to 1; the 2-D window is its outer product). */
export function windowKernel(opts: SsimOptions = {}): Float64Array {
  const kind = opts.window ?? 'gaussian';
  if (kind === 'uniform') {
    const size = opts.size ?? 7;
    if (!Number.isInteger(size) || size < 1 || size % 2 === 0) throw new Error(`ssim: uniform window size must be a positive odd integer (got ${size})`);
    return new Float64Array(size).fill(1 / size);
  }
  if (kind !== 'gaussian') throw new Error(`ssim: window must be 'gaussian' or 'uniform'`);
  const sigma = opts.sigma ?? 1.5;
  if (!(sigma > 0)) throw new Error(`ssim: sigma must be > 0`);
  const r = Math.max(1, Math.round(3.5 * sigma));
  const k = new Float64Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) {
    const w = Math.exp((-0.5 * i * i) / (sigma * sigma));
    k[i + r] = w;
    s += w;
  }
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

/** In-place separable correlation with zero outside the grid (rows pass, then columns pass). */
function separableFilter(f: Float64Array, rows: number, cols: number, k: Float64Array, r: number, tmp: Float64Array): void {
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    for (let j = 0; j < cols; j++) {
      let s = 0;
      const lo = Math.max(0, j - r);
      const hi = Math.min(cols - 1, j + r);
      for (let q = lo; q <= hi; q++) s += k[q - j + r] * f[base + q];
      tmp[base + j] = s;
    }
  }
  for (let i = 0; i < rows; i++) {
    const lo = Math.max(0, i - r);
    const hi = Math.min(rows - 1, i + r);
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let q = lo; q <= hi; q++) s += k[q - i + r] * tmp[q * cols + j];
      f[i * cols + j] = s;
    }
  }
}

export type SimilarityMetric = 'pearson' | 'ssim';

/**
 * Symmetric k×k matrix (row-major Float64Array) of a similarity between every pair of maps; the diagonal is
 * the map compared with itself (1 unless the map is degenerate).
 */
export function similarityMatrix(maps: Float64Array[], rows: number, cols: number, metric: SimilarityMetric, opts: SsimOptions = {}): Float64Array {
  const k = maps.length;
  const out = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      const v = metric === 'pearson' ? pearson(maps[i], maps[j]) : ssim(maps[i], maps[j], rows, cols, opts);
      out[i * k + j] = v;
      out[j * k + i] = v;
    }
  }
  return out;
}
