/**
 * The contrast pipeline, shared by the jobs, the CLI, the tests and the benchmark:
 * plan → infer (the session pool) → fold (per-set moments) → test (per-unit statistics) → analyse
 * (regions, topography, permutations, reliability on an analysis worker). Memory does not grow with
 * the number of stimuli unless the analysis needs the matrix or activations are kept (streamed to .npy).
 */
import type { AnalysisOptions } from '../domain/analysis.ts';
import { DEFAULT_ANALYSIS } from '../domain/defaults.ts';
import { UnprocessableError } from '../domain/errors.ts';
import type { Pooling } from '../domain/manifest.ts';
import type { LesionConfig, LesionSite } from '../domain/lesion.ts';
import type { LayerOutcome, ModelRecord } from '../domain/records.ts';
import type { SheetLayout } from '../domain/sheet.ts';
import { AnalysisCancelledError, AnalysisPool, type EngineSpec, type LayerDone } from './analysis-worker.ts';
import { contrastMatrix } from './analyse.ts';
import { Fold } from './fold.ts';
import { CancelledError } from './infer.ts';
import { planBatches, planBatchesByLength, planLayers, setCount, tokenCounts, type ContrastSpec, type PlannedLayer, type Stimulus, type TokenTable } from './plan.ts';
import { releaseSessions, runPass, startSessions, tokenise, type PassRuntime, type PassTimings } from './shards.ts';
import { layerMoments, layerOutcome, type TestOptions } from './test.ts';

export { CancelledError };
export type { ContrastSpec, Stimulus };

export interface ContrastOptions extends TestOptions {
  layers: string[];
  pooling: Pooling | null;
  keepActivations: boolean;
  batchSize: number;
  analysis?: AnalysisOptions;
  /**
   * Text models: batches of texts of similar token length (default), or in stimulus order. Results
   * agree to float rounding; kept activations are in stimulus order either way.
   */
  batchOrder?: 'length' | 'stimulus';
}

export interface ContrastTimings {
  totalMs: number;
  /** Until the pool's sessions were ready (encoding of the first batches overlaps it). */
  setupMs: number;
  encodeMs: number;
  inferenceMs: number;
  inferenceWallMs: number;
  statsMs: number;
  stimuli: number;
  batches: number;
  /** Plan stage (tokenising texts, ordering batches). */
  planMs?: number;
  imagesDecoded?: number;
  imagesCached?: number;
  /** Text models: token positions fed (padding included) and real tokens. */
  paddedTokens?: number;
  realTokens?: number;
  /** Analysis workers used after inference. */
  analysisWorkers?: number;
  /** 1 when the pass ran on a session pool kept open from an earlier job (no start-up), else 0. */
  sessionReused?: number;
  /** Layers pooled by the graph itself (a pooled copy of the model), the rest fetched whole and pooled here; embedded passes only. */
  pooledInGraph?: number;
  /** Shards of the pass; distributed: bytes of their partials, the coordinator's time receiving and merging them. */
  shards?: number;
  partialBytes?: number;
  receiveMs?: number;
  mergeMs?: number;
}

/** What the pipeline needs of the model and of the machine (and, distributed, of the queue: `remote`). */
export interface ContrastEnv extends PassRuntime {
  model: ModelRecord;
  /** The pruned ONNX file the workers run. */
  onnxPath: string;
  /** The model's stored folder (tokenizer files). */
  modelDir: string;
  /** Each layer's sheet, as stored at registration. */
  sheetOf: (layer: PlannedLayer) => SheetLayout;
  /** A lesioned model: `onnxPath` is the lesion copy, run with this configuration (see inference/pool.ts). */
  lesion?: { sites: LesionSite[]; config: LesionConfig | null };
  /** Batches per shard (TOPOSCOPE_SHARD_BATCHES): the unit of distribution and of the merge order. */
  shardBatches: number;
}

export interface ContrastHooks {
  /** Stimuli through the model so far (stage 'inference'), then the analysis stage of each layer. */
  onProgress?: (done: number, total: number, stage?: string) => void;
  signal?: AbortSignal;
  /** Folder for kept activations (.npy files); required when keepActivations. */
  activationsDir?: string;
  /** Permutation engine: ONNX Runtime on its own worker (default) or the pure-JS reference. */
  permutationEngine?: EngineSpec;
}

