/**
 * The lesion evaluation, shared by the jobs, the tests and the benchmark. One session pool on the
 * model's lesion copy serves everything:
 *
 * 1. (mean mode) a reference pass with the intact model: each lesioned layer's unit means over the
 *    reference stimuli (over every real token of a text, over every image);
 * 2. the evaluation: each batch is encoded once and run through the intact model and then through
 *    every configuration (lesion, controls) in the pool's session, which returns per-stimulus measures.
 *
 * Values come back as one Float64Array per measure, (1 + configurations) × stimuli, row-major, row 0
 * the intact model: the sufficient statistics of every set-level result (see stats/lesion.ts).
 */
import type { BehaviourOutput, LesionConfig, LesionInfo } from '../domain/lesion.ts';
import type { ModelRecord, StimulusItem } from '../domain/records.ts';
import { encodeImages, TextEncoder as TextIds } from '../inference/encode.ts';
import { SessionPool } from '../inference/pool.ts';
import type { FeedSpec, LayerFetch } from '../inference/worker-protocol.ts';
import { CancelledError } from './infer.ts';
import { planBatches, type Batch } from './plan.ts';

export { CancelledError };

export interface LesionEnv {
  model: ModelRecord;
  /** The lesion copy of the model. */
  onnxPath: string;
  /** The model's stored folder (tokenizer files). */
  modelDir: string;
  lesion: LesionInfo;
  readImage: (item: StimulusItem) => Buffer;
  workers: number;
  intraOpThreads: number;
  batchSize: number;
}

/** A stimulus of the evaluation: its set (index into the job's sets) and class index (−1: none). */
export interface EvalStimulus {
  setIndex: number;
  item: StimulusItem;
  label: number;
}

export interface UnitMeans {
  /** Per layer: each unit's mean and the number of pooled rows it is over. */
  layers: Map<string, { mean: Float64Array; rows: number }>;
}

export interface LesionRunInput {
  stimuli: EvalStimulus[];
  output: BehaviourOutput;
  /** Mean mode: the reference stimuli and the layers whose unit means are needed. */
  reference: { items: StimulusItem[]; layers: string[] } | null;
  /** The configurations to run after the intact model, given the unit means (null without a reference pass). */
  configs: (means: UnitMeans | null) => LesionConfig[];
}

