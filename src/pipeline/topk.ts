/**
 * Top stimuli of a region in one streaming pass: plan → infer → a fold that keeps, for the region's
 * mean response (and optionally for each of its units), top-k and bottom-k heaps, an exact
 * power-of-two histogram and a seeded uniform sample per histogram bin (for examples from quantile
 * bins). Memory is O(channels × k + bins × examples), whatever the number of stimuli. For text models
 * the final examples are then re-run alone with 'tokens' pooling to get their per-token activations.
 *
 * A fold over a shard of the stimuli is a mergeable partial: {@link TopStimuliFold.merge} gives the fold
 * of the union, identical whatever the order of merging (ties are broken by stimulus index and samples
 * by per-stimulus hash keys), so sharded runs reproduce the single-process result.
 */
import { UnprocessableError } from '../domain/errors.ts';
import type { Pooling } from '../domain/manifest.ts';
import type { QuantileGroup } from '../stats/streaming.ts';
import { Pow2Histogram, TopKHeaps } from '../stats/streaming.ts';
import type { PooledLayer } from '../inference/pool.ts';
import { SessionPool } from '../inference/pool.ts';
import { TokenStrings } from '../inference/token-strings.ts';
import type { ContrastEnv } from './contrast.ts';
import { CancelledError, infer } from './infer.ts';
import { planBatches, planLayers, type Batch, type PlannedLayer, type Stimulus } from './plan.ts';

export interface RegionUnits {
  layer: string;
  units: Int32Array;
}

export interface TopStimuliOptions {
  k: number;
  bottomK: number;
  quantiles: number;
  perQuantile: number;
  bins: number;
  seed: number;
  perUnit: boolean;
  pooling: Pooling | null;
  batchSize: number;
  /** Re-run the examples with 'tokens' pooling (text models). */
  tokens: boolean;
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
    private readonly opts: Pick<TopStimuliOptions, 'k' | 'bottomK' | 'bins' | 'perQuantile' | 'seed' | 'perUnit'>,
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

export interface TokenActivations {
  tokens: string[];
  values: number[];
}

export interface TopStimuliRun {
  fold: TopStimuliFold;
  layers: PlannedLayer[];
  tokens: Map<number, TokenActivations>;
  timings: { totalMs: number; passMs: number; tokensMs: number; encodeMs: number; inferenceMs: number; stimuli: number; batches: number };
}

export interface TopStimuliHooks {
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** The stimuli whose per-token activations are wanted, from the finished fold (default: none). */
  examples?: (fold: TopStimuliFold) => number[];
}

async function withPool<T>(env: ContrastEnv, signal: AbortSignal | undefined, fn: (pool: SessionPool) => Promise<T>): Promise<T> {
  const pool = await SessionPool.create(env.onnxPath, { workers: env.workers, intraOpThreads: env.intraOpThreads, label: env.model.name });
  const onAbort = () => void pool.close();
  signal?.addEventListener('abort', onAbort);
  try {
    return await fn(pool);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await pool.close();
  }
}

/** Runs the pass over `stimuli` (their order defines the stimulus index), then the per-token re-run. */
export async function runTopStimuli(env: ContrastEnv, stimuli: Stimulus[], region: RegionUnits[], opts: TopStimuliOptions, hooks: TopStimuliHooks = {}): Promise<TopStimuliRun> {
  const t0 = performance.now();
  const { model } = env;
  if (opts.pooling === 'tokens') throw new UnprocessableError("top stimuli rank whole stimuli: use pooling 'mean', 'max' or 'last' (per-token activations of the examples come with tokens: true)", 'pooling');
  const layers = planLayers(model, region.map((r) => r.layer), opts.pooling);
  for (const l of layers) {
    if (l.pooling === 'tokens') throw new UnprocessableError(`layer '${l.name}' pools 'tokens' by default; give pooling 'mean', 'max' or 'last'`, 'pooling');
  }
  const fold = new TopStimuliFold(region, opts);
  const batchSize = model.info.dynamicBatch ? opts.batchSize : 1;
  const batches = planBatches(stimuli.length, batchSize);
  const inferred = await withPool(env, hooks.signal, (pool) =>
    infer({ pool, model, modelDir: env.modelDir, layers, stimuli, batches, readImage: env.readImage, signal: hooks.signal }, (batch, pooled) => {
      fold.add(batch, pooled);
      hooks.onProgress?.(batch.end, stimuli.length);
    }),
  );
  const passMs = performance.now() - t0;
  const tTok = performance.now();
  const tokens = new Map<number, TokenActivations>();
  const wanted = opts.tokens && model.modality === 'text' && hooks.examples ? [...new Set(hooks.examples(fold))].sort((a, b) => a - b) : [];
  if (wanted.length) {
    if (hooks.signal?.aborted) throw new CancelledError();
    const sub = wanted.map((i) => stimuli[i]);
    const tokLayers: PlannedLayer[] = layers.map((l) => ({ ...l, pooling: 'tokens' }));
    const strings = new TokenStrings(model.manifest.input.text!, env.modelDir);
    const nUnits = region.reduce((s, r) => s + r.units.length, 0);
    await withPool(env, hooks.signal, (pool) =>
      infer({ pool, model, modelDir: env.modelDir, layers: tokLayers, stimuli: sub, batches: planBatches(sub.length, batchSize), readImage: env.readImage, signal: hooks.signal }, (batch, pooled) => {
        const byKey = new Map(pooled.map((p) => [p.key, p]));
        const first = byKey.get(region[0].layer)!;
        for (let r = 0; r < first.rows; r++) {
          const j = batch.start + first.sample[r];
          const idx = wanted[j];
          let s = 0;
          for (const reg of region) {
            const p = byKey.get(reg.layer)!;
            const base = r * p.units;
            for (let q = 0; q < reg.units.length; q++) s += p.data[base + reg.units[q]];
          }
          let t = tokens.get(idx);
          if (!t) {
            t = { tokens: strings.tokens(stimuli[idx].item.text ?? ''), values: [] };
            tokens.set(idx, t);
          }
          t.values[first.token[r]] = s / nUnits;
        }
      }),
    );
    for (const [idx, t] of tokens) {
      if (t.tokens.length !== t.values.length) throw new Error(`stimulus ${idx}: ${t.tokens.length} token strings for ${t.values.length} token activations`);
    }
  }
  return {
    fold,
    layers,
    tokens,
    timings: {
      totalMs: performance.now() - t0,
      passMs,
      tokensMs: performance.now() - tTok,
      encodeMs: inferred.encodeMs,
      inferenceMs: inferred.inferenceMs,
      stimuli: stimuli.length,
      batches: inferred.batches,
    },
  };
}
