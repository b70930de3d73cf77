/**
 * Running the encoding job kinds ('top-stimuli', 'profile') for the queue: plan the stimuli from the
 * stored parameters, run the pipeline stage, and store the result with its provenance, atomically.
 */
import type { Example, ProfileParams, StimulusRef, TopStimuliParams, TopStimuliResult } from '../domain/encoding.ts';
import { UnprocessableError } from '../domain/errors.ts';
import type { ContrastEnv } from '../pipeline/contrast.ts';
import { planStimuli, type Stimulus } from '../pipeline/plan.ts';
import { profileResult, runProfile } from '../pipeline/profile.ts';
import { runTopStimuli, type RegionUnits, type TopStimuliFold } from '../pipeline/topk.ts';
import type { Context } from '../store/context.ts';
import { itemHashesOfSets, storeEncodingSuccess, type EncodingJobRecord } from '../store/encoding-repo.ts';
import { getSet, setItems } from '../store/sets-repo.ts';

export interface EncodingRunHooks {
  signal: AbortSignal;
  onProgress: (done: number, total: number) => void;
}

function stimuliOf(ctx: Context, setIds: string[]): Stimulus[] {
  return planStimuli(setIds, [], (s) => {
    if (!getSet(ctx.db, s)) throw new UnprocessableError(`stimulus set '${s}' no longer exists`);
    return setItems(ctx.db, s);
  });
}

export function refOf(s: Stimulus, idx: number, setName: string): StimulusRef {
  return { idx, set: s.setId, setName, position: s.item.position, sha256: s.item.sha256, label: s.item.label, text: s.item.text };
}

const regionUnits = (layers: { layer: string; units: number[] }[]): RegionUnits[] => layers.map((l) => ({ layer: l.layer, units: Int32Array.from(l.units) }));

/** The stimuli whose per-token activations are shown: the region's top, bottom and quantile examples. */
function exampleIndices(fold: TopStimuliFold, quantiles: number): number[] {
  const r = fold.regionResult(quantiles);
  return [...r.top.index, ...(r.bottom?.index ?? []), ...r.groups.flatMap((g) => g.examples.map((e) => e.index))];
}

async function runTop(ctx: Context, job: EncodingJobRecord, env: ContrastEnv, hooks: EncodingRunHooks): Promise<void> {
  const p = job.params as TopStimuliParams;
  const stimuli = stimuliOf(ctx, p.sets.map((s) => s.id));
  const names = new Map(p.sets.map((s) => [s.id, s.name]));
  const region = regionUnits(p.region.layers);
  const run = await runTopStimuli(
    env,
    stimuli,
    region,
    { k: p.k, bottomK: p.bottomK, quantiles: p.quantiles, perQuantile: p.perQuantile, bins: p.bins, seed: p.seed, perUnit: p.perUnit, pooling: p.pooling, batchSize: ctx.config.batchSize, tokens: p.tokens },
    { signal: hooks.signal, onProgress: hooks.onProgress, examples: (f) => exampleIndices(f, p.quantiles) },
  );
  const r = run.fold.regionResult(p.quantiles);
  let maxAbsDiff = 0;
  let checked = 0;
  const example = (idx: number, value: number): Example => {
    const s = stimuli[idx];
    const e: Example = { ...refOf(s, idx, names.get(s.setId) ?? s.setId), value };
    const t = run.tokens.get(idx);
    if (t) {
      e.tokens = t;
      if (run.layers.every((l) => l.pooling === 'mean')) {
        const m = t.values.reduce((a, b) => a + b, 0) / t.values.length;
        maxAbsDiff = Math.max(maxAbsDiff, Math.abs(m - value));
        checked++;
      }
    }
    return e;
  };
  const hist = run.fold.hist.result();
  const result: TopStimuliResult = {
    region: p.region,
    pooling: [...new Set(run.layers.map((l) => l.pooling))].join(','),
    n: hist.n,
    nonFinite: hist.nonFinite,
    mean: run.fold.mean,
    top: Array.from(r.top.index, (idx, j) => example(idx, r.top.values[j])),
    bottom: r.bottom ? Array.from(r.bottom.index, (idx, j) => example(idx, r.bottom!.values[j])) : [],
    histogram: { width: hist.width, lo: hist.lo, counts: hist.counts, n: hist.n, min: hist.min, max: hist.max },
    quantiles: r.groups.map((g) => ({ fromQuantile: g.fromQuantile, toQuantile: g.toQuantile, lo: g.lo, hi: g.hi, count: g.count, examples: g.examples.map((e) => example(e.index, e.value)) })),
    perUnit: p.perUnit ? { layers: p.region.layers, k: p.k, bottomK: p.bottomK } : null,
    tokenCheck: checked ? { examples: checked, maxAbsDiff } : null,
  };
  const arrays: { name: string; dtype: 'f32' | 'i32'; data: Float32Array | Int32Array }[] = [];
  if (p.perUnit) {
    const u = run.fold.unitArrays();
    arrays.push({ name: 'units.top.index', dtype: 'i32', data: u.topIndex }, { name: 'units.top.value', dtype: 'f32', data: u.topValue });
    if (u.bottomIndex && u.bottomValue) arrays.push({ name: 'units.bottom.index', dtype: 'i32', data: u.bottomIndex }, { name: 'units.bottom.value', dtype: 'f32', data: u.bottomValue });
  }
  storeEncodingSuccess(ctx.db, job.id, { kind: 'top-stimuli', result, arrays, timings: run.timings });
}

