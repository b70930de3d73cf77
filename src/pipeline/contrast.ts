/**
 * The contrast pipeline, shared by the API, the CLI, the tests and the benchmark: run the stimuli of
 * conditions A and B through the model in batches on worker threads, fold each pooled row into
 * per-condition streaming moments (Welford, Float64), and compute per-unit statistics per layer.
 * Memory does not grow with the number of stimuli unless activations are kept (streamed to .npy).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../store/context.ts';
import { UnprocessableError } from '../domain/errors.ts';
import { resolveLayout, type SheetLayout } from '../sheet/layout.ts';
import type { Pooling } from '../domain/manifest.ts';
import { SessionPool, type PooledLayer } from '../inference/pool.ts';
import { EXPOSED_FILE, modelDir } from '../usecases/models.ts';
import type { LayerFetch } from '../inference/worker-protocol.ts';
import { Moments } from '../stats/moments.ts';
import { tTest, type TestKind } from '../stats/ttest.ts';
import { adjustP, type Correction } from '../stats/correction.ts';
import type { ModelRecord, LayerInfo } from '../store/models-repo.ts';
import { NpyWriter } from './npy-writer.ts';
import { encodeImages, TextEncoder as TextIds } from '../inference/encode.ts';
import { readItemBytes, setItems, type StimulusItem, type StimulusSet } from '../usecases/stimulus-sets.ts';
import { DEFAULT_ANALYSIS, type AnalysisOptions, type LayerAnalysis, type LayerMatrix } from './analyse.ts';
import { AnalysisRunner, type EngineSpec } from './analysis-worker.ts';

export interface ContrastOptions {
  layers: string[];
  pooling: Pooling | null;
  test: TestKind;
  correction: Correction;
  correctionScope: 'layer' | 'all';
  alpha: number;
  keepActivations: boolean;
  batchSize: number;
  analysis?: AnalysisOptions;
}

export interface Stimulus {
  condition: 'a' | 'b';
  /** Index of the stimulus' set in the list the job runs (A's sets first, then B's). */
  setIndex: number;
  setId: string;
  item: StimulusItem;
}

export interface LayerSummary {
  units: number;
  rows: number;
  cols: number;
  nA: number;
  nB: number;
  pooling: string;
  significant: number;
  significantPositive: number;
  significantNegative: number;
  alpha: number;
  correction: Correction;
  peak: { unit: number; row: number; col: number; t: number; p: number; q: number; d: number } | null;
  maxT: number;
  minT: number;
  zeroVarianceUnits: number;
}

