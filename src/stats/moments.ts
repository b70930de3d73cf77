/**
 * Streaming per-unit moments (Welford) for one condition, with the exact Chan et al. merge of shards.
 * All accumulation is Float64; inputs are usually Float32 activations.
 *
 * The running mean is kept as an unevaluated sum mean + meanLo (a compensated, "double-double" mean
 * updated with an error-free TwoSum), so rounding does not accumulate over many samples: with a large
 * offset (e.g. values 1e4 ± 0.1) plain Welford loses ~√n ulps of the mean, which shows up in t as a
 * relative error of ~1e-10 when the means differ by 0.02. tTest uses meanLo when it is present.
 */

export interface MomentsJSON {
  units: number;
  n: number;
  mean: number[];
  m2: number[];
  meanLo?: number[];
}

export class Moments {
  readonly units: number;
  /** Number of samples pushed. */
  n: number;
  /** Per-unit running mean (rounded to double). */
  mean: Float64Array;
  /** Per-unit low-order part of the mean: the mean is mean + meanLo to ~twice double precision. */
  meanLo: Float64Array;
  /** Per-unit sum of squared deviations from the mean (M2). */
  m2: Float64Array;

  constructor(units: number) {
    if (!Number.isInteger(units) || units < 0) throw new Error(`Moments: units must be a non-negative integer (got ${units})`);
    this.units = units;
    this.n = 0;
    this.mean = new Float64Array(units);
    this.meanLo = new Float64Array(units);
    this.m2 = new Float64Array(units);
  }

  /** Forget everything (keeps the buffers). */
  reset(): void {
    this.n = 0;
    this.mean.fill(0);
    this.meanLo.fill(0);
    this.m2.fill(0);
  }

  /** Add one sample: `units` values starting at `offset`. */
  push(row: ArrayLike<number>, offset = 0): void {
    const units = this.units;
    if (offset < 0 || offset + units > row.length) {
      throw new Error(`Moments.push: row of length ${row.length} has no ${units} values at offset ${offset}`);
    }
    const n = ++this.n;
    const inv = 1 / n;
    const mean = this.mean;
    const lo = this.meanLo;
    const m2 = this.m2;
    for (let j = 0; j < units; j++) {
      const x = +row[offset + j];
      const hi = mean[j];
      const d = x - hi - lo[j]; // deviation from the current mean hi + lo
      // new mean = hi + (lo + d/n), renormalised with TwoSum
      const s = lo[j] + d * inv;
      const nh = hi + s;
      const bp = nh - hi;
      const nl = hi - (nh - bp) + (s - bp);
      mean[j] = nh;
      lo[j] = nl;
      m2[j] += d * (x - nh - nl);
    }
  }

  /**
   * Add `rows` consecutive samples of a row-major matrix: sample r is data[offset + r·stride … + units).
   * stride defaults to units.
   */
  pushRows(data: Float32Array | Float64Array, rows: number, stride: number = this.units, offset = 0): void {
    const units = this.units;
    if (stride < units) throw new Error(`Moments.pushRows: stride ${stride} < units ${units}`);
    if (rows <= 0) return;
    if (offset < 0 || offset + (rows - 1) * stride + units > data.length) {
      throw new Error(`Moments.pushRows: ${rows} rows of stride ${stride} at offset ${offset} exceed data length ${data.length}`);
    }
    const mean = this.mean;
    const lo = this.meanLo;
    const m2 = this.m2;
    for (let r = 0; r < rows; r++) {
      const n = ++this.n;
      const inv = 1 / n;
      const base = offset + r * stride;
      for (let j = 0; j < units; j++) {
        const x = data[base + j];
        const hi = mean[j];
        const d = x - hi - lo[j];
        const s = lo[j] + d * inv;
        const nh = hi + s;
        const bp = nh - hi;
        const nl = hi - (nh - bp) + (s - bp);
        mean[j] = nh;
        lo[j] = nl;
        m2[j] += d * (x - nh - nl);
      }
    }
  }