export interface LesionHooks {
  /** done / total in stimulus evaluations (a stimulus under one configuration; reference stimuli count once). */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface LesionTimings {
  totalMs: number;
  setupMs: number;
  referenceMs: number;
  encodeMs: number;
  /** Σ session.run time in the workers, over every configuration. */
  inferenceMs: number;
  evaluationWallMs: number;
  stimuli: number;
  configurations: number;
  batches: number;
}

export interface LesionRunResult {
  configs: LesionConfig[];
  means: UnitMeans | null;
  /** measure → (1 + configs) × stimuli values, row-major (row 0: the intact model). */
  values: Record<string, Float64Array>;
  timings: LesionTimings;
}

interface Encoded {
  feeds: Record<string, FeedSpec>;
  lengths: Int32Array | null;
  targets: Int32Array | null;
}

function encoder(env: LesionEnv): (items: StimulusItem[], labels: string[]) => Promise<Encoded> {
  const { model } = env;
  if (model.modality === 'text') {
    const spec = model.manifest.input.text!;
    const enc = new TextIds(spec, env.modelDir);
    return async (items, labels) => {
      const b = enc.encode(items.map((i) => i.text ?? ''), labels);
      const ids = new BigInt64Array(b.feeds[spec.idsInput].data);
      const targets = new Int32Array(ids.length);
      for (let i = 0; i < ids.length; i++) targets[i] = Number(ids[i]);
      return { feeds: b.feeds, lengths: b.lengths, targets };
    };
  }
  const image = model.manifest.input.image!;
  return async (items, labels) => ({ feeds: { [image.name]: await encodeImages(items.map((i) => env.readImage(i)), image, labels) }, lengths: null, targets: null });
}

/** Runs `work` on every batch with a bounded number in flight, handing results back in batch order. */
async function eachBatch<T>(batches: Batch[], maxInFlight: number, work: (b: Batch) => Promise<T>, done: (b: Batch, r: T) => void, signal?: AbortSignal): Promise<void> {
  const inFlight = new Map<number, Promise<T>>();
  let next = 0;
  for (const b of batches) {
    while (next < batches.length && inFlight.size < maxInFlight) {
      if (signal?.aborted) throw new CancelledError();
      const p = work(batches[next]);
      p.catch(() => undefined); // awaited below, in order
      inFlight.set(next, p);
      next++;
    }
    let r: T;
    try {
      r = await inFlight.get(b.index)!;
    } catch (e) {
      if (signal?.aborted) throw new CancelledError();
      throw e;
    }
    inFlight.delete(b.index);
    if (signal?.aborted) throw new CancelledError();
    done(b, r);
  }
}

const stimulusLabel = (item: StimulusItem) => item.label ?? `item ${item.position}`;

export async function runLesionEvaluation(env: LesionEnv, input: LesionRunInput, hooks: LesionHooks = {}): Promise<LesionRunResult> {
  const t0 = performance.now();
  const { stimuli, output } = input;
  const batchSize = env.model.info.dynamicBatch ? env.batchSize : 1;
  const encode = encoder(env);
  const pool = await SessionPool.create(env.onnxPath, { workers: env.workers, intraOpThreads: env.intraOpThreads, lesion: { sites: env.lesion.sites, config: null }, label: env.model.name });
  const setupMs = performance.now() - t0;
  const onAbort = () => void pool.close();
  hooks.signal?.addEventListener('abort', onAbort);
  const timings: LesionTimings = { totalMs: 0, setupMs, referenceMs: 0, encodeMs: 0, inferenceMs: 0, evaluationWallMs: 0, stimuli: stimuli.length, configurations: 0, batches: 0 };
  try {
    if (hooks.signal?.aborted) throw new CancelledError();
    // 1. Reference pass (mean mode).
    const refItems = input.reference?.items ?? [];
    let means: UnitMeans | null = null;
    let done = 0;
    let total = refItems.length;
    if (input.reference) {
      const tr = performance.now();
      const sites = input.reference.layers.map((name) => {
        const s = env.lesion.sites.find((x) => x.layer === name);
        if (!s) throw new Error(`layer '${name}' has no lesion site`);
        return s;
      });
      const layerInfo = (name: string) => env.model.info.layers.find((l) => l.name === name)!;
      const fetch: LayerFetch[] = sites.map((s) => ({ key: s.layer, tensor: s.output, unitAxis: layerInfo(s.layer).unitAxis, pooling: env.model.modality === 'text' ? 'tokens' : 'mean' }));
      const sums = sites.map((s) => ({ sum: new Float64Array(s.units), rows: 0 }));
      const refBatches = planBatches(refItems.length, batchSize);
      await eachBatch(
        refBatches,
        pool.size + 1,
        async (b) => {
          const items = refItems.slice(b.start, b.end);
          const te = performance.now();
          const enc = await encode(items, items.map(stimulusLabel));
          timings.encodeMs += performance.now() - te;
          return pool.pool(enc.feeds, fetch, enc.lengths, `reference batch ${b.index + 1} of ${refBatches.length}`);
        },
        (b, r) => {
          r.layers.forEach((pl, li) => {
            const acc = sums[li];
            for (let row = 0; row < pl.rows; row++) for (let u = 0; u < pl.units; u++) acc.sum[u] += pl.data[row * pl.units + u];
            acc.rows += pl.rows;
          });
          done = b.end;
          hooks.onProgress?.(done, total);
        },
        hooks.signal,
      );
      means = { layers: new Map(sites.map((s, li) => [s.layer, { mean: sums[li].sum.map((v) => v / Math.max(1, sums[li].rows)), rows: sums[li].rows }])) };
      timings.referenceMs = performance.now() - tr;
    }
    // 2. The evaluation.
    const configs = input.configs(means);
    timings.configurations = configs.length;
    const C = configs.length + 1;
    const N = stimuli.length;
    total = refItems.length + N * C;
    const values: Record<string, Float64Array> = {};
    const tEval = performance.now();
    const batches = planBatches(N, batchSize);
    await eachBatch(
      batches,
      pool.size + 1,
      async (b) => {
        const slice = stimuli.slice(b.start, b.end);
        const te = performance.now();
        const enc = await encode(
          slice.map((s) => s.item),
          slice.map((s) => stimulusLabel(s.item)),
        );
        timings.encodeMs += performance.now() - te;
        const labels = output.kind === 'classifier' ? Int32Array.from(slice.map((s) => s.label)) : null;
        return pool.behaviour(enc.feeds, { tensor: output.fetch, kind: output.kind }, { lengths: enc.lengths, targets: enc.targets, labels }, configs, `batch ${b.index + 1} of ${batches.length}`);
      },
      (b, r) => {
        timings.inferenceMs += r.runMs;
        timings.batches++;
        r.results.forEach((res, ci) => {
          for (const [k, v] of Object.entries(res)) {
            values[k] ??= new Float64Array(C * N).fill(NaN);
            values[k].set(v, ci * N + b.start);
          }
        });
        done = refItems.length + b.end * C;
        hooks.onProgress?.(done, total);
      },
      hooks.signal,
    );
    timings.evaluationWallMs = performance.now() - tEval;
    timings.totalMs = performance.now() - t0;
    return { configs, means, values, timings };
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    await pool.close();
  }
}
