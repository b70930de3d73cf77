/**
 * Streaming summaries of a stream of (value, stimulus index) pairs with bounded memory, each a
 * mergeable partial whose final state depends only on the multiset of pairs seen — not on their order,
 * nor on how the stream was split into shards and merged:
 *
 * - {@link TopKHeaps}: the k largest (or smallest) values of each of C channels, in typed arrays (one
 *   binary heap per channel, no per-item objects). Ties are broken by the lower stimulus index, so the
 *   kept set is the top k of a total order and unique.
 * - {@link Pow2Histogram}: an exact histogram on a power-of-two grid that widens itself as the range
 *   grows, with an optional uniform random sample of stimuli per bin (for examples from quantile bins).
 */

/** Order of kept items: larger stored score first, then lower index. */
function better(s: number, i: number, t: number, j: number): boolean {
  return s > t || (s === t && i < j);
}

/**
 * The k best items of each of `channels` channels: the largest values (`top`) or the smallest
 * (`bottom`). NaN values are never kept. Memory: channels × k × (8 + 4) bytes.
 */
export class TopKHeaps {
  readonly channels: number;
  readonly k: number;
  readonly direction: 'top' | 'bottom';
  /** Stored score per slot: the value for `top`, its negation for `bottom` (so larger is always better). */
  readonly score: Float64Array;
  readonly index: Int32Array;
  /** Items kept per channel (≤ k). */
  readonly size: Int32Array;
  private readonly sign: number;

  constructor(channels: number, k: number, direction: 'top' | 'bottom') {
    if (!(Number.isInteger(channels) && channels >= 0)) throw new Error(`TopKHeaps: channels must be a non-negative integer (got ${channels})`);
    if (!(Number.isInteger(k) && k >= 1)) throw new Error(`TopKHeaps: k must be a positive integer (got ${k})`);
    this.channels = channels;
    this.k = k;
    this.direction = direction;
    this.sign = direction === 'top' ? 1 : -1;
    this.score = new Float64Array(channels * k);
    this.index = new Int32Array(channels * k);
    this.size = new Int32Array(channels);
  }

  /** Offers the value v of stimulus i to channel c. */
  offer(c: number, v: number, i: number): void {
    if (v !== v) return; // NaN
    const s = this.sign * v;
    const k = this.k;
    const base = c * k;
    const score = this.score;
    const index = this.index;
    const n = this.size[c];
    if (n < k) {
      // Min-heap on "worse first": sift the new item up.
      let pos = n;
      while (pos > 0) {
        const parent = (pos - 1) >> 1;
        const ps = score[base + parent];
        const pi = index[base + parent];
        if (!better(ps, pi, s, i)) break;
        score[base + pos] = ps;
        index[base + pos] = pi;
        pos = parent;
      }
      score[base + pos] = s;
      index[base + pos] = i;
      this.size[c] = n + 1;
      return;
    }
    if (!better(s, i, score[base], index[base])) return;
    // Replace the worst (the root) and sift down.
    let pos = 0;
    for (;;) {
      const l = 2 * pos + 1;
      if (l >= k) break;
      let w = l;
      const r = l + 1;
      if (r < k && better(score[base + l], index[base + l], score[base + r], index[base + r])) w = r;
      const ws = score[base + w];
      const wi = index[base + w];
      if (!better(s, i, ws, wi)) break;
      score[base + pos] = ws;
      index[base + pos] = wi;
      pos = w;
    }
    score[base + pos] = s;
    index[base + pos] = i;
  }

  /** Adds another partial's items (same channels and k). The result is the top k of the union. */
  merge(other: TopKHeaps): void {
    if (other.channels !== this.channels || other.k !== this.k || other.direction !== this.direction) throw new Error('TopKHeaps.merge: the partials differ in channels, k or direction');
    for (let c = 0; c < other.channels; c++) {
      const base = c * other.k;
      for (let j = 0; j < other.size[c]; j++) this.offer(c, other.sign * other.score[base + j], other.index[base + j]);
    }
  }

  /** A partial rebuilt from its arrays (as another process sent them: `score`, `index`, `size`). */
  static fromArrays(k: number, direction: 'top' | 'bottom', a: { score: Float64Array; index: Int32Array; size: Int32Array }): TopKHeaps {
    const h = new TopKHeaps(a.size.length, k, direction);
    if (a.score.length !== h.score.length || a.index.length !== h.index.length) throw new Error('TopKHeaps.fromArrays: array lengths do not match channels × k');
    h.score.set(a.score);
    h.index.set(a.index);
    h.size.set(a.size);
    return h;
  }