export interface LayerOutcome {
  name: string;
  units: number;
  rows: number;
  cols: number;
  cellOfUnit: Int32Array;
  nA: number;
  nB: number;
  t: Float64Array;
  df: Float64Array;
  p: Float64Array;
  log10p: Float64Array;
  q: Float64Array;
  d: Float64Array;
  g: Float64Array;
  meanA: Float64Array;
  meanB: Float64Array;
  varA: Float64Array;
  varB: Float64Array;
  summary: LayerSummary;
  activations: { path: string; rowIndexPath: string; rows: number } | null;
  analysis: LayerAnalysis | null;
  sheet: SheetLayout;
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

export interface ContrastOutcome {
  layers: LayerOutcome[];
  stimuli: Stimulus[];
  timings: ContrastTimings;
}

export class CancelledError extends Error {
  constructor() {
    super('cancelled');
  }
}

export interface ContrastHooks {
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** Folder for kept activations (.npy files); required when keepActivations. */
  activationsDir?: string;
  /** Permutation engine: ONNX Runtime on its own worker (default, `threads` ORT threads) or the pure-JS reference. */
  permutationEngine?: EngineSpec;
}

export function collectStimuli(ctx: Context, a: StimulusSet[], b: StimulusSet[]): Stimulus[] {
  const out: Stimulus[] = [];
  let setIndex = 0;
  for (const [cond, sets] of [['a', a], ['b', b]] as const) {
    for (const s of sets) {
      for (const item of setItems(ctx, s.id)) out.push({ condition: cond, setIndex, setId: s.id, item });
      setIndex++;
    }
  }
  return out;
}

/** Layers of the model to analyse, with the pooling in force; 422 on an unknown layer name. */
export function resolveLayers(model: ModelRecord, names: string[] | undefined, pooling: Pooling | null): (LayerInfo & { pooling: Pooling })[] {
  const all = model.info.layers;
  const picked = !names || names.length === 0 ? all : names.map((n, i) => {
    const l = all.find((x) => x.name === n);
    if (!l) throw new UnprocessableError(`layers[${i}]: model '${model.name}' has no layer '${n}'; its layers are ${all.map((x) => `'${x.name}'`).join(', ')}`, `layers[${i}]`);
    return l;
  });
  return picked.map((l) => {
    const p = (pooling ?? l.pooling) as Pooling;
    if (model.modality === 'image' && (p === 'last' || p === 'tokens')) {
      throw new UnprocessableError(`pooling '${p}' is for text models; model '${model.name}' is an image model (use 'mean' or 'max')`, 'pooling');
    }
    return { ...l, pooling: p };
  });
}

/** One contrast: the set indices (into the job's set list) of condition A and of condition B. */
export interface ContrastSpec {
  a: number[];
  b: number[];
}

/** Runs one contrast: A's sets against B's sets (as given by each stimulus' condition). */
export async function runContrast(
  ctx: Context,
  model: ModelRecord,
  stimuli: Stimulus[],
  opts: ContrastOptions,
  hooks: ContrastHooks = {},
): Promise<ContrastOutcome> {
  const a = [...new Set(stimuli.filter((s) => s.condition === 'a').map((s) => s.setIndex))];
  const b = [...new Set(stimuli.filter((s) => s.condition === 'b').map((s) => s.setIndex))];
  if (a.length === 0 || b.length === 0) throw new UnprocessableError(`condition ${a.length === 0 ? 'a' : 'b'} has no stimuli`, a.length === 0 ? 'a' : 'b');
  const r = await runContrasts(ctx, model, stimuli, [{ a, b }], opts, hooks);
  return { layers: r.contrasts[0], stimuli, timings: r.timings };
}

/**
 * Runs several contrasts over one pass through the model (a localizer battery): each stimulus is
 * seen once, rows fold into per-set moments, and each contrast merges the moments of its sets
 * (Chan et al.: exact). Returns per contrast its layer outcomes.
 */
export async function runContrasts(
  ctx: Context,
  model: ModelRecord,
  stimuli: Stimulus[],
  contrasts: ContrastSpec[],
  opts: ContrastOptions,
  hooks: ContrastHooks = {},
): Promise<{ contrasts: LayerOutcome[][]; stimuli: Stimulus[]; timings: ContrastTimings }> {
  const t0 = performance.now();
  const layers = resolveLayers(model, opts.layers, opts.pooling);
  let nSets = 0;
  for (const s of stimuli) if (s.setIndex + 1 > nSets) nSets = s.setIndex + 1; // no spread: sets may hold 10⁵ items
  if (opts.keepActivations && contrasts.length !== 1) throw new UnprocessableError('keepActivations is available for single contrasts, not for batteries', 'keepActivations');
  const dir = modelDir(ctx, model);
  const batchSize = model.info.dynamicBatch ? Math.max(1, opts.batchSize) : 1;
  const textEnc = model.modality === 'text' ? new TextIds(model.manifest.input.text!, dir) : null;
  const fetch: LayerFetch[] = layers.map((l) => ({ key: l.name, tensor: l.tensor, unitAxis: l.unitAxis, pooling: l.pooling }));

  const setMom = layers.map((l) => Array.from({ length: nSets }, () => new Moments(l.units)));
  const writers: { data: NpyWriter; index: NpyWriter }[] | null = opts.keepActivations ? [] : null;
  if (writers) {
    if (!hooks.activationsDir) throw new Error('activationsDir is required to keep activations');
    fs.mkdirSync(hooks.activationsDir, { recursive: true });
    for (const l of layers) {
      writers.push({
        data: new NpyWriter(path.join(hooks.activationsDir, `${l.name}.npy`), '<f4', l.units),
        index: new NpyWriter(path.join(hooks.activationsDir, `${l.name}.rows.npy`), '<i4', 2),
      });
    }
  }

  const analysis = opts.analysis ?? DEFAULT_ANALYSIS;
  const keepMatrix = Boolean(analysis.permutations || analysis.reliability);
  // Per layer, the pooled rows and their condition, when an analysis needs every stimulus.
  const chunks: { data: Float32Array[]; sets: Int32Array[]; rows: number }[] | null = keepMatrix ? layers.map(() => ({ data: [], sets: [], rows: 0 })) : null;

  const pool = await SessionPool.create(path.join(dir, EXPOSED_FILE), { workers: ctx.config.workers, intraOpThreads: ctx.config.intraOpThreads });
  const setupMs = performance.now() - t0;
  let encodeMs = 0;
  let inferenceMs = 0;
  let batches = 0;
  const onAbort = () => void pool.close();
  hooks.signal?.addEventListener('abort', onAbort);
  const tInf = performance.now();
  try {
    const total = stimuli.length;
    const nBatches = Math.ceil(total / batchSize);
    const inFlight = new Map<number, Promise<{ layers: PooledLayer[]; runMs: number }>>();
    const maxInFlight = pool.size + 1;
    let next = 0;
    const launch = async (bi: number) => {
      const slice = stimuli.slice(bi * batchSize, Math.min(total, (bi + 1) * batchSize));
      const te = performance.now();
      const labels = slice.map((s) => s.item.label ?? `${s.setId}#${s.item.position}`);
      if (textEnc) {
        const enc = textEnc.encode(slice.map((s) => s.item.text ?? ''), labels);
        encodeMs += performance.now() - te;
        return pool.pool(enc.feeds, fetch, enc.lengths);
      }
      const feed = await encodeImages(slice.map((s) => readItemBytes(ctx, s.item)), model.manifest.input.image!, labels);
      encodeMs += performance.now() - te;
      return pool.pool({ [model.manifest.input.image!.name]: feed }, fetch, null);
    };
    let done = 0;
    for (let bi = 0; bi < nBatches; bi++) {
      while (next < nBatches && inFlight.size < maxInFlight) {
        if (hooks.signal?.aborted) throw new CancelledError();
        const p = launch(next);
        p.catch(() => undefined); // awaited below in order
        inFlight.set(next, p);
        next++;
      }
      let res: { layers: PooledLayer[]; runMs: number };
      try {
        res = await inFlight.get(bi)!;
      } catch (e) {
        if (hooks.signal?.aborted) throw new CancelledError();
        throw e;
      }
      inFlight.delete(bi);
      if (hooks.signal?.aborted) throw new CancelledError();
      inferenceMs += res.runMs;
      batches++;
      const start = bi * batchSize;
      res.layers.forEach((pl, li) => {
        const units = pl.units;
        // Fold rows into their set's moments, in runs of consecutive rows of one set.
        let r = 0;
        while (r < pl.rows) {
          const si = stimuli[start + pl.sample[r]].setIndex;
          let e = r + 1;
          while (e < pl.rows && stimuli[start + pl.sample[e]].setIndex === si) e++;
          setMom[li][si].pushRows(pl.data.subarray(r * units, e * units), e - r);
          r = e;
        }
        if (chunks) {
          const sets = new Int32Array(pl.rows);
          for (let i = 0; i < pl.rows; i++) sets[i] = stimuli[start + pl.sample[i]].setIndex;
          chunks[li].data.push(pl.data);
          chunks[li].sets.push(sets);
          chunks[li].rows += pl.rows;
        }
        if (writers) {
          writers[li].data.append(pl.data, pl.rows);
          const idx = new Int32Array(pl.rows * 2);
          for (let i = 0; i < pl.rows; i++) {
            idx[2 * i] = start + pl.sample[i];
            idx[2 * i + 1] = pl.token[i];
          }
          writers[li].index.append(idx, pl.rows);
        }
      });
      done = Math.min(total, start + batchSize);
      hooks.onProgress?.(done, total);
    }
  } catch (e) {
    if (writers) for (const w of writers) (w.data.abort(), w.index.abort());
    throw e;
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    await pool.close();
  }
  const inferenceWallMs = performance.now() - tInf;

  const tStats = performance.now();
  const sheets = layers.map((l) => resolveLayout(model.manifest.layers.find((x) => x.name === l.name)?.layout, l.units));
  const activations: LayerOutcome['activations'][] = layers.map((_, li) => {
    if (!writers) return null;
    const { rows } = writers[li].data.close();
    writers[li].index.close();
    return { path: writers[li].data.file, rowIndexPath: writers[li].index.file, rows };
  });
  // The kept rows of each layer, assembled once (the chunks are released as they are copied).
  const matrices: { data: Float32Array; sets: Int32Array; rows: number }[] | null = chunks
    ? chunks.map((c, li) => {
        const units = layers[li].units;
        const data = new Float32Array(c.rows * units);
        const sets = new Int32Array(c.rows);
        let off = 0;
        c.data.forEach((d, i) => {
          data.set(d, off * units);
          sets.set(c.sets[i], off);
          off += c.sets[i].length;
        });
        c.data.length = 0;
        return { data, sets, rows: c.rows };
      })
    : null;
  const merged = (li: number, idx: number[]) => {
    const m = new Moments(layers[li].units);
    for (const i of idx) m.merge(setMom[li][i]);
    return m;
  };
  const results: LayerOutcome[][] = [];
  // Clusters, topography, reliability and permutations run on a worker thread.
  const runner = new AnalysisRunner();
  const engine: EngineSpec = hooks.permutationEngine ?? { kind: 'ort', threads: Math.max(1, ctx.config.workers * ctx.config.intraOpThreads) };
  try {
  for (const spec of contrasts) {
    const outcomes: LayerOutcome[] = layers.map((l, li) => {
      const a = merged(li, spec.a);
      const b = merged(li, spec.b);
      if (a.n < 2 || b.n < 2) {
        throw new UnprocessableError(`layer '${l.name}': a t-test needs at least 2 samples per condition (a has ${a.n}, b has ${b.n})`);
      }
      const r = tTest(a, b, opts.test);
      const sheet = sheets[li];
      return {
        name: l.name,
        units: l.units,
        rows: sheet.rows,
        cols: sheet.cols,
        cellOfUnit: sheet.cellOfUnit,
        nA: a.n,
        nB: b.n,
        t: r.t,
        df: r.df,
        p: r.p,
        log10p: r.log10p,
        q: new Float64Array(0),
        d: r.d,
        g: r.g,
        meanA: Float64Array.from(a.mean),
        meanB: Float64Array.from(b.mean),
        varA: r.varA,
        varB: r.varB,
        summary: { zeroVarianceUnits: r.zeroVarianceUnits, pooling: l.pooling } as LayerSummary,
        activations: contrasts.length === 1 ? activations[li] : null,
        analysis: null,
        sheet,
      };
    });
    applyCorrection(outcomes, opts.correction, opts.correctionScope);
    for (const o of outcomes) o.summary = summarise(o, opts.alpha, opts.correction, o.summary.pooling, o.summary.zeroVarianceUnits);
    const inA = new Set(spec.a);
    const inB = new Set(spec.b);
    for (let li = 0; li < outcomes.length; li++) {
      if (hooks.signal?.aborted) throw new CancelledError();
      const o = outcomes[li];
      let matrix: LayerMatrix | null = null;
      if (matrices) {
        const m = matrices[li];
        let n = 0;
        for (let r = 0; r < m.rows; r++) if (inA.has(m.sets[r]) || inB.has(m.sets[r])) n++;
        if (n === m.rows) {
          const labels = new Uint8Array(m.rows);
          for (let r = 0; r < m.rows; r++) labels[r] = inA.has(m.sets[r]) ? 1 : 0;
          matrix = { data: m.data, rows: m.rows, labels };
        } else {
          const data = new Float32Array(n * o.units);
          const labels = new Uint8Array(n);
          let k = 0;
          for (let r = 0; r < m.rows; r++) {
            if (!inA.has(m.sets[r]) && !inB.has(m.sets[r])) continue;
            data.set(m.data.subarray(r * o.units, (r + 1) * o.units), k * o.units);
            labels[k++] = inA.has(m.sets[r]) ? 1 : 0;
          }
          matrix = { data, rows: n, labels };
        }
      }
      o.analysis = await runner.run({ t: o.t, p: o.p, units: o.units }, o.sheet, opts.test, analysis, matrix, engine);
    }
    results.push(outcomes);
  }
  } finally {
    await runner.close();
  }
  const statsMs = performance.now() - tStats;
  return {
    contrasts: results,
    stimuli,
    timings: {
      totalMs: performance.now() - t0,
      setupMs,
      encodeMs,
      inferenceMs,
      inferenceWallMs,
      statsMs,
      stimuli: stimuli.length,
      batches,
    },
  };
}

/** Multiple-comparison correction within each layer, or across all requested layers together. */
export function applyCorrection(layers: LayerOutcome[], method: Correction, scope: 'layer' | 'all'): void {
  if (scope === 'layer' || layers.length === 1) {
    for (const l of layers) l.q = adjustP(l.p, method);
    return;
  }
  const total = layers.reduce((s, l) => s + l.units, 0);
  const all = new Float64Array(total);
  let o = 0;
  for (const l of layers) {
    all.set(l.p, o);
    o += l.units;
  }
  const q = adjustP(all, method);
  o = 0;
  for (const l of layers) {
    l.q = q.slice(o, o + l.units);
    o += l.units;
  }
}

export function summarise(l: LayerOutcome, alpha: number, correction: Correction, pooling: string, zeroVarianceUnits: number): LayerSummary {
  let sig = 0;
  let pos = 0;
  let neg = 0;
  let peak = -1;
  let maxT = -Infinity;
  let minT = Infinity;
  for (let u = 0; u < l.units; u++) {
    const t = l.t[u];
    if (l.q[u] <= alpha) {
      sig++;
      if (t > 0) pos++;
      else if (t < 0) neg++;
    }
    if (t > maxT) maxT = t;
    if (t < minT) minT = t;
    if (peak < 0 || Math.abs(t) > Math.abs(l.t[peak])) peak = u;
  }
  const cell = peak >= 0 ? l.cellOfUnit[peak] : -1;
  return {
    units: l.units,
    rows: l.rows,
    cols: l.cols,
    nA: l.nA,
    nB: l.nB,
    pooling,
    significant: sig,
    significantPositive: pos,
    significantNegative: neg,
    alpha,
    correction,
    peak:
      peak >= 0
        ? { unit: peak, row: Math.floor(cell / l.cols), col: cell % l.cols, t: l.t[peak], p: l.p[peak], q: l.q[peak], d: l.d[peak] }
        : null,
    maxT,
    minT,
    zeroVarianceUnits,
  };
}
