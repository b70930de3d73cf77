/**
 * Cross-validated response profiles of an fROI: define the region on one part of the data and measure
 * its mean response to every category on the rest.
 *
 * - split-half: the localizer's sets and the measured sets go through the model once (rows kept);
 *   for each of k seeded splits, half of each localizer set defines the fROI (Welch t per unit on the
 *   definition halves, top `percent` % by signed t) and every other stimulus — the other halves and the
 *   measured sets, minus any item that is in the definition half — is measured with it. A stimulus'
 *   cross-validated response is the mean over the splits that measured it.
 * - independent: a fixed fROI (a mask, defined on other data) is measured on the measured sets in one
 *   streaming pass; items of the sets that defined the mask are left out.
 *
 * The matched random control (same units per layer, drawn from outside the fROI, seeded) is measured on
 * exactly the same stimuli. Per category: the mean with a seeded percentile-bootstrap CI over stimuli.
 */
import { UnprocessableError } from '../domain/errors.ts';
import type { CI, ProfileCategory, ProfileResult } from '../domain/encoding.ts';
import type { Pooling } from '../domain/manifest.ts';
import { bootstrapCohensD, bootstrapMean, mean } from '../stats/bootstrap.ts';
import { measurable, splitHalves } from '../stats/crossval.ts';
import { matchedRandomMask, topKCount } from '../stats/masks.ts';
import { Moments } from '../stats/moments.ts';
import { twoSidedP } from '../stats/tdist.ts';
import { tTest } from '../stats/ttest.ts';
import type { ContrastEnv } from './contrast.ts';
import { Fold } from './fold.ts';
import { CancelledError } from './infer.ts';
import { planBatches, planLayers, setCount, type PlannedLayer, type Stimulus } from './plan.ts';
import { regionMean } from './partials.ts';
import { runPass, tokenise, type PassTimings } from './shards.ts';
import type { RegionUnits } from './topk-fold.ts';

export interface StoredSplit {
  split: number;
  /** Stimulus indices (of this job) used to define the fROI. */
  definition: Int32Array;
  /** Stimulus indices measured with it. */
  measurement: Int32Array;
  /** Item hashes that defined the fROI outside this job's stimuli (independent mode: the mask's localizer). */
  definitionItems: string[];
  roi: RegionUnits[];
  control: RegionUnits[] | null;
}

export interface ProfileSpec {
  mode: 'split-half' | 'independent';
  /** split-half: set indices (into the job's set list) of the localizer's conditions. */
  a: number[];
  b: number[];
  /** split-half: layers the fROI is chosen from, and how. */
  layers: string[];
  percent: number;
  scope: 'layer' | 'all';
  sign: 'positive' | 'negative';
  /** independent: the fixed fROI and the item hashes that defined it. */
  roi: RegionUnits[] | null;
  definitionItems: Set<string>;
  /** Set index of each measured category. */
  measure: number[];
  splits: number;
  seed: number;
  control: boolean;
  pooling: Pooling | null;
  batchSize: number;
}

export interface ProfileRun {
  splits: StoredSplit[];
  /** Per stimulus: Σ of its held-out responses and how many splits measured it (fROI, control). */
  roiSum: Float64Array;
  roiCount: Int32Array;
  ctrlSum: Float64Array;
  ctrlCount: Int32Array;
  layers: PlannedLayer[];
  timings: { totalMs: number; encodeMs: number; inferenceMs: number; statsMs: number; stimuli: number; batches: number };
}

/** Seed of the control of layer li in split s (independent mode: the one createControlMask uses for a mask's layer li). */
export function controlSeed(seed: number, li: number, split: number | null): number {
  return (seed + 7919 * li + (split === null ? 0 : 15485863 * (split + 1))) >>> 0;
}