async function runProfileJob(ctx: Context, job: EncodingJobRecord, env: ContrastEnv, hooks: EncodingRunHooks): Promise<void> {
  const p = job.params as ProfileParams;
  const order: string[] = [];
  const add = (id: string) => {
    if (!order.includes(id)) order.push(id);
  };
  if (p.define.kind === 'localizer') for (const s of [...p.define.a, ...p.define.b]) add(s.id);
  for (const s of p.measure) add(s.id);
  const stimuli = stimuliOf(ctx, order);
  const d = p.define;
  const run = await runProfile(
    env,
    stimuli,
    {
      mode: p.mode,
      a: d.kind === 'localizer' ? d.a.map((s) => order.indexOf(s.id)) : [],
      b: d.kind === 'localizer' ? d.b.map((s) => order.indexOf(s.id)) : [],
      layers: d.kind === 'localizer' ? d.layers : [],
      percent: d.kind === 'localizer' ? d.percent : 0,
      scope: d.kind === 'localizer' ? d.scope : 'layer',
      sign: d.kind === 'localizer' ? d.sign : 'positive',
      roi: d.kind === 'region' ? regionUnits(d.region.layers) : null,
      definitionItems: new Set(d.kind === 'region' ? itemHashesOfSets(ctx.db, d.definitionSets) : []),
      measure: p.measure.map((s) => order.indexOf(s.id)),
      splits: p.splits,
      seed: p.seed,
      control: p.control,
      pooling: p.pooling,
      batchSize: ctx.config.batchSize,
    },
    hooks,
  );
  const result = profileResult(
    run,
    stimuli,
    p.measure.map((s) => ({ set: s.id, name: s.name, setIndex: order.indexOf(s.id) })),
    { resamples: p.resamples, level: p.level, seed: p.seed, control: p.control, effect: p.effect, mode: p.mode, pooling: [...new Set(run.layers.map((l) => l.pooling))].join(',') },
  );
  const toJson = (r: RegionUnits[]) => r.map((x) => ({ layer: x.layer, units: Array.from(x.units) }));
  storeEncodingSuccess(ctx.db, job.id, {
    kind: 'profile',
    result,
    stimuli: stimuli.map((s, idx) => ({ idx, setId: s.setId, position: s.item.position, sha256: s.item.sha256 })),
    splits: run.splits.map((s) => ({ split: s.split, definition: s.definition, measurement: s.measurement, definitionItems: s.definitionItems, roi: toJson(s.roi), control: s.control ? toJson(s.control) : null })),
    timings: run.timings,
  });
}

/** Runs one encoding job to its stored result (the queue handles failure, cancel and state). */
export async function runEncodingJob(ctx: Context, job: EncodingJobRecord, env: ContrastEnv, hooks: EncodingRunHooks): Promise<void> {
  if (job.kind === 'top-stimuli') return runTop(ctx, job, env, hooks);
  if (job.kind === 'profile') return runProfileJob(ctx, job, env, hooks);
  throw new UnprocessableError(`unknown job kind '${String(job.kind)}'`);
}
