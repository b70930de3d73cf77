/**
 * The contrast pipeline, shared by the jobs, the CLI, the tests and the benchmark:
 * plan → infer (session workers) → fold (per-set moments) → test (per-unit statistics) → analyse
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
import { SessionPool } from '../inference/pool.ts';
import { AnalysisRunner, type EngineSpec } from './analysis-worker.ts';
import { contrastMatrix } from './analyse.ts';
import { Fold } from './fold.ts';
import { CancelledError, infer } from './infer.ts';
import { planBatches, planLayers, setCount, type ContrastSpec, type PlannedLayer, type Stimulus } from './plan.ts';
import { testContrast, type TestOptions } from './test.ts';

export { CancelledError };
export type { ContrastSpec, Stimulus };

export interface ContrastOptions extends TestOptions {
  layers: string[];
  pooling: Pooling | null;
  keepActivations: boolean;
  batchSize: number;
  analysis?: AnalysisOptions;
}

export interface ContrastTimings {
  totalMs: number;
  setupMs: number;
  encodeMs: number;
  inferenceMs: number;
  inferenceWallMs: number;
  statsMs: number;
  stimuli: number;
  batches: number;
}

/** What the pipeline needs of the model and of the machine. */
export interface ContrastEnv {
  model: ModelRecord;
  /** The pruned ONNX file the workers run. */
  onnxPath: string;
  /** The model's stored folder (tokenizer files). */
  modelDir: string;
  /** Each layer's sheet, as stored at registration. */
  sheetOf: (layer: PlannedLayer) => SheetLayout;
  readImage: (s: Stimulus) => Buffer;
  workers: number;
  intraOpThreads: number;
  /** A lesioned model: `onnxPath` is the lesion copy, run with this configuration (see inference/pool.ts). */
  lesion?: { sites: LesionSite[]; config: LesionConfig | null };
}

export interface ContrastHooks {
  onProgress?: (done: number, total: number) => void;
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
): Promise<{ contrasts: LayerOutcome[][]; stimuli: Stimulus[]; timings: ContrastTimings }> {
  const t0 = performance.now();
  const { model } = env;
  const layers = planLayers(model, opts.layers, opts.pooling);
  if (opts.keepActivations && contrasts.length !== 1) throw new UnprocessableError('keepActivations is available for single contrasts, not for batteries', 'keepActivations');
  if (opts.keepActivations && !hooks.activationsDir) throw new Error('activationsDir is required to keep activations');
  const batches = planBatches(stimuli.length, model.info.dynamicBatch ? opts.batchSize : 1);
  const analysis = opts.analysis ?? DEFAULT_ANALYSIS;
  const fold = new Fold(layers, stimuli, setCount(stimuli), {
    keepMatrix: Boolean(analysis.permutations || analysis.reliability),
    activationsDir: opts.keepActivations ? hooks.activationsDir : undefined,
  });

  const pool = await SessionPool.create(env.onnxPath, { workers: env.workers, intraOpThreads: env.intraOpThreads, lesion: env.lesion });
  const setupMs = performance.now() - t0;
  const onAbort = () => void pool.close();
  hooks.signal?.addEventListener('abort', onAbort);
  const tInf = performance.now();
  let inferred;
  try {
    inferred = await infer({ pool, model, modelDir: env.modelDir, layers, stimuli, batches, readImage: env.readImage, signal: hooks.signal }, (batch, pooled) => {
      fold.add(batch, pooled);
      hooks.onProgress?.(batch.end, stimuli.length);
    });
  } catch (e) {
    fold.abort();
    throw e;
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    await pool.close();
  }
  const inferenceWallMs = performance.now() - tInf;

  const tStats = performance.now();
  const sheets = layers.map((l) => env.sheetOf(l));
  const activations = fold.closeActivations();
  const matrices = fold.takeMatrices();
  const results: LayerOutcome[][] = [];
  const runner = new AnalysisRunner();
  const engine: EngineSpec = hooks.permutationEngine ?? { kind: 'ort', threads: Math.max(1, env.workers * env.intraOpThreads) };
  try {
    for (const spec of contrasts) {
      const outcomes = testContrast(fold, spec, sheets, opts);
      for (let li = 0; li < outcomes.length; li++) {
        if (hooks.signal?.aborted) throw new CancelledError();
        const o = outcomes[li];
        const matrix = matrices ? contrastMatrix(matrices[li], o.units, spec.a, spec.b) : null;
        o.analysis = await runner.run({ t: o.t, p: o.p, units: o.units }, o.sheet, opts.test, analysis, matrix, engine);
        if (contrasts.length === 1) o.activations = activations[li];
      }
      results.push(outcomes);
    }
  } finally {
    await runner.close();
  }
  return {
    contrasts: results,
    stimuli,
    timings: {
      totalMs: performance.now() - t0,
      setupMs,
      encodeMs: inferred.encodeMs,
      inferenceMs: inferred.inferenceMs,
      inferenceWallMs,
      statsMs: performance.now() - tStats,
      stimuli: stimuli.length,
      batches: inferred.batches,
    },
  };
}