  /**
   * Merge another shard into this one (Chan et al.): δ = m_b − m_a, n = n_a + n_b,
   * mean = m_a + δ·n_b/n, M2 = M2_a + M2_b + δ²·n_a·n_b/n. Exact up to rounding; `other` is unchanged.
   */
  merge(other: { n: number; mean: Float64Array; m2: Float64Array; meanLo?: Float64Array }): void {
    if (other.mean.length !== this.units || other.m2.length !== this.units) {
      throw new Error(`Moments.merge: unit count mismatch (${this.units} vs ${other.mean.length})`);
    }
    const nb = other.n;
    if (nb === 0) return;
    const na = this.n;
    const lob = other.meanLo;
    if (na === 0) {
      this.n = nb;
      this.mean.set(other.mean);
      if (lob) this.meanLo.set(lob);
      else this.meanLo.fill(0);
      this.m2.set(other.m2);
      return;
    }
    const n = na + nb;
    const fb = nb / n;
    const cross = (na * nb) / n;
    const mean = this.mean;
    const lo = this.meanLo;
    const m2 = this.m2;
    const mb = other.mean;
    const m2b = other.m2;
    for (let j = 0; j < this.units; j++) {
      const hi = mean[j];
      const delta = mb[j] - hi + ((lob ? lob[j] : 0) - lo[j]);
      const s = lo[j] + delta * fb;
      const nh = hi + s;
      const bp = nh - hi;
      mean[j] = nh;
      lo[j] = hi - (nh - bp) + (s - bp);
      m2[j] += m2b[j] + delta * delta * cross;
    }
    this.n = n;
  }

  /** Sample variance (ddof 1) per unit; NaN everywhere when n < 2. */
  variance(out?: Float64Array): Float64Array {
    const res = out ?? new Float64Array(this.units);
    if (res.length !== this.units) throw new Error(`Moments.variance: out has length ${res.length}, expected ${this.units}`);
    if (this.n < 2) {
      res.fill(NaN);
      return res;
    }
    const inv = 1 / (this.n - 1);
    for (let j = 0; j < this.units; j++) res[j] = this.m2[j] * inv;
    return res;
  }

  clone(): Moments {
    return Moments.fromBuffers(this.n, this.mean.slice(), this.m2.slice(), this.meanLo.slice());
  }

  toJSON(): MomentsJSON {
    return { units: this.units, n: this.n, mean: Array.from(this.mean), m2: Array.from(this.m2), meanLo: Array.from(this.meanLo) };
  }

  static fromJSON(json: MomentsJSON): Moments {
    if (json.mean.length !== json.units || json.m2.length !== json.units || (json.meanLo && json.meanLo.length !== json.units)) {
      throw new Error('Moments.fromJSON: mean/m2/meanLo length does not match units');
    }
    return Moments.fromBuffers(json.n, Float64Array.from(json.mean), Float64Array.from(json.m2), json.meanLo ? Float64Array.from(json.meanLo) : undefined);
  }

  /**
   * Wrap existing buffers (not copied), e.g. sufficient statistics returned by a shard (or stored Float64
   * blobs). meanLo defaults to zeros.
   */
  static fromBuffers(n: number, mean: Float64Array, m2: Float64Array, meanLo?: Float64Array): Moments {
    if (mean.length !== m2.length || (meanLo && meanLo.length !== mean.length)) throw new Error('Moments.fromBuffers: mean, m2 and meanLo lengths differ');
    if (!Number.isInteger(n) || n < 0) throw new Error(`Moments.fromBuffers: n must be a non-negative integer (got ${n})`);
    const m = new Moments(0);
    const w = m as unknown as { units: number; n: number; mean: Float64Array; m2: Float64Array; meanLo: Float64Array };
    w.units = mean.length;
    w.n = n;
    w.mean = mean;
    w.m2 = m2;
    w.meanLo = meanLo ?? new Float64Array(mean.length);
    return m;
  }
}
