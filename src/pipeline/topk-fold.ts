/**
 * The fold of a top-stimuli pass (see topk.ts): per channel top-k and bottom-k heaps, the histogram
 * with its per-bin samples, and the sum of the region's mean. A fold over a shard of the stimuli is a
 * mergeable partial: {@link TopStimuliFold.merge} gives the fold of the union (ties are broken by
 * stimulus index and samples by per-stimulus hash keys), so sharded runs reproduce one pass.
 */
import type { PooledLayer } from '../inference/pool.ts';
import type { Pow2HistogramState, QuantileGroup } from '../stats/streaming.ts';
import { Pow2Histogram, TopKHeaps } from '../stats/streaming.ts';
import type { Batch } from './plan.ts';

export interface RegionUnits {
  layer: string;
  units: Int32Array;
}

/** The options a fold depends on. */
export interface FoldOptions {
  k: number;
  bottomK: number;
  bins: number;
  perQuantile: number;
  seed: number;
  perUnit: boolean;
}

export interface TopStimuliFoldState {
  top: TopKHeaps;
  bottom: TopKHeaps | null;
  hist: Pow2HistogramState;
  sum: number;
}

/** The fold: channel 0 is the region's mean; channels 1 … are its units, layer by layer (when perUnit). */
export class TopStimuliFold {
  readonly top: TopKHeaps;
  readonly bottom: TopKHeaps | null;
  readonly hist: Pow2Histogram;
  readonly channels: number;
  private sum = 0;
  private readonly nUnits: number;
  /** Column offset of each region layer's units inside the per-unit channels. */
  private readonly offsets: number[];

  constructor(
    readonly region: RegionUnits[],
    private readonly opts: FoldOptions,
  ) {
    let n = 0;
    this.offsets = region.map((r) => {
      const o = n;
      n += r.units.length;
      return o;
    });
    this.nUnits = n;
    if (n === 0) throw new Error('TopStimuliFold: the region has no units');
    this.channels = 1 + (opts.perUnit ? n : 0);
    this.top = new TopKHeaps(this.channels, opts.k, 'top');
    this.bottom = opts.bottomK > 0 ? new TopKHeaps(this.channels, opts.bottomK, 'bottom') : null;
    this.hist = new Pow2Histogram(opts.bins, opts.perQuantile, opts.seed);
  }

  /** Bytes the fold keeps (its typed arrays): O(channels × k + bins × examples). */
  static bytes(channels: number, k: number, bottomK: number, bins: number, perQuantile: number): number {
    return channels * (k + bottomK) * 12 + bins * (8 + perQuantile * 20);
  }

  /**
   * Folds the rows of stimuli start … start + rows − 1: `layers[i]` is the pooled batch of region layer i
   * (one row per stimulus, in order).
   */
  addRows(start: number, rows: number, layers: { data: Float32Array; units: number }[]): void {
    const { region, top, bottom, hist } = this;
    const nUnits = this.nUnits;
    const perUnit = this.opts.perUnit;
    for (let r = 0; r < rows; r++) {
      const idx = start + r;
      let s = 0;
      for (let li = 0; li < region.length; li++) {
        const U = layers[li].units;
        const data = layers[li].data;
        const units = region[li].units;
        const base = r * U;
        const off = 1 + this.offsets[li];
        for (let j = 0; j < units.length; j++) {
          const v = data[base + units[j]];
          s += v;
          if (perUnit) {
            top.offer(off + j, v, idx);
            bottom?.offer(off + j, v, idx);
          }
        }
      }
      const m = s / nUnits;
      top.offer(0, m, idx);
      bottom?.offer(0, m, idx);
      hist.add(m, idx);
      if (Number.isFinite(m)) this.sum += m;
    }
  }

  /** Folds one batch from the infer stage (rows of batch.start + sample[r]). */
  add(batch: Batch, pooled: PooledLayer[]): void {
    const byKey = new Map(pooled.map((p) => [p.key, p]));
    const layers = this.region.map((r) => {
      const p = byKey.get(r.layer);
      if (!p) throw new Error(`layer '${r.layer}' missing from the pooled batch`);
      if (p.rows !== batch.end - batch.start) throw new Error(`layer '${r.layer}': ${p.rows} pooled rows for a batch of ${batch.end - batch.start} stimuli (top stimuli need one row per stimulus)`);
      return p;
    });
    this.addRows(batch.start, batch.end - batch.start, layers);
  }

  /** Adds a partial over other stimuli (same region and options). */
  merge(other: TopStimuliFold): void {
    this.top.merge(other.top);
    if (this.bottom && other.bottom) this.bottom.merge(other.bottom);
    this.hist.merge(other.hist);
    this.sum += other.sum;
  }

  /** The fold's state as arrays, to send it to another process ({@link TopStimuliFold.fromState}). */
  state(): TopStimuliFoldState {
    return { top: this.top, bottom: this.bottom, hist: this.hist.state(), sum: this.sum };
  }

  /** A fold rebuilt from the state another process sent (same region and options). */
  static fromState(region: RegionUnits[], opts: FoldOptions, s: { top: TopKHeaps; bottom: TopKHeaps | null; hist: Pow2HistogramState; sum: number }): TopStimuliFold {
    const f = new TopStimuliFold(region, opts);
    if (s.top.channels !== f.channels || (s.bottom?.channels ?? f.channels) !== f.channels) throw new Error('TopStimuliFold.fromState: channel count differs');
    f.top.merge(s.top);
    if (f.bottom && s.bottom) f.bottom.merge(s.bottom);
    f.hist.merge(Pow2Histogram.fromState(opts.bins, opts.perQuantile, opts.seed, s.hist));
    f.sum = s.sum;
    return f;
  }

  get mean(): number {
    return this.hist.n ? this.sum / this.hist.n : NaN;
  }

  /** The region channel's examples: top, bottom and the quantile groups. */
  regionResult(quantiles: number): { top: { values: Float64Array; index: Int32Array }; bottom: { values: Float64Array; index: Int32Array } | null; groups: QuantileGroup[] } {
    return { top: this.top.sorted(0), bottom: this.bottom ? this.bottom.sorted(0) : null, groups: this.hist.quantileGroups(quantiles, this.opts.perQuantile) };
  }

  /** Per-unit heaps as arrays: index and value [units × k], −1 / NaN where a heap holds fewer than k. */
  unitArrays(): { topIndex: Int32Array; topValue: Float32Array; bottomIndex: Int32Array | null; bottomValue: Float32Array | null } {
    const n = this.channels - 1;
    const pack = (h: TopKHeaps) => {
      const index = new Int32Array(n * h.k).fill(-1);
      const value = new Float32Array(n * h.k).fill(NaN);
      for (let c = 0; c < n; c++) {
        const s = h.sorted(c + 1);
        index.set(s.index, c * h.k);
        value.set(s.values, c * h.k);
      }
      return { index, value };
    };
    const t = pack(this.top);
    const b = this.bottom ? pack(this.bottom) : null;
    return { topIndex: t.index, topValue: t.value, bottomIndex: b?.index ?? null, bottomValue: b?.value ?? null };
  }
}