/** Runs one contrast: A's sets against B's sets (as given by each stimulus' condition). */
export async function runContrast(env: ContrastEnv, stimuli: Stimulus[], opts: ContrastOptions, hooks: ContrastHooks = {}) {
  const a = [...new Set(stimuli.filter((s) => s.condition === 'a').map((s) => s.setIndex))];
  const b = [...new Set(stimuli.filter((s) => s.condition === 'b').map((s) => s.setIndex))];
  if (a.length === 0 || b.length === 0) throw new UnprocessableError(`condition ${a.length === 0 ? 'a' : 'b'} has no stimuli`, a.length === 0 ? 'a' : 'b');
  const r = await runContrasts(env, stimuli, [{ a, b }], opts, hooks);
  return { layers: r.contrasts[0], stimuli, timings: r.timings };
}

/** Texts tokenised once (on a thread, off the event loop) and batched by length, which pads less; images batched in order. */
async function planPass(env: ContrastEnv, stimuli: Stimulus[], opts: ContrastOptions, batchSize: number) {
  let tokens: TokenTable | null = null;
  /** Texts cut to maxTokens, by set index. */
  const truncatedBySet: number[] = [];
  if (env.model.modality === 'text') {
    const t = await tokenise(
      env.model,
      env.modelDir,
      stimuli.map((s) => s.item.text ?? ''),
      stimuli.map((s) => s.item.label ?? `${s.setId}#${s.item.position}`),
    );
    tokens = t.tokens;
    for (let i = 0; i < stimuli.length; i++) if (t.truncated[i]) truncatedBySet[stimuli[i].setIndex] = (truncatedBySet[stimuli[i].setIndex] ?? 0) + 1;
  }
  const byLength = tokens !== null && batchSize > 1 && (opts.batchOrder ?? 'length') === 'length';
  return { tokens, truncatedBySet, batches: byLength ? planBatchesByLength(tokens!, batchSize) : planBatches(stimuli.length, batchSize) };
}

/**
 * Several contrasts over one pass through the model (a localizer battery): each stimulus is seen
 * once, rows fold into per-set moments, and each contrast merges the moments of its sets (exact).
 */
