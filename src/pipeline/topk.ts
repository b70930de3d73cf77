/**
 * Top stimuli of a region in one streaming pass: plan → infer → a fold that keeps, for the region's
 * mean response (and optionally for each of its units), top-k and bottom-k heaps, an exact
 * power-of-two histogram and a seeded uniform sample per histogram bin (for examples from quantile
 * bins). Memory is O(channels × k + bins × examples), whatever the number of stimuli. For text models
 * the final examples are then re-run alone with 'tokens' pooling to get their per-token activations.
 *
 * The pass runs in shards (see shards.ts); each shard's fold (topk-fold.ts) is merged in shard order.
 */
import { UnprocessableError } from '../domain/errors.ts';
import type { Pooling } from '../domain/manifest.ts';
import { TokenStrings } from '../inference/token-strings.ts';
import type { ContrastEnv } from './contrast.ts';
import { CancelledError } from './infer.ts';
import { planBatches, planLayers, tokenTable, type PlannedLayer, type Stimulus, type TokenTable } from './plan.ts';
import { runPass, tokenise } from './shards.ts';
import { TopStimuliFold, type RegionUnits } from './topk-fold.ts';

export { TopStimuliFold, type RegionUnits };

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

/** The token table of a subset of the texts (in the order of `which`). */
function subTable(t: TokenTable, which: number[]): TokenTable {
  return tokenTable(which.length, (j) => t.ids.subarray(t.offsets[which[j]], t.offsets[which[j] + 1]));
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
  const toJson = (r: RegionUnits[]) => r.map((x) => ({ layer: x.layer, units: Array.from(x.units) }));
  const fold = new TopStimuliFold(region, opts);
  const batchSize = model.info.dynamicBatch ? opts.batchSize : 1;
  const batches = planBatches(stimuli.length, batchSize);
  const tokenTableAll =
    model.modality === 'text'
      ? (await tokenise(model, env.modelDir, stimuli.map((s) => s.item.text ?? ''), stimuli.map((s) => s.item.label ?? `${s.setId}#${s.item.position}`))).tokens
      : null;
  const { k, bottomK, bins, perQuantile, seed, perUnit } = opts;
  const inferred = await runPass(
    env,
    { name: 'main', model, onnxPath: env.onnxPath, layers, stimuli, batches, tokens: tokenTableAll, fold: { kind: 'topk', region: toJson(region), options: { k, bottomK, bins, perQuantile, seed, perUnit } }, shardBatches: env.shardBatches },
    (_, p) => {
      if (p.kind !== 'topk') throw new Error(`top stimuli: a '${p.kind}' partial`);
      fold.merge(p.fold);
    },
    { signal: hooks.signal, onProgress: hooks.onProgress },
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
    const li = new Map(layers.map((l, i) => [l.name, i]));
    await runPass(
      env,
      { name: 'tokens', model, onnxPath: env.onnxPath, layers: tokLayers, stimuli: sub, batches: planBatches(sub.length, batchSize), tokens: subTable(tokenTableAll!, wanted), fold: { kind: 'rows' }, shardBatches: env.shardBatches },
      (_, p) => {
        if (p.kind !== 'rows') throw new Error(`top stimuli: a '${p.kind}' partial`);
        const first = p.rows[li.get(region[0].layer)!];
        for (let r = 0; r < first.rows; r++) {
          const idx = wanted[first.stim[r]];
          let s = 0;
          for (const reg of region) {
            const rows = p.rows[li.get(reg.layer)!];
            const base = r * rows.units;
            for (let q = 0; q < reg.units.length; q++) s += rows.data[base + reg.units[q]];
          }
          let t = tokens.get(idx);
          if (!t) {
            t = { tokens: strings.tokens(stimuli[idx].item.text ?? ''), values: [] };
            tokens.set(idx, t);
          }
          t.values[first.token[r]] = s / nUnits;
        }
      },
      { signal: hooks.signal },
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