/** The fROI of one split: top percent of units by signed t, within each layer or across them. */
export function selectUnits(tByLayer: { layer: string; t: Float64Array }[], percent: number, scope: 'layer' | 'all', sign: 'positive' | 'negative'): RegionUnits[] {
  const s = sign === 'positive' ? 1 : -1;
  const rank = (a: { v: number; l: number; u: number }, b: { v: number; l: number; u: number }) => b.v - a.v || a.l - b.l || a.u - b.u;
  const all: { v: number; l: number; u: number }[][] = tByLayer.map((x, l) => Array.from(x.t, (t, u) => ({ v: s * t, l, u })).filter((e) => !Number.isNaN(e.v)));
  const picked: number[][] = tByLayer.map(() => []);
  if (scope === 'layer') {
    all.forEach((list, l) => {
      list.sort(rank);
      for (const e of list.slice(0, topKCount(list.length, percent))) picked[l].push(e.u);
    });
  } else {
    const flat = all.flat().sort(rank);
    for (const e of flat.slice(0, topKCount(flat.length, percent))) picked[e.l].push(e.u);
  }
  return tByLayer.map((x, l) => ({ layer: x.layer, units: Int32Array.from(picked[l].sort((p, q) => p - q)) })).filter((r) => r.units.length > 0);
}

function controlOf(roi: RegionUnits[], unitsOf: (layer: string) => number, seedOf: (li: number) => number): RegionUnits[] {
  return roi.map((r, li) => {
    const n = unitsOf(r.layer);
    if (n - r.units.length < r.units.length) throw new UnprocessableError(`layer '${r.layer}': the fROI holds ${r.units.length} of ${n} units; too few remain outside it for a matched control`);
    return { layer: r.layer, units: matchedRandomMask(r.units, n, seedOf(li)) };
  });
}