export async function runContrasts(
  env: ContrastEnv,
  stimuli: Stimulus[],
  contrasts: ContrastSpec[],
  opts: ContrastOptions,
  hooks: ContrastHooks = {},
): Promise<{ contrasts: LayerOutcome[][]; stimuli: Stimulus[]; timings: ContrastTimings; truncatedBySet: number[] }> {
  const t0 = performance.now();
  const { model } = env;
  const layers = planLayers(model, opts.layers, opts.pooling);
  if (opts.keepActivations && contrasts.length !== 1) throw new UnprocessableError('keepActivations is available for single contrasts, not for batteries', 'keepActivations');
  if (opts.keepActivations && !hooks.activationsDir) throw new Error('activationsDir is required to keep activations');
  const batchSize = model.info.dynamicBatch ? opts.batchSize : 1;
  const analysis = opts.analysis ?? DEFAULT_ANALYSIS;
  const keepMatrix = Boolean(analysis.permutations || analysis.reliability);
  const foldSpec = { kind: 'moments' as const, nSets: setCount(stimuli), rows: keepMatrix || opts.keepActivations };
  // The sessions start now: loading the model overlaps tokenising the texts.
  const sessions = env.remote ? null : startSessions(env, { onnxPath: env.onnxPath, lesion: env.lesion, layers, model, fold: foldSpec });
  let tokens: TokenTable | null;
  let truncatedBySet: number[];
  let batches;
  let fold: Fold;
  try {
    ({ tokens, truncatedBySet, batches } = await planPass(env, stimuli, opts, batchSize));
    fold = new Fold(layers, stimuli, setCount(stimuli), {
      keepMatrix,
      activationsDir: opts.keepActivations ? hooks.activationsDir : undefined,
      tokenCounts: tokens ? tokenCounts(tokens) : null,
    });
  } catch (e) {
    if (sessions) await releaseSessions(env, sessions, true);
    throw e;
  }
  const planMs = performance.now() - t0;
  const cores = Math.max(1, env.workers * env.intraOpThreads);
  // The default analysis of a few thousand units takes milliseconds, less than booting a second
  // worker: more workers only for big layers, permutations or reliability.
  const heavy = Boolean(analysis.permutations || analysis.reliability);
  const units = layers.reduce((s, l) => s + l.units, 0) * contrasts.length;
  const analysisWorkers = Math.max(1, Math.min(layers.length * contrasts.length, cores, heavy ? Infinity : Math.ceil(units / 4096)));
  // Booted once the sessions are ready: booting alongside them would slow the session process's
  // start (it runs at a lower priority), which inference waits for, while the analysis is needed
  // only after the last batch.
  const runners = new AnalysisPool(analysisWorkers, { boot: !sessions });
  sessions?.acquired.then(
    () => runners.boot(),
    () => undefined,
  );
  const tInf = performance.now();
  let inferred: PassTimings;
  try {
    inferred = await runPass(
      env,
      {
        name: 'main',
        model,
        onnxPath: env.onnxPath,
        lesion: env.lesion,
        layers,
        stimuli,
        batches,
        tokens,
        fold: foldSpec,
        shardBatches: env.shardBatches,
      },
      (_, p) => fold.mergeShard(p),
      { signal: hooks.signal, onProgress: (done, total) => hooks.onProgress?.(done, total, 'inference') },
      sessions ?? undefined,
    );
  } catch (e) {
    fold.abort();
    await runners.close();
    throw e;
  }
  const inferenceWallMs = performance.now() - tInf;

  // Every layer's moments are final after the last batch: each layer goes to the next free analysis
  // worker at once (its t-test, correction and analysis run there, the layers in parallel across
  // workers); a correction across layers follows once every layer is tested.
  const tStats = performance.now();
  const sheets = layers.map((l) => env.sheetOf(l));
  const activations = fold.closeActivations();
  const matrices = fold.takeMatrices();
  const results: LayerOutcome[][] = [];
  const engine: EngineSpec = hooks.permutationEngine ?? { kind: 'ort', threads: Math.max(1, Math.floor(cores / analysisWorkers)) };
  const correctHere = opts.correctionScope === 'layer' || layers.length === 1;
  const test = { test: opts.test, correction: opts.correction, correctionScope: opts.correctionScope, alpha: opts.alpha };
  try {
    const moments = contrasts.map((spec) => layers.map((_, li) => layerMoments(fold, li, spec)));
    const pending: Promise<LayerDone>[][] = contrasts.map((spec, ci) =>
      layers.map((l, li) => {
        const matrix = matrices ? contrastMatrix(matrices[li], l.units, spec.a, spec.b) : null;
        const layerTag = layers.length > 1 ? ` (layer ${li + 1}/${layers.length}: ${l.name})` : '';
        const job = runners.run(
          { layer: { name: l.name, units: l.units, pooling: l.pooling, moments: moments[ci][li] }, sheet: sheets[li], test, correctHere, opts: analysis, matrix, engine },
          { signal: hooks.signal, onProgress: (stage, d, total) => hooks.onProgress?.(stimuli.length, stimuli.length, `${stage} ${d}/${total}${layerTag}`) },
        );
        job.catch(() => undefined);
        return job;
      }),
    );
    hooks.onProgress?.(stimuli.length, stimuli.length, 'statistics');
    // A cancel reaches every running analysis (its permutation test stops); wait for all to end.
    const settled = await Promise.allSettled(pending.flat());
    if (hooks.signal?.aborted || settled.some((r) => r.status === 'rejected' && r.reason instanceof AnalysisCancelledError)) throw new CancelledError();
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    for (const jobs of pending) {
      const done = await Promise.all(jobs);
      const corrected = correctHere ? done.map((d) => d.corrected!) : await runners.correct(done.map((d) => d.tested), opts.correction, opts.correctionScope);
      results.push(
        done.map((d, li) => ({
          ...layerOutcome(layers[li], sheets[li], d.tested, corrected[li], opts),
          analysis: d.analysis,
          activations: contrasts.length === 1 ? activations[li] : null,
        })),
      );
    }
  } finally {
    await runners.close();
  }
  return {
    contrasts: results,
    stimuli,
    truncatedBySet,
    timings: {
      totalMs: performance.now() - t0,
      setupMs: inferred.setupMs,
      encodeMs: inferred.encodeMs,
      inferenceMs: inferred.inferenceMs,
      inferenceWallMs,
      statsMs: performance.now() - tStats,
      stimuli: stimuli.length,
      batches: inferred.batches,
      planMs,
      imagesDecoded: inferred.imagesDecoded,
      imagesCached: inferred.imagesCached,
      paddedTokens: inferred.paddedTokens,
      realTokens: inferred.realTokens,
      analysisWorkers,
      sessionReused: inferred.sessionReused ? 1 : 0,
      ...(inferred.pooledInGraph !== undefined ? { pooledInGraph: inferred.pooledInGraph } : {}),
      shards: inferred.shards,
      ...(inferred.partialBytes !== undefined ? { partialBytes: inferred.partialBytes, receiveMs: inferred.receiveMs, mergeMs: inferred.mergeMs } : {}),
    },
  };
}
