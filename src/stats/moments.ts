/**
 * Streaming per-unit moments (Welford) for one condition, with the exact Chan et al. merge of shards.
 * All accumulation is Float64; inputs are usually Float32 activations.
 */

export interface MomentsJSON {
  units: number;
  n: number;
  mean: number[];
  m2: number[];
}

export class Moments {
  readonly units: number;
  /** Number of samples pushed. */
  n: number;
  /** Per-unit running mean. */
  mean: Float64Array;
  /** Per-unit sum of squared deviations from the mean (M2). */
  m2: Float64Array;

  constructor(units: number) {
    if (!Number.isInteger(units) || units < 0) throw new Error(`Moments: units must be a non-negative integer (got ${units})`);
    this.units = units;
    this.n = 0;
    this.mean = new Float64Array(units);
    this.m2 = new Float64Array(units);
  }

  /** Forget everything (keeps the buffers). */
  reset(): void {
    this.n = 0;
    this.mean.fill(0);
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
    const m2 = this.m2;
    for (let j = 0; j < units; j++) {
      const x = +row[offset + j];
      const d = x - mean[j];
      const mj = mean[j] + d * inv;
      mean[j] = mj;
      m2[j] += d * (x - mj);
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
    const m2 = this.m2;
    for (let r = 0; r < rows; r++) {
      const n = ++this.n;
      const inv = 1 / n;
      const base = offset + r * stride;
      for (let j = 0; j < units; j++) {
        const x = data[base + j];
        const d = x - mean[j];
        const mj = mean[j] + d * inv;
        mean[j] = mj;
        m2[j] += d * (x - mj);
      }
    }
  }

  /**
   * Merge another shard into this one (Chan et al.): δ = m_b − m_a, n = n_a + n_b,
   * mean = m_a + δ·n_b/n, M2 = M2_a + M2_b + δ²·n_a·n_b/n. Exact up to rounding; `other` is unchanged.
   */
  merge(other: Moments | { n: number; mean: Float64Array; m2: Float64Array }): void {
    if (other.mean.length !== this.units || other.m2.length !== this.units) {
      throw new Error(`Moments.merge: unit count mismatch (${this.units} vs ${other.mean.length})`);
    }
    const nb = other.n;
    if (nb === 0) return;
    const na = this.n;
    if (na === 0) {
      this.n = nb;
      this.mean.set(other.mean);
      this.m2.set(other.m2);
      return;
    }
    const n = na + nb;
    const fb = nb / n;
    const cross = (na * nb) / n;
    const mean = this.mean;
    const m2 = this.m2;
    const mb = other.mean;
    const m2b = other.m2;
    for (let j = 0; j < this.units; j++) {
      const delta = mb[j] - mean[j];
      mean[j] += delta * fb;
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
    return Moments.fromBuffers(this.n, this.mean.slice(), this.m2.slice());
  }

  toJSON(): MomentsJSON {
    return { units: this.units, n: this.n, mean: Array.from(this.mean), m2: Array.from(this.m2) };
  }

  static fromJSON(json: MomentsJSON): Moments {
    if (json.mean.length !== json.units || json.m2.length !== json.units) {
      throw new Error('Moments.fromJSON: mean/m2 length does not match units');
    }
    return Moments.fromBuffers(json.n, Float64Array.from(json.mean), Float64Array.from(json.m2));
  }

  /** Wrap existing buffers (not copied), e.g. sufficient statistics returned by a shard. */
  static fromBuffers(n: number, mean: Float64Array, m2: Float64Array): Moments {
    if (mean.length !== m2.length) throw new Error('Moments.fromBuffers: mean and m2 lengths differ');
    if (!Number.isInteger(n) || n < 0) throw new Error(`Moments.fromBuffers: n must be a non-negative integer (got ${n})`);
    const m = new Moments(0) as { -readonly [K in keyof Moments]: Moments[K] };
    m.units = mean.length;
    m.n = n;
    m.mean = mean;
    m.m2 = m2;
    return m as Moments;
  }
}
