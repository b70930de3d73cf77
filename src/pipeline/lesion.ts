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
import type { BehaviourFetch } from '../inference/worker-protocol.ts';
import { CancelledError } from './infer.ts';
import { planBatches, tokenTable, type PlannedLayer } from './plan.ts';
import { runPass, tokenise, type PassRuntime } from './shards.ts';

export { CancelledError };

export interface LesionEnv extends PassRuntime {
  model: ModelRecord;
  /** The lesion copy of the model. */
  onnxPath: string;
  /** The model's stored folder (tokenizer files). */
  modelDir: string;
  lesion: LesionInfo;
  batchSize: number;
  shardBatches: number;
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

const stimulusLabel = (item: StimulusItem) => item.label ?? `item ${item.position}`;

/** What the sessions fetch and how they score it: in the graph when the lesion copy has the scoring nodes. */
export function behaviourFetch(output: BehaviourOutput): BehaviourFetch {
  const { score } = output;
  return { tensor: output.fetch, kind: output.kind, ...(score ? { score: { ...score, vocab: output.probeShape[2] } } : {}) };
}

export async function runLesionEvaluation(env: LesionEnv, input: LesionRunInput, hooks: LesionHooks = {}): Promise<LesionRunResult> {
  const t0 = performance.now();
  const { stimuli, output, reference } = input;
  const { model } = env;
  const batchSize = model.info.dynamicBatch ? env.batchSize : 1;
  const refItems = reference?.items ?? [];
  const text = model.modality === 'text';
  // Texts are tokenised once (reference and evaluation together); the lm scores the same ids.
  const allItems = [...refItems, ...stimuli.map((s) => s.item)];
  const table = text ? (await tokenise(model, env.modelDir, allItems.map((i) => i.text ?? ''), allItems.map(stimulusLabel))).tokens : null;
  const part = (from: number, n: number) => (table ? tokenTable(n, (j) => table.ids.subarray(table.offsets[from + j], table.offsets[from + j + 1])) : null);
  const sites = { sites: env.lesion.sites, config: null };
  const timings: LesionTimings = { totalMs: 0, setupMs: 0, referenceMs: 0, encodeMs: 0, inferenceMs: 0, evaluationWallMs: 0, stimuli: stimuli.length, configurations: 0, batches: 0 };
  let total = refItems.length + stimuli.length;
  if (hooks.signal?.aborted) throw new CancelledError();
  // 1. Reference pass (mean mode): per layer Σ over every pooled row, shard by shard, added in shard order.
  let means: UnitMeans | null = null;
  if (reference) {
    const tr = performance.now();
    const refSites = reference.layers.map((name) => {
      const s = env.lesion.sites.find((x) => x.layer === name);
      if (!s) throw new Error(`layer '${name}' has no lesion site`);
      return s;
    });
    const layerInfo = (name: string) => model.info.layers.find((l) => l.name === name)!;
    const layers: PlannedLayer[] = refSites.map((s) => ({ ...layerInfo(s.layer), tensor: s.output, units: s.units, pooling: text ? 'tokens' : 'mean' }));
    const sums = refSites.map((s) => ({ sum: new Float64Array(s.units), rows: 0 }));
    const t = await runPass(
      env,
      { name: 'reference', model, onnxPath: env.onnxPath, lesion: sites, layers, stimuli: refItems.map((item) => ({ setIndex: 0, item })), batches: planBatches(refItems.length, batchSize), tokens: part(0, refItems.length), fold: { kind: 'sums' }, shardBatches: env.shardBatches },
      (_, p) => {
        if (p.kind !== 'sums') throw new Error(`lesion reference: a '${p.kind}' partial`);
        p.sums.forEach((x, li) => {
          const acc = sums[li];
          for (let u = 0; u < x.sum.length; u++) acc.sum[u] += x.sum[u];
          acc.rows += x.rows;
        });
      },
      { signal: hooks.signal, onProgress: (done) => hooks.onProgress?.(done, total) },
    );
    means = { layers: new Map(refSites.map((s, li) => [s.layer, { mean: sums[li].sum.map((v) => v / Math.max(1, sums[li].rows)), rows: sums[li].rows }])) };
    timings.setupMs = t.setupMs;
    timings.encodeMs += t.encodeMs;
    timings.referenceMs = performance.now() - tr;
  }
  // 2. The evaluation: each batch through the intact model, then every configuration.
  const configs = input.configs(means);
  timings.configurations = configs.length;
  const C = configs.length + 1;
  const N = stimuli.length;
  total = refItems.length + N * C;
  const values: Record<string, Float64Array> = {};
  const tEval = performance.now();
  const t = await runPass(
    env,
    {
      name: 'evaluation',
      model,
      onnxPath: env.onnxPath,
      lesion: sites,
      layers: [],
      stimuli: stimuli.map((s) => ({ setIndex: s.setIndex, item: s.item, classIndex: s.label })),
      batches: planBatches(N, batchSize),
      tokens: part(refItems.length, N),
      fold: { kind: 'behaviour', output: behaviourFetch(output), configs },
      shardBatches: env.shardBatches,
    },
    (_, p) => {
      if (p.kind !== 'behaviour') throw new Error(`lesion evaluation: a '${p.kind}' partial`);
      for (const [k, v] of Object.entries(p.values)) {
        values[k] ??= new Float64Array(C * N).fill(NaN);
        for (let ci = 0; ci < C; ci++) values[k].set(v.subarray(ci * p.n, (ci + 1) * p.n), ci * N + p.start);
      }
    },
    { signal: hooks.signal, onProgress: (done) => hooks.onProgress?.(refItems.length + done * C, total) },
  );
  if (!reference) timings.setupMs = t.setupMs;
  timings.encodeMs += t.encodeMs;
  timings.inferenceMs = t.inferenceMs;
  timings.batches = t.batches;
  timings.evaluationWallMs = performance.now() - tEval;
  timings.totalMs = performance.now() - t0;
  return { configs, means, values, timings };
}