export async function runProfile(env: ContrastEnv, stimuli: Stimulus[], spec: ProfileSpec, hooks: { onProgress?: (done: number, total: number) => void; signal?: AbortSignal } = {}): Promise<ProfileRun> {
  const t0 = performance.now();
  const { model } = env;
  if (spec.pooling === 'tokens') throw new UnprocessableError("a profile measures whole stimuli: use pooling 'mean', 'max' or 'last'", 'pooling');
  const layerNames = spec.mode === 'split-half' ? spec.layers : spec.roi!.map((r) => r.layer);
  const layers = planLayers(model, layerNames, spec.pooling);
  for (const l of layers) if (l.pooling === 'tokens') throw new UnprocessableError(`layer '${l.name}' pools 'tokens' by default; give pooling 'mean', 'max' or 'last'`, 'pooling');
  const unitsOf = (name: string) => layers.find((l) => l.name === name)!.units;
  const N = stimuli.length;
  const roiSum = new Float64Array(N);
  const roiCount = new Int32Array(N);
  const ctrlSum = new Float64Array(N);
  const ctrlCount = new Int32Array(N);
  const itemOf = (i: number) => stimuli[i].item.sha256;
  const measuredSets = new Set(spec.measure);
  const candidates = Int32Array.from(stimuli.map((s, i) => (measuredSets.has(s.setIndex) ? i : -1)).filter((i) => i >= 0));
  const batches = planBatches(N, model.info.dynamicBatch ? spec.batchSize : 1);
  const tokens =
    model.modality === 'text'
      ? (await tokenise(model, env.modelDir, stimuli.map((s) => s.item.text ?? ''), stimuli.map((s) => s.item.label ?? `${s.setId}#${s.item.position}`))).tokens
      : null;
  const plan = { name: 'main', model, onnxPath: env.onnxPath, layers, stimuli, batches, tokens, shardBatches: env.shardBatches };
  const passHooks = { signal: hooks.signal, onProgress: hooks.onProgress };
  const splits: StoredSplit[] = [];
  let inferred: PassTimings;
  let fold: Fold | null = null;
  if (spec.mode === 'independent') {
    const roi = spec.roi!;
    const control = spec.control ? controlOf(roi, unitsOf, (li) => controlSeed(spec.seed, li, null)) : null;
    const measurement = measurable(candidates, [], itemOf, spec.definitionItems);
    const inMeas = new Uint8Array(N);
    for (const i of measurement) inMeas[i] = 1;
    splits.push({ split: 0, definition: new Int32Array(0), measurement, definitionItems: [...spec.definitionItems].sort(), roi, control });
    const toJson = (r: RegionUnits[]) => r.map((x) => ({ layer: x.layer, units: Array.from(x.units) }));
    inferred = await runPass(
      env,
      { ...plan, fold: { kind: 'region', roi: toJson(roi), control: control ? toJson(control) : null } },
      (_, p) => {
        if (p.kind !== 'region') throw new Error(`profile: a '${p.kind}' partial`);
        for (let r = 0; r < p.stim.length; r++) {
          const i = p.stim[r];
          if (!inMeas[i]) continue;
          roiSum[i] += p.roi[r];
          roiCount[i]++;
          if (p.control) {
            ctrlSum[i] += p.control[r];
            ctrlCount[i]++;
          }
        }
      },
      passHooks,
    );
  } else {
    const f = new Fold(layers, stimuli, setCount(stimuli), { keepMatrix: true });
    fold = f;
    inferred = await runPass(env, { ...plan, fold: { kind: 'rows' } }, (_, p) => f.mergeShard(p), passHooks);
  }
  const tStats = performance.now();
  if (fold) {
    const matrices = fold.takeMatrices()!;
    for (const m of matrices) if (m.rows !== N) throw new Error(`a profile needs one row per stimulus (got ${m.rows} rows for ${N} stimuli)`);
    const byKey = new Map(layers.map((l, li) => [l.name, { data: matrices[li].data, units: l.units }]));
    const groupOf = (sets: number[]) => sets.map((si) => Int32Array.from(stimuli.map((s, i) => (s.setIndex === si ? i : -1)).filter((i) => i >= 0)));
    const aGroups = groupOf(spec.a);
    const bGroups = groupOf(spec.b);
    const halves = splitHalves([...aGroups, ...bGroups], spec.splits, spec.seed);
    const inA = new Uint8Array(N);
    for (const g of aGroups) for (const i of g) inA[i] = 1;
    for (let s = 0; s < halves.length; s++) {
      if (hooks.signal?.aborted) throw new CancelledError();
      const { definition } = halves[s];
      const tByLayer = layers.map((l, li) => {
        const A = new Moments(l.units);
        const B = new Moments(l.units);
        const data = matrices[li].data;
        for (const i of definition) (inA[i] ? A : B).pushRows(data, 1, l.units, i * l.units);
        if (A.n < 2 || B.n < 2) throw new UnprocessableError(`split-half needs at least 2 definition stimuli per condition (a has ${A.n}, b has ${B.n}); give each condition at least 4 stimuli`);
        return { layer: l.name, t: tTest(A, B, 'welch').t };
      });
      const roi = selectUnits(tByLayer, spec.percent, spec.scope, spec.sign);
      const control = spec.control ? controlOf(roi, unitsOf, (li) => controlSeed(spec.seed, layers.findIndex((l) => l.name === roi[li].layer), s)) : null;
      const measurement = measurable(candidates, definition, itemOf);
      for (const i of measurement) {
        roiSum[i] += regionMean(roi, byKey, i);
        roiCount[i]++;
        if (control) {
          ctrlSum[i] += regionMean(control, byKey, i);
          ctrlCount[i]++;
        }
      }
      splits.push({ split: s, definition, measurement, definitionItems: [], roi, control });
    }
  }
  return {
    splits,
    roiSum,
    roiCount,
    ctrlSum,
    ctrlCount,
    layers,
    timings: {
      totalMs: performance.now() - t0,
      encodeMs: inferred.encodeMs,
      inferenceMs: inferred.inferenceMs,
      statsMs: performance.now() - tStats,
      stimuli: N,
      batches: inferred.batches,
    },
  };
}

function ciOf(values: Float64Array, resamples: number, seed: number, level: number): CI {
  const b = bootstrapMean(values, { resamples, seed, level });
  return { mean: b.estimate, lo: b.lo, hi: b.hi, se: b.se, n: b.n };
}