  /** Channel c's kept items, best first: values (as given) and stimulus indices. */
  sorted(c: number): { values: Float64Array; index: Int32Array } {
    const n = this.size[c];
    const base = c * this.k;
    const order = Array.from({ length: n }, (_, j) => base + j).sort((a, b) => (better(this.score[a], this.index[a], this.score[b], this.index[b]) ? -1 : 1));
    return { values: Float64Array.from(order, (j) => this.sign * this.score[j]), index: Int32Array.from(order, (j) => this.index[j]) };
  }
}

/**
 * A stimulus' sampling key: a 32-bit hash of (seed, i), distinct for distinct i under one seed. A
 * uniform random sample of m items from any set is the m items with the smallest keys, so samples of
 * disjoint shards merge into the sample of the union.
 */
export function sampleKey(seed: number, i: number): number {
  let h = (seed >>> 0) ^ 0x5bd1e995;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  let x = (h ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Smallest exponent of the grid: bins are never narrower than 2^-40. */
export const HIST_EMIN = -40;

export interface HistogramBins {
  /** Width of every bin, a power of two. */
  width: number;
  /** Left edges are lo + j·width, j = 0 … counts.length (the last is the right edge). */
  lo: number;
  counts: number[];
  n: number;
  nonFinite: number;
  min: number;
  max: number;
}

/** Everything a {@link Pow2Histogram} holds besides its options. */
export interface Pow2HistogramState {
  e: number;
  o: number;
  n: number;
  nonFinite: number;
  min: number;
  max: number;
  counts: Float64Array;
  rKey: Float64Array;
  rIdx: Int32Array;
  rVal: Float64Array;
  rN: Int32Array;
}

export interface SampledItem {
  index: number;
  value: number;
  key: number;
}

export interface QuantileGroup {
  /** Fraction of the stimuli below this group (0 for the first). */
  fromQuantile: number;
  toQuantile: number;
  /** Value range of the group: its bins' edges, clipped to the observed [min, max]. */
  lo: number;
  hi: number;
  count: number;
  /** A uniform random sample of the group's stimuli (up to the requested number), by decreasing value. */
  examples: SampledItem[];
}

/**
 * An exact histogram on a power-of-two grid. Bin j covers [(o + j)·2^e, (o + j + 1)·2^e); e is the
 * smallest integer ≥ {@link HIST_EMIN} for which [min, max] spans at most `bins` aligned bins, and
 * o = ⌊min / 2^e⌋. When a value falls outside, e grows and pairs of aligned bins merge (exactly: a bin of
 * width 2^(e+1) is the union of two of width 2^e), so the counts are exact and the final state — e, o,
 * counts — depends only on the values seen: it is what a two-pass histogram on that grid would give,
 * and partials merge in any order to the same result. At least ⌈bins/2⌉ − 1 bins span the range.
 *
 * With `reservoir` = r > 0, each bin also keeps the r stimuli with the smallest {@link sampleKey}s: a
 * uniform random sample of the bin, and merged bins keep the r smallest of their union.
 */
export class Pow2Histogram {
  readonly bins: number;
  readonly reservoir: number;
  readonly seed: number;
  private e = HIST_EMIN;
  private o = 0;
  private counts: Float64Array;
  private rKey: Float64Array;
  private rIdx: Int32Array;
  private rVal: Float64Array;
  private rN: Int32Array;
  n = 0;
  nonFinite = 0;
  min = Infinity;
  max = -Infinity;

  constructor(bins: number, reservoir = 0, seed = 0) {
    if (!(Number.isInteger(bins) && bins >= 2 && bins <= 1 << 16)) throw new Error(`Pow2Histogram: bins must be an integer in [2, 65536] (got ${bins})`);
    if (!(Number.isInteger(reservoir) && reservoir >= 0 && reservoir <= 1000)) throw new Error(`Pow2Histogram: reservoir must be an integer in [0, 1000] (got ${reservoir})`);
    this.bins = bins;
    this.reservoir = reservoir;
    this.seed = seed >>> 0;
    this.counts = new Float64Array(bins);
    this.rKey = new Float64Array(bins * reservoir);
    this.rIdx = new Int32Array(bins * reservoir);
    this.rVal = new Float64Array(bins * reservoir);
    this.rN = new Int32Array(bins);
  }

  private static cell(v: number, e: number): number {
    return Math.floor(v * 2 ** -e);
  }

  private span(min: number, max: number, e: number): number {
    return Pow2Histogram.cell(max, e) - Pow2Histogram.cell(min, e);
  }

  /** Moves every bin to the grid of exponent e2 ≥ e with origin o2 (counts and samples merged). */
  private regrid(e2: number, o2: number): void {
    const B = this.bins;
    const r = this.reservoir;
    const counts = new Float64Array(B);
    const rKey = new Float64Array(B * r);
    const rIdx = new Int32Array(B * r);
    const rVal = new Float64Array(B * r);
    const rN = new Int32Array(B);
    const f = 2 ** (e2 - this.e);
    for (let j = 0; j < B; j++) {
      if (this.counts[j] === 0) continue;
      const j2 = Math.floor((this.o + j) / f) - o2;
      if (j2 < 0 || j2 >= B) throw new Error('Pow2Histogram: internal error (bin outside the new grid)');
      counts[j2] += this.counts[j];
      for (let s = 0; s < this.rN[j]; s++) Pow2Histogram.keep(rKey, rIdx, rVal, rN, r, j2, this.rKey[j * r + s], this.rIdx[j * r + s], this.rVal[j * r + s]);
    }
    this.e = e2;
    this.o = o2;
    this.counts = counts;
    this.rKey = rKey;
    this.rIdx = rIdx;
    this.rVal = rVal;
    this.rN = rN;
  }

  /** Keeps (key, index) in bin j's sample when it is among the r smallest (sorted ascending by key, then index). */
  private static keep(rKey: Float64Array, rIdx: Int32Array, rVal: Float64Array, rN: Int32Array, r: number, j: number, key: number, idx: number, val: number): void {
    if (r === 0) return;
    const base = j * r;
    let n = rN[j];
    if (n === r) {
      const lk = rKey[base + n - 1];
      if (key > lk || (key === lk && idx >= rIdx[base + n - 1])) return;
      n--; // the last one drops out
    }
    let pos = n;
    while (pos > 0) {
      const pk = rKey[base + pos - 1];
      if (pk < key || (pk === key && rIdx[base + pos - 1] < idx)) break;
      rKey[base + pos] = pk;
      rIdx[base + pos] = rIdx[base + pos - 1];
      rVal[base + pos] = rVal[base + pos - 1];
      pos--;
    }
    rKey[base + pos] = key;
    rIdx[base + pos] = idx;
    rVal[base + pos] = val;
    rN[j] = n + 1;
  }

  /** Widens the grid so that [min, max] fits (min, max already updated). */
  private fit(): void {
    let e2 = this.e;
    while (this.span(this.min, this.max, e2) >= this.bins) e2++;
    const o2 = Pow2Histogram.cell(this.min, e2);
    if (e2 !== this.e || o2 !== this.o) this.regrid(e2, o2);
  }

  /** Adds the value v of stimulus i. Non-finite values are counted apart and not binned. */
  add(v: number, i: number): void {
    if (!Number.isFinite(v)) {
      this.nonFinite++;
      return;
    }
    if (this.n === 0) {
      this.e = HIST_EMIN;
      this.min = v;
      this.max = v;
      this.o = Pow2Histogram.cell(v, this.e);
    } else if (v < this.min || v > this.max) {
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
      this.fit();
    }
    const j = Pow2Histogram.cell(v, this.e) - this.o;
    this.counts[j]++;
    this.n++;
    if (this.reservoir) Pow2Histogram.keep(this.rKey, this.rIdx, this.rVal, this.rN, this.reservoir, j, sampleKey(this.seed, i), i, v);
  }

  /** Adds another partial (same bins, reservoir and seed): the result equals one histogram of both streams. */
  merge(other: Pow2Histogram): void {
    if (other.bins !== this.bins || other.reservoir !== this.reservoir || other.seed !== this.seed) throw new Error('Pow2Histogram.merge: the partials differ in bins, reservoir or seed');
    this.nonFinite += other.nonFinite;
    if (other.n === 0) return;
    if (this.n === 0) {
      this.e = other.e;
      this.o = other.o;
      this.counts = other.counts.slice();
      this.rKey = other.rKey.slice();
      this.rIdx = other.rIdx.slice();
      this.rVal = other.rVal.slice();
      this.rN = other.rN.slice();
      this.n = other.n;
      this.min = other.min;
      this.max = other.max;
      return;
    }
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
    let e2 = Math.max(this.e, other.e);
    while (this.span(this.min, this.max, e2) >= this.bins) e2++;
    const o2 = Pow2Histogram.cell(this.min, e2);
    this.regrid(e2, o2);
    const f = 2 ** (e2 - other.e);
    const r = this.reservoir;
    for (let j = 0; j < other.bins; j++) {
      if (other.counts[j] === 0) continue;
      const j2 = Math.floor((other.o + j) / f) - o2;
      this.counts[j2] += other.counts[j];
      for (let s = 0; s < other.rN[j]; s++) Pow2Histogram.keep(this.rKey, this.rIdx, this.rVal, this.rN, r, j2, other.rKey[j * r + s], other.rIdx[j * r + s], other.rVal[j * r + s]);
    }
    this.n += other.n;
  }

  /** The whole state, for sending a partial to another process ({@link Pow2Histogram.fromState}). */
  state(): Pow2HistogramState {
    const { e, o, n, nonFinite, min, max, counts, rKey, rIdx, rVal, rN } = this;
    return { e, o, n, nonFinite, min, max, counts, rKey, rIdx, rVal, rN };
  }

  static fromState(bins: number, reservoir: number, seed: number, s: Pow2HistogramState): Pow2Histogram {
    const h = new Pow2Histogram(bins, reservoir, seed);
    if (s.counts.length !== bins || s.rN.length !== bins || s.rKey.length !== bins * reservoir || s.rIdx.length !== bins * reservoir || s.rVal.length !== bins * reservoir) {
      throw new Error('Pow2Histogram.fromState: array lengths do not match bins and reservoir');
    }
    h.e = s.e;
    h.o = s.o;
    h.n = s.n;
    h.nonFinite = s.nonFinite;
    h.min = s.min;
    h.max = s.max;
    h.counts = s.counts;
    h.rKey = s.rKey;
    h.rIdx = s.rIdx;
    h.rVal = s.rVal;
    h.rN = s.rN;
    return h;
  }

  /** The occupied bins, from the one holding min to the one holding max. */
  result(): HistogramBins {
    if (this.n === 0) return { width: NaN, lo: NaN, counts: [], n: 0, nonFinite: this.nonFinite, min: NaN, max: NaN };
    const w = 2 ** this.e;
    const last = Pow2Histogram.cell(this.max, this.e) - this.o;
    return { width: w, lo: this.o * w, counts: Array.from(this.counts.subarray(0, last + 1)), n: this.n, nonFinite: this.nonFinite, min: this.min, max: this.max };
  }

  /**
   * Up to q groups of consecutive bins holding about 1/q of the stimuli each (bin j goes to group
   * ⌊q·(stimuli below j + count_j / 2) / n⌋; groups a bin-heavy distribution leaves empty are omitted),
   * each with up to `examples` stimuli drawn uniformly at random from it (≤ reservoir).
   */
  quantileGroups(q: number, examples: number): QuantileGroup[] {
    if (!(Number.isInteger(q) && q >= 1)) throw new Error(`quantileGroups: q must be a positive integer (got ${q})`);
    const m = Math.min(examples, this.reservoir);
    const h = this.result();
    if (h.n === 0) return [];
    const groups: { bins: number[]; count: number; below: number }[] = [];
    let cum = 0;
    let current = -1;
    for (let j = 0; j < h.counts.length; j++) {
      const c = h.counts[j];
      if (c === 0) continue;
      const g = Math.min(q - 1, Math.floor((q * (cum + c / 2)) / h.n));
      if (g !== current) {
        groups.push({ bins: [], count: 0, below: cum });
        current = g;
      }
      const grp = groups[groups.length - 1];
      grp.bins.push(j);
      grp.count += c;
      cum += c;
    }
    const r = this.reservoir;
    return groups.map((g) => {
      const pool: SampledItem[] = [];
      for (const j of g.bins) for (let s = 0; s < this.rN[j]; s++) pool.push({ key: this.rKey[j * r + s], index: this.rIdx[j * r + s], value: this.rVal[j * r + s] });
      pool.sort((a, b) => a.key - b.key || a.index - b.index);
      const picked = pool.slice(0, m).sort((a, b) => b.value - a.value || a.index - b.index);
      const first = g.bins[0];
      const last = g.bins[g.bins.length - 1];
      return {
        fromQuantile: g.below / h.n,
        toQuantile: (g.below + g.count) / h.n,
        lo: Math.max(h.min, h.lo + first * h.width),
        hi: Math.min(h.max, h.lo + (last + 1) * h.width),
        count: g.count,
        examples: picked,
      };
    });
  }
}