/** Welch t, df and two-sided p of two samples. */
function welch(a: Float64Array, b: Float64Array): { t: number; df: number; p: number } {
  const ma = mean(a);
  const mb = mean(b);
  let sa = 0;
  let sb = 0;
  for (const v of a) sa += (v - ma) * (v - ma);
  for (const v of b) sb += (v - mb) * (v - mb);
  const va = sa / (a.length - 1) / a.length;
  const vb = sb / (b.length - 1) / b.length;
  const se = Math.sqrt(va + vb);
  if (!(se > 0) || a.length < 2 || b.length < 2) return { t: NaN, df: NaN, p: NaN };
  const t = (ma - mb) / se;
  const df = (va + vb) ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
  return { t, df, p: twoSidedP(t, df) };
}

/**
 * Per category the cross-validated responses of its stimuli, their mean and bootstrap CI (category c
 * resamples with seed + 1013·(c + 1), its control with that + 1), and the optional effect between two
 * categories (Cohen's d with a bootstrap CI, Welch t).
 */
export function profileResult(
  run: ProfileRun,
  stimuli: Stimulus[],
  categories: { set: string; name: string; setIndex: number }[],
  o: { resamples: number; level: number; seed: number; control: boolean; effect: { a: number; b: number } | null; mode: 'split-half' | 'independent'; pooling: string },
): ProfileResult {
  const valuesOf = (setIndex: number, sum: Float64Array, count: Int32Array) => {
    const v: number[] = [];
    for (let i = 0; i < stimuli.length; i++) if (stimuli[i].setIndex === setIndex && count[i] > 0) v.push(sum[i] / count[i]);
    return Float64Array.from(v);
  };
  const seedOf = (c: number) => (o.seed + 1013 * (c + 1)) >>> 0;
  const cats: ProfileCategory[] = categories.map((c, ci) => {
    const items = stimuli.filter((s) => s.setIndex === c.setIndex).length;
    const roi = valuesOf(c.setIndex, run.roiSum, run.roiCount);
    return {
      set: c.set,
      name: c.name,
      items,
      measured: roi.length,
      excluded: items - roi.length,
      roi: ciOf(roi, o.resamples, seedOf(ci), o.level),
      control: o.control ? ciOf(valuesOf(c.setIndex, run.ctrlSum, run.ctrlCount), o.resamples, seedOf(ci) + 1, o.level) : null,
    };
  });
  let effect: ProfileResult['effect'] = null;
  if (o.effect) {
    const ca = categories[o.effect.a];
    const cb = categories[o.effect.b];
    const d = (sum: Float64Array, count: Int32Array, seed: number) => {
      const a = valuesOf(ca.setIndex, sum, count);
      const b = valuesOf(cb.setIndex, sum, count);
      const bs = bootstrapCohensD(a, b, { resamples: o.resamples, seed, level: o.level });
      return { a, b, ci: { d: bs.estimate, lo: bs.lo, hi: bs.hi, se: bs.se, meanDiff: mean(a) - mean(b), nA: a.length, nB: b.length } };
    };
    const r = d(run.roiSum, run.roiCount, (o.seed + 7) >>> 0);
    const w = welch(r.a, r.b);
    effect = { a: ca.name, b: cb.name, roi: r.ci, control: o.control ? d(run.ctrlSum, run.ctrlCount, (o.seed + 8) >>> 0).ci : null, t: w.t, df: w.df, p: w.p };
  }
  return {
    mode: o.mode,
    pooling: o.pooling,
    categories: cats,
    roiUnits: run.splits.map((s) => s.roi.reduce((n, r) => n + r.units.length, 0)),
    effect,
    bootstrap: { resamples: o.resamples, level: o.level, seed: o.seed, method: 'percentile bootstrap over the stimuli of each category (their cross-validated responses)' },
    splits: run.splits.length,
  };
}
