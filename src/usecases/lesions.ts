/**
 * Lesions: choose units (a stored mask, a cluster of a contrast, the top k by a contrast's t for one or
 * several k, or explicit units), a mode (zero, mean, scale) and evaluation sets; the service draws the
 * matched random and spatial controls (seeded, stored with their units), queues the job, and serves the
 * results: per set the lesion's Δ against the controls (mean, sd, z, empirical p), the specificity
 * Δ_A − Δ_B, per-stimulus values (.npy / JSON), and the figures (effects, dose-response).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { VERSION } from '../config.ts';
import { AppError, ConflictError, NotFoundError, UnprocessableError, ValidationError } from '../domain/errors.ts';
import { LesionModeSchema, SET_MEASURES, STIMULUS_MEASURES, type ConfigRole, type Dose, type LesionParams, type LesionStimulus } from '../domain/lesion.ts';
import type { JobState, StimulusSet } from '../domain/records.ts';
import type { JobQueue } from '../jobs/queue.ts';
import type { DoseSummary, LesionSummary } from '../pipeline/lesion-summary.ts';
import { effectVsControlFigure, linePlotFigure, svgToPng, type EffectSet } from '../render/index.ts';
import { encodeNpy } from '../render/npy.ts';
import { band, deriveSeed } from '../stats/lesion.ts';
import { matchedRandomMask, topKCount } from '../stats/masks.ts';
import { PatchError, spatialControl } from '../stats/patches.ts';
import type { Context } from '../store/context.ts';
import { deleteJob } from '../store/jobs-repo.ts';
import { getLesionJob, lesionConfigs, lesionResult, lesionValues, listLesionJobs, type LesionJobRecord, type StoredConfig } from '../store/lesions-repo.ts';
import { getMask } from '../store/masks-repo.ts';
import { findModel, getSheet } from '../store/models-repo.ts';
import { getJob } from '../store/jobs-repo.ts';
import { getLayerResult, layerArrays, layerClusters, layerSummaries } from '../store/results-repo.ts';
import { findSet, setItems } from '../store/sets-repo.ts';
import { Choice } from '../domain/choice.ts';

const SetName = Type.String({ minLength: 1, maxLength: 128 });
const SetList = Type.Union([SetName, Type.Array(SetName, { minItems: 1, maxItems: 20 })], { description: 'A stimulus set id or name, or a list of them.' });

export const LESION_LIMITS = { configurations: 2001, evaluations: 5e7 } as const;

export const LesionRequestSchema = Type.Object(
  {
    from: Choice(['mask', 'top', 'cluster', 'explicit'], {
      description: '`mask`: a stored mask. `top`: the top units by a contrast’s t in each chosen layer (`percent` or `count`; several values make a dose-response). `cluster`: a cluster of a contrast (`largest`, or `layer` + id). `explicit`: `units` per layer.',
    }),
    model: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Model id or name (required for explicit units; otherwise that of the mask or contrast).' })),
    mask: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'mask: its id.' })),
    contrast: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'top, cluster: the contrast.' })),
    layers: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { minItems: 1, maxItems: 1000, description: 'top: the layers to lesion (default all of the contrast).' })),
    percent: Type.Optional(Type.Array(Type.Number({ exclusiveMinimum: 0, maximum: 100 }), { minItems: 1, maxItems: 20, description: 'top: k in percent of each layer’s units (k = max(1, round(n·percent/100))).' })),
    count: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 1000000 }), { minItems: 1, maxItems: 20, description: 'top: k in units per layer.' })),
    sign: Type.Optional(Choice(['positive', 'negative', 'both'], { description: 'top, cluster: which tail of t (default positive: A > B).' })),
    layer: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'cluster: the layer (required with a cluster id; restricts `largest`).' })),
    cluster: Type.Optional(Type.Union([Type.Literal('largest'), Type.Integer({ minimum: 1, maximum: 10000000 })], { description: 'cluster: an id from the cluster table, or `largest` (most units, over the layers).' })),
    units: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 200 }), Type.Array(Type.Integer({ minimum: 0, maximum: 1000000000 }), { maxItems: 1000000 }), { description: 'explicit: units per layer.' })),
    mode: Type.Optional(LesionModeSchema),
    factor: Type.Optional(Type.Number({ minimum: -1000000, maximum: 1000000, description: 'scale: the multiplier.' })),
    reference: Type.Optional(SetList),
    sets: SetList,
    output: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'The behaviour output (manifest `outputs`); default the first.' })),
    controls: Type.Optional(
      Type.Object(
        {
          random: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, description: 'Random controls: the same number of units per layer from outside the lesion (default 20).' })),
          spatial: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, description: 'Spatial controls: contiguous patches of the same sizes at random places on the sheet outside the lesion (default 20).' })),
          seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295, description: 'Seed of every draw (default 1).' })),
        },
        { additionalProperties: false },
      ),
    ),
    specificity: Type.Optional(
      Type.Union([Type.Tuple([SetName, SetName]), Type.Null()], { description: 'Two of the sets [A, B]: the specificity Δ_A − Δ_B is tested against the controls’ (default the first two sets; null: none).' }),
    ),
    label: Type.Optional(Type.String({ maxLength: 200 })),
  },
  {
    additionalProperties: false,
    examples: [
      { from: 'top', contrast: 'c_3b91283dcc6bafe7', percent: [5], sets: ['toxic', 'neutral'], controls: { random: 20, spatial: 20, seed: 1 } },
      { from: 'cluster', contrast: 'c_3b91283dcc6bafe7', cluster: 'largest', sets: ['faces', 'objects'], mode: 'mean' },
      { from: 'top', contrast: 'c_3b91283dcc6bafe7', percent: [1, 2, 5, 10], sets: ['toxic', 'neutral'] },
    ],
  },
);
export type LesionRequest = Static<typeof LesionRequestSchema>;

function newId(): string {
  return `l_${crypto.randomBytes(8).toString('hex')}`;
}

let ortVer: string | null = null;
function ortVersion(): string {
  if (ortVer) return ortVer;
  try {
    const pkg = path.join(path.dirname(new URL(import.meta.resolve('onnxruntime-node')).pathname), '..', 'package.json');
    ortVer = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    ortVer = 'unknown';
  }
  return ortVer;
}

const asList = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const signed = (t: number, sign: 'positive' | 'negative' | 'both') => (sign === 'positive' ? t : sign === 'negative' ? -t : Math.abs(t));


/** The units of each dose, layer by layer, and a description of how they were chosen. */
interface Selection {
  modelId: string;
  doses: Dose[];
  units: Map<string, Int32Array>[];
  spec: Record<string, unknown>;
}

function requireContrastJob(ctx: Context, id: string | undefined) {
  if (!id) throw new ValidationError("give 'contrast': the contrast whose t selects the units", 'contrast');
  const job = getJob(ctx.db, id);
  if (!job || job.kind !== 'contrast') throw new NotFoundError('contrast', id);
  if (job.state !== 'succeeded') throw new ConflictError(`contrast '${id}' is ${job.state}; lesions select units from succeeded contrasts`);
  return job;
}

function select(ctx: Context, req: LesionRequest): Selection {
  const sign = req.sign ?? 'positive';
  if (req.from !== 'top' && (req.percent || req.count)) throw new ValidationError(`'percent' and 'count' are for from: 'top'`, req.percent ? 'percent' : 'count');
  if (req.from !== 'cluster' && (req.cluster !== undefined || req.layer !== undefined)) throw new ValidationError(`'cluster' and 'layer' are for from: 'cluster'`, req.cluster !== undefined ? 'cluster' : 'layer');
  if (req.from !== 'explicit' && req.units) throw new ValidationError(`'units' are for from: 'explicit'`, 'units');
  if (req.from !== 'mask' && req.mask) throw new ValidationError(`'mask' is for from: 'mask'`, 'mask');
  if ((req.from === 'mask' || req.from === 'explicit') && req.contrast) throw new ValidationError(`'contrast' is for from: 'top' or 'cluster'`, 'contrast');
  if (req.from !== 'top' && req.layers) throw new ValidationError(`'layers' is for from: 'top'`, 'layers');
  if (req.from === 'mask') {
    if (!req.mask) throw new ValidationError("give 'mask': the id of a stored mask", 'mask');
    const m = getMask(ctx.db, req.mask);
    if (!m) throw new NotFoundError('mask', req.mask);
    return { modelId: m.modelId, doses: [null], units: [new Map(m.layers.map((l) => [l.layer, Int32Array.from(l.units)]))], spec: { from: 'mask', mask: m.id, name: m.name, kind: m.kind, maskSpec: m.spec } };
  }
  if (req.from === 'explicit') {
    if (!req.model) throw new ValidationError("explicit units need 'model'", 'model');
    const model = findModel(ctx.db, req.model);
    if (!model) throw new NotFoundError('model', req.model);
    if (!req.units || Object.keys(req.units).length === 0) throw new ValidationError("explicit units need 'units': {layer: [unit, …]}", 'units');
    const layers = new Map<string, Int32Array>();
    for (const [layer, units] of Object.entries(req.units)) {
      const info = model.info.layers.find((l) => l.name === layer);
      if (!info) throw new UnprocessableError(`units.${layer}: model '${model.name}' has no layer '${layer}'`, `units.${layer}`);
      const set = new Set<number>();
      for (const u of units) {
        if (u >= info.units) throw new UnprocessableError(`units.${layer}: unit ${u} is out of range 0–${info.units - 1}`, `units.${layer}`);
        set.add(u);
      }
      if (set.size) layers.set(layer, Int32Array.from([...set].sort((a, b) => a - b)));
    }
    return { modelId: model.id, doses: [null], units: [layers], spec: { from: 'explicit' } };
  }
  const job = requireContrastJob(ctx, req.contrast);
  const available = layerSummaries(ctx.db, job.id).map((l) => l.name);
  if (req.from === 'top') {
    if (!!req.percent === !!req.count) throw new ValidationError("from 'top' needs one of 'percent' or 'count' (a list: several values make a dose-response)", req.percent ? 'count' : 'percent');
    const chosen = req.layers ?? available;
    chosen.forEach((l, i) => {
      if (!available.includes(l)) throw new UnprocessableError(`layers[${i}]: contrast '${job.id}' has no layer '${l}'; it has ${available.join(', ')}`, `layers[${i}]`);
    });
    if (new Set(chosen).size !== chosen.length) throw new UnprocessableError('layers lists a layer twice', 'layers');
    const results = chosen.map((l) => getLayerResult(ctx.db, job.id, l)!);
    const order = results.map((r) => Array.from({ length: r.units }, (_, i) => i).sort((a, b) => signed(r.t[b], sign) - signed(r.t[a], sign) || a - b));
    const doses: Dose[] = req.percent ? req.percent.map((percent) => ({ percent })) : req.count!.map((count) => ({ count }));
    const units = doses.map((d) => new Map(results.map((r, li) => [r.name, Int32Array.from(order[li].slice(0, d && 'percent' in d ? topKCount(r.units, d.percent) : Math.min(r.units, (d as { count: number }).count)).sort((a, b) => a - b))])));
    return { modelId: job.modelId, doses, units, spec: { from: 'top', contrast: job.id, label: job.params.label, layers: chosen, sign, statistic: 't', ...(req.percent ? { percent: req.percent } : { count: req.count }) } };
  }
  // cluster
  if (req.cluster === undefined) throw new ValidationError("from 'cluster' needs 'cluster': an id from the cluster table (with 'layer') or 'largest'", 'cluster');
  const want = sign === 'negative' ? -1 : 1;
  let layer: string;
  let id: number;
  if (req.cluster === 'largest') {
    const layers = req.layer ? [req.layer] : available;
    if (req.layer && !available.includes(req.layer)) throw new UnprocessableError(`layer: contrast '${job.id}' has no layer '${req.layer}'`, 'layer');
    let best: { layer: string; id: number; size: number; mass: number } | null = null;
    for (const l of layers) {
      for (const c of layerClusters(ctx.db, job.id, l)) {
        if (sign !== 'both' && c.sign !== want) continue;
        if (!best || c.size > best.size || (c.size === best.size && c.mass > best.mass)) best = { layer: l, id: c.id, size: c.size, mass: c.mass };
      }
    }
    if (!best) throw new UnprocessableError(`contrast '${job.id}' has no ${sign === 'both' ? '' : sign + ' '}cluster on ${req.layer ? `layer '${req.layer}'` : 'any layer'}`, 'cluster');
    layer = best.layer;
    id = best.id;
  } else {
    if (!req.layer) throw new ValidationError("a cluster id needs 'layer'", 'layer');
    if (!available.includes(req.layer)) throw new UnprocessableError(`layer: contrast '${job.id}' has no layer '${req.layer}'`, 'layer');
    layer = req.layer;
    id = req.cluster;
  }
  const labels = layerArrays(ctx.db, job.id, layer).cluster_label as Int32Array | undefined;
  if (!labels) throw new ConflictError(`contrast '${job.id}' has no cluster labels on layer '${layer}'`);
  const units: number[] = [];
  for (let u = 0; u < labels.length; u++) if (labels[u] === id) units.push(u);
  if (units.length === 0) throw new UnprocessableError(`layer '${layer}' of contrast '${job.id}' has no cluster ${id}`, 'cluster');
  const row = layerClusters(ctx.db, job.id, layer).find((c) => c.id === id);
  return {
    modelId: job.modelId,
    doses: [null],
    units: [new Map([[layer, Int32Array.from(units)]])],
    spec: { from: 'cluster', contrast: job.id, label: job.params.label, layer, cluster: id, requested: req.cluster, size: units.length, peakT: row?.peakT ?? null, clusterParams: getLayerResult(ctx.db, job.id, layer)?.analysis.clusterParams ?? null },
  };
}

/** Validates a lesion request, resolves its units, draws its controls; returns the job and its configurations. */
export function prepareLesion(ctx: Context, req: LesionRequest): { job: { id: string; modelId: string; params: LesionParams; provenance: Record<string, unknown>; total: number }; configs: StoredConfig[] } {
  const sel = select(ctx, req);
  const model = findModel(ctx.db, sel.modelId);
  if (!model) throw new NotFoundError('model', sel.modelId);
  if (req.model) {
    const given = findModel(ctx.db, req.model);
    if (!given) throw new NotFoundError('model', req.model);
    if (given.id !== model.id) throw new UnprocessableError(`model '${req.model}' is not the model of the ${req.from} (${model.name}, ${model.id})`, 'model');
  }
  const info = model.info.lesion;
  if (!info) throw new UnprocessableError(`model '${model.name}' has no behaviour outputs: give the logits in its manifest ('outputs') and register it again`, 'model');
  const output = req.output ? info.outputs.find((o) => o.name === req.output) : info.outputs[0];
  if (!output) throw new UnprocessableError(`output: model '${model.name}' has no output '${req.output}'; it has ${info.outputs.map((o) => `'${o.name}'`).join(', ')}`, 'output');
  // Units: every layer must be a lesion site; no dose may be empty.
  sel.units.forEach((m, d) => {
    for (const layer of m.keys()) {
      if (!info.sites.some((s) => s.layer === layer)) throw new UnprocessableError(`layer '${layer}' cannot be lesioned (its tensor is not float32)`, 'layers');
    }
    if ([...m.values()].every((u) => u.length === 0)) throw new UnprocessableError(`dose ${d}: the lesion would be empty`);
  });
  // Sets.
  const resolve = (refs: string[], field: string): StimulusSet[] => {
    const seen = new Set<string>();
    return refs.map((ref, i) => {
      const s = findSet(ctx.db, ref);
      if (!s) throw new NotFoundError('stimulus set', ref);
      if (seen.has(s.id)) throw new UnprocessableError(`${field}[${i}]: stimulus set '${s.name}' is listed twice`, `${field}[${i}]`);
      seen.add(s.id);
      if (s.modality !== model.modality) throw new UnprocessableError(`${field}[${i}]: stimulus set '${s.name}' holds ${s.modality} stimuli but model '${model.name}' is a ${model.modality} model`, `${field}[${i}]`);
      if (s.nItems === 0) throw new UnprocessableError(`${field}[${i}]: stimulus set '${s.name}' is empty`, `${field}[${i}]`);
      return s;
    });
  };
  const sets = resolve(asList(req.sets), 'sets');
  const mode = req.mode ?? 'zero';
  if (mode === 'scale' && req.factor === undefined) throw new ValidationError("mode 'scale' needs 'factor'", 'factor');
  if (mode !== 'scale' && req.factor !== undefined) throw new ValidationError("'factor' is for mode 'scale'", 'factor');
  if (mode !== 'mean' && req.reference !== undefined) throw new ValidationError("'reference' is for mode 'mean'", 'reference');
  const reference = mode === 'mean' ? (req.reference === undefined ? sets : resolve(asList(req.reference), 'reference')) : [];
  const classIndex = new Set(output.classes ?? []);
  if (output.kind === 'classifier' && output.classes) {
    sets.forEach((s, i) => {
      for (const it of setItems(ctx.db, s.id)) {
        if (it.classLabel && !classIndex.has(it.classLabel)) {
          throw new UnprocessableError(`sets[${i}]: item '${it.label ?? it.position}' of set '${s.name}' is labelled '${it.classLabel}', which is not a class of output '${output.name}'`, `sets[${i}]`);
        }
      }
    });
  }
  let specificity: { a: number; b: number } | null = null;
  if (req.specificity === undefined) specificity = sets.length >= 2 ? { a: 0, b: 1 } : null;
  else if (req.specificity !== null) {
    const idx = req.specificity.map((ref, k) => {
      const s = findSet(ctx.db, ref);
      const i = s ? sets.findIndex((x) => x.id === s.id) : -1;
      if (i < 0) throw new UnprocessableError(`specificity[${k}]: '${ref}' is not one of the sets`, `specificity[${k}]`);
      return i;
    });
    if (idx[0] === idx[1]) throw new UnprocessableError('specificity names the same set twice', 'specificity');
    specificity = { a: idx[0], b: idx[1] };
  }
  // Controls.
  const nRandom = req.controls?.random ?? 20;
  const nSpatial = req.controls?.spatial ?? 20;
  const seed = req.controls?.seed ?? 1;
  const nConfigs = 1 + sel.doses.length * (1 + nRandom + nSpatial);
  if (nConfigs > LESION_LIMITS.configurations) throw new UnprocessableError(`${nConfigs} configurations (doses × (1 + controls) + intact) exceed the limit of ${LESION_LIMITS.configurations}`, 'controls');
  const nStimuli = sets.reduce((s, x) => s + x.nItems, 0);
  if (nStimuli * nConfigs > LESION_LIMITS.evaluations) throw new UnprocessableError(`${nStimuli} stimuli × ${nConfigs} configurations exceed the limit of ${LESION_LIMITS.evaluations} evaluations per job`, 'sets');
  const configs: StoredConfig[] = [{ idx: 0, role: 'intact', dose: null, control: null, seed: null, layers: [] }];
  const sheetOf = (layer: string) => {
    const s = getSheet(ctx.db, model.id, layer);
    if (!s) throw new UnprocessableError(`model '${model.name}' has no stored sheet for layer '${layer}'`);
    return s;
  };
  const layerOrder = (m: Map<string, Int32Array>) => [...m.entries()].filter(([, u]) => u.length > 0);
  sel.units.forEach((m, d) => {
    const entries = layerOrder(m);
    configs.push({ idx: configs.length, role: 'lesion', dose: d, control: null, seed: null, layers: entries.map(([layer, units]) => ({ layer, units })) });
    const draw = (role: ConfigRole, n: number, kind: number) => {
      for (let i = 0; i < n; i++) {
        const s = deriveSeed(seed, kind, d, i);
        const layers = entries.map(([layer, units], li) => {
          const U = model.info.layers.find((l) => l.name === layer)!.units;
          const ls = deriveSeed(s, li);
          try {
            return { layer, units: role === 'random' ? matchedRandomMask(units, U, ls) : spatialControl(sheetOf(layer), units, ls) };
          } catch (e) {
            if (e instanceof AppError) throw e;
            if (e instanceof PatchError || e instanceof Error) throw new UnprocessableError(`layer '${layer}': no ${role} control for a lesion of ${units.length} of ${U} units: ${e.message}`, 'controls');
            throw e;
          }
        });
        configs.push({ idx: configs.length, role, dose: d, control: i, seed: s, layers });
      }
    };
    draw('random', nRandom, 1);
    draw('spatial', nSpatial, 2);
  });
  const params: LesionParams = {
    model: model.id,
    output: output.name,
    outputKind: output.kind,
    mode,
    factor: mode === 'scale' ? req.factor! : null,
    sets: sets.map((s) => s.id),
    reference: reference.map((s) => s.id),
    selection: sel.spec,
    doses: sel.doses,
    controls: { random: nRandom, spatial: nSpatial, seed, connectivity: 4 },
    specificity,
    label: req.label ?? `${mode} lesion of ${describeSelection(sel.spec)} on ${sets.map((s) => s.name).join(', ')}`,
  };
  const provenance = {
    service: 'toposcope',
    version: VERSION,
    model: { id: model.id, name: model.name, hash: model.hash, onnxSha256: model.onnxSha256 },
    sets: sets.map((s) => ({ id: s.id, name: s.name, hash: s.hash, items: s.nItems })),
    reference: reference.map((s) => ({ id: s.id, name: s.name, hash: s.hash, items: s.nItems })),
    params,
    seed,
    runtime: { node: process.version, onnxruntime: ortVersion() },
  };
  const refItems = reference.reduce((s, x) => s + x.nItems, 0);
  return { job: { id: newId(), modelId: model.id, params, provenance, total: refItems + nStimuli * nConfigs }, configs };
}

function describeSelection(spec: Record<string, unknown>): string {
  switch (spec.from) {
    case 'mask':
      return `mask '${String(spec.name)}'`;
    case 'top':
      return `the top ${spec.percent ? `${(spec.percent as number[]).join('/')} %` : `${(spec.count as number[]).join('/')} units`} by t of ${String(spec.label ?? spec.contrast)}`;
    case 'cluster':
      return `cluster ${String(spec.cluster)} of ${String(spec.layer)} (${String(spec.label ?? spec.contrast)})`;
    default:
      return 'explicit units';
  }
}

export function submitLesion(ctx: Context, jobs: JobQueue, req: LesionRequest): LesionJobRecord {
  const { job, configs } = prepareLesion(ctx, req);
  jobs.enqueueLesion(job, configs);
  return getLesionJob(ctx.db, job.id)!;
}

export function requireLesion(ctx: Context, id: string): LesionJobRecord {
  const j = getLesionJob(ctx.db, id);
  if (!j) throw new NotFoundError('lesion', id);
  return j;
}

function requireSucceeded(ctx: Context, id: string): { job: LesionJobRecord; summary: LesionSummary; stimuli: LesionStimulus[] } {
  const job = requireLesion(ctx, id);
  if (job.state !== 'succeeded') throw new ConflictError(`lesion '${id}' is ${job.state}; results exist once it has succeeded`);
  const r = lesionResult(ctx.db, id);
  if (!r) throw new ConflictError(`lesion '${id}' has no stored results`);
  return { job, summary: r.summary as LesionSummary, stimuli: r.stimuli };
}

/** A lesion job as the API shows it. */
export function lesionView(ctx: Context, j: LesionJobRecord) {
  const configs = lesionConfigs(ctx.db, j.id, { units: false });
  const doses = j.params.doses.map((dose, d) => {
    const lesion = configs.find((c) => c.dose === d && c.role === 'lesion');
    return {
      index: d,
      dose,
      lesionConfig: lesion?.idx ?? -1,
      units: lesion?.nUnits ?? 0,
      unitsPerLayer: lesion?.counts ?? {},
      controls: { random: configs.filter((c) => c.dose === d && c.role === 'random').length, spatial: configs.filter((c) => c.dose === d && c.role === 'spatial').length },
    };
  });
  const result = j.state === 'succeeded' ? (lesionResult(ctx.db, j.id)?.summary as LesionSummary | undefined) ?? null : null;
  return {
    id: j.id,
    kind: 'lesion' as const,
    state: j.state,
    label: j.params.label,
    model: j.modelId,
    params: j.params,
    progress: { done: j.progressDone, total: j.progressTotal, fraction: j.progressTotal ? j.progressDone / j.progressTotal : 0 },
    error: j.error,
    timings: j.timings,
    attempts: j.attempts,
    createdAt: j.createdAt,
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
    configurations: configs.length,
    doses,
    results: result,
    provenance: j.provenance,
  };
}
export type LesionView = ReturnType<typeof lesionView>;

export function listLesions(ctx: Context, q: { limit?: number; offset?: number; model?: string; state?: JobState }) {
  const limit = q.limit ?? 50;
  const offset = q.offset ?? 0;
  const model = q.model ? (findModel(ctx.db, q.model)?.id ?? q.model) : undefined;
  const r = listLesionJobs(ctx.db, { limit, offset, model, state: q.state });
  return { items: r.items.map((j) => lesionView(ctx, j)), total: r.total, limit, offset };
}

/** Cancels a queued or running lesion; with `purge`, deletes a finished one (returns null). */
export function cancelOrPurgeLesion(ctx: Context, jobs: JobQueue, id: string, purge: boolean): LesionView | null {
  const j = requireLesion(ctx, id);
  if (purge && j.state !== 'queued' && j.state !== 'running') {
    deleteJob(ctx.db, id);
    return null;
  }
  jobs.cancel(id);
  return lesionView(ctx, requireLesion(ctx, id));
}

/** Every configuration with its units (optionally one dose's). */
export function lesionConfigsView(ctx: Context, id: string, dose?: number) {
  const j = requireLesion(ctx, id);
  if (dose !== undefined && dose >= j.params.doses.length) throw new ValidationError(`dose ${dose} is out of range: the lesion has ${j.params.doses.length}`, 'dose');
  const items = lesionConfigs(ctx.db, id)
    .filter((c) => dose === undefined || c.dose === dose)
    .map((c) => ({ idx: c.idx, role: c.role, dose: c.dose, control: c.control, seed: c.seed, nUnits: c.nUnits, layers: c.layers.map((l) => ({ layer: l.layer, nUnits: l.units.length, units: Array.from(l.units) })) }));
  return { lesion: id, mode: j.params.mode, factor: j.params.factor, items };
}

function checkMeasure(kind: 'lm' | 'classifier', measure: string, list: readonly string[]): void {
  if (!list.includes(measure)) throw new ValidationError(`measure '${measure}' is not one of ${list.join(', ')} for a${kind === 'lm' ? 'n lm' : ' classifier'} output`, 'measure');
}

/**
 * Per-stimulus values of a measure, configs × stimuli (row 0 the intact model); with `effect`, each
 * row minus the intact row, oriented as damage (positive = worse). `ce` is ceSum / tokens (NaN for a
 * text with one token).
 */
export function stimulusValues(ctx: Context, id: string, measure: string, effect: boolean): { configs: number; stimuli: number; data: Float64Array } {
  const { job } = requireSucceeded(ctx, id);
  const kind = job.params.outputKind;
  checkMeasure(kind, measure, STIMULUS_MEASURES[kind]);
  let v: { configs: number; stimuli: number; data: Float64Array };
  if (measure === 'ce') {
    const s = lesionValues(ctx.db, id, 'ceSum')!;
    const t = lesionValues(ctx.db, id, 'tokens')!;
    v = { configs: s.configs, stimuli: s.stimuli, data: s.data.map((x, i) => (t.data[i] > 0 ? x / t.data[i] : NaN)) };
  } else {
    const r = lesionValues(ctx.db, id, measure);
    if (!r) throw new NotFoundError(`values of lesion ${id}`, measure);
    v = r;
  }
  if (effect) {
    if (measure === 'pred') throw new ValidationError("'pred' is a class index; it has no effect", 'measure');
    const down = measure === 'correct' || measure === 'logp' || measure === 'agree';
    const { configs, stimuli, data } = v;
    const out = new Float64Array(data.length);
    for (let c = 0; c < configs; c++) for (let s = 0; s < stimuli; s++) out[c * stimuli + s] = down ? data[s] - data[c * stimuli + s] : data[c * stimuli + s] - data[s];
    v = { configs, stimuli, data: out };
  }
  return v;
}

export function stimulusValuesNpy(ctx: Context, id: string, measure: string, effect: boolean): { file: string; data: Buffer } {
  const v = stimulusValues(ctx, id, measure, effect);
  return { file: `${id}-${measure}${effect ? '-effect' : ''}.npy`, data: encodeNpy(v.data, [v.configs, v.stimuli]) };
}

/** The evaluation order of the stimuli, the configurations (without units), and optionally one measure's values. */
export function stimuliDocument(ctx: Context, id: string, measure?: string, effect = false) {
  const { job, stimuli } = requireSucceeded(ctx, id);
  const configs = lesionConfigs(ctx.db, id, { units: false }).map((c) => ({ idx: c.idx, role: c.role, dose: c.dose, control: c.control, nUnits: c.nUnits }));
  let values: (number | null)[][] | null = null;
  if (measure) {
    const v = stimulusValues(ctx, id, measure, effect);
    values = Array.from({ length: v.configs }, (_, c) => Array.from(v.data.subarray(c * v.stimuli, (c + 1) * v.stimuli), (x) => (Number.isFinite(x) ? x : null)));
  }
  return { lesion: id, outputKind: job.params.outputKind, measures: [...STIMULUS_MEASURES[job.params.outputKind]], stimuli, configs, measure: measure ?? null, effect, values };
}

const fmt = (v: number | null | undefined, d = 3) => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toFixed(d));

function pickDose(job: LesionJobRecord, summary: LesionSummary, dose: number | undefined): DoseSummary {
  const d = dose ?? 0;
  if (d >= summary.doses.length) throw new ValidationError(`dose ${d} is out of range: the lesion has ${summary.doses.length}`, 'dose');
  void job;
  return summary.doses[d];
}

function doseText(d: Dose): string {
  if (!d) return '';
  return 'percent' in d ? `top ${d.percent} %` : `top ${d.count} units`;
}

export interface FigureQuery {
  dose?: number;
  measure?: string;
}

/** Effect per set (and the specificity) against the random and the spatial control distributions. */
export function effectsSvg(ctx: Context, id: string, q: FigureQuery): string {
  const { job, summary } = requireSucceeded(ctx, id);
  const measure = q.measure ?? summary.primary;
  checkMeasure(job.params.outputKind, measure, summary.measures);
  const d = pickDose(job, summary, q.dose);
  const model = findModel(ctx.db, job.modelId);
  const rows: EffectSet[] = [];
  const note = (t: { p: number | null; z: number | null; n: number }) => (t.n ? `p = ${fmt(t.p)}, z = ${fmt(t.z, 2)}` : 'no controls');
  for (const s of d.sets) {
    for (const role of ['random', 'spatial'] as const) {
      const t = s[role][measure];
      if (t.n === 0) continue;
      rows.push({ name: `${s.name} · ${role}`, control: t.values, effect: s.delta[measure] ?? NaN, note: note(t) });
    }
  }
  const sp = d.specificity && d.specificity.measure === measure ? d.specificity : null;
  if (sp) for (const role of ['random', 'spatial'] as const) if (sp[role].n) rows.push({ name: `specificity · ${role}`, control: sp[role].values, effect: sp.delta ?? NaN, note: note(sp[role]) });
  if (rows.length === 0) throw new ConflictError(`lesion '${id}' has no controls to draw the effect against`);
  const unit = SET_MEASURES[job.params.outputKind].find((m) => m.name === measure)?.description ?? measure;
  const fig = effectVsControlFigure({
    title: `${model?.name ?? job.modelId}: ${job.params.mode} lesion${d.dose ? `, ${doseText(d.dose)}` : ''}`,
    // The parts a reader needs first: the units, the sign convention, the specificity; the measure's long description last.
    subtitle: `${job.params.label}; positive = worse than intact${sp ? `; specificity = Δ ${summary.sets[sp.a].name} − Δ ${summary.sets[sp.b].name}` : ''}; Δ ${measure}: ${unit}`,
    xLabel: `Δ ${measure} (lesioned − intact, oriented as damage)`,
    sets: rows,
    controlName: 'one dot per control',
    effectName: 'the lesion',
  });
  return fig.svg;
}

export async function effectsPng(ctx: Context, id: string, q: FigureQuery): Promise<Buffer> {
  return svgToPng(effectsSvg(ctx, id, q));
}

/** Δ of the lesion per set against k, with the random and spatial controls' mean ± sd as bands. */
export function doseResponseSvg(ctx: Context, id: string, q: { measure?: string }): string {
  const { job, summary } = requireSucceeded(ctx, id);
  const measure = q.measure ?? summary.primary;
  checkMeasure(job.params.outputKind, measure, summary.measures);
  const doses = job.params.doses;
  if (doses.some((d) => d === null)) throw new ConflictError(`lesion '${id}' has no doses (it lesions a mask, a cluster or explicit units); a dose-response needs from: 'top'`);
  const x = doses.map((d) => (d && 'percent' in d ? d.percent : (d as { count: number }).count));
  const byPercent = doses[0] !== null && 'percent' in doses[0];
  const series = summary.sets.flatMap((s, si) => {
    const of = (role: 'random' | 'spatial') => summary.doses.map((d) => band(d.sets[si][role][measure]));
    const r = of('random');
    const sp = of('spatial');
    return [
      { name: `${s.name}: lesion`, x, y: summary.doses.map((d) => d.sets[si].delta[measure] ?? NaN) },
      ...(r.some((b) => Number.isFinite(b.mean)) ? [{ name: `${s.name}: random ± sd`, x, y: r.map((b) => b.mean), lo: r.map((b) => b.lo), hi: r.map((b) => b.hi), dashed: true, markers: false }] : []),
      ...(sp.some((b) => Number.isFinite(b.mean)) ? [{ name: `${s.name}: spatial ± sd`, x, y: sp.map((b) => b.mean), lo: sp.map((b) => b.lo), hi: sp.map((b) => b.hi), dashed: true, markers: false }] : []),
    ];
  });
  const model = findModel(ctx.db, job.modelId);
  return linePlotFigure({
    title: `${model?.name ?? job.modelId}: dose-response of a ${job.params.mode} lesion`,
    subtitle: `${job.params.label}; controls: mean ± sd`,
    xLabel: byPercent ? 'units lesioned per layer (% of the layer, top by t)' : 'units lesioned per layer (top by t)',
    yLabel: `Δ ${measure} (positive = worse)`,
    series,
    yZero: true,
  }).svg;
}

export async function doseResponsePng(ctx: Context, id: string, q: { measure?: string }): Promise<Buffer> {
  return svgToPng(doseResponseSvg(ctx, id, q));
}

/** The lesion of a contrast on a lesioned model, checked: same model, configuration present, means stored for mean mode. */
export function resolveContrastLesion(ctx: Context, modelId: string, ref: string | { id: string; config?: number }): { id: string; config: number; provenance: Record<string, unknown> } {
  const id = typeof ref === 'string' ? ref : ref.id;
  const j = getLesionJob(ctx.db, id);
  if (!j) throw new NotFoundError('lesion', id);
  if (j.modelId !== modelId) throw new UnprocessableError(`lesion '${id}' is of model ${j.modelId}, not of the contrast's model ${modelId}`, 'lesion');
  const all = lesionConfigs(ctx.db, id, { units: false });
  const config = typeof ref === 'string' || ref.config === undefined ? (all.find((c) => c.role === 'lesion')?.idx ?? 1) : ref.config;
  const c = all.find((x) => x.idx === config);
  if (!c) throw new UnprocessableError(`lesion.config: lesion '${id}' has configurations 0–${all.length - 1}`, 'lesion.config');
  if (j.params.mode === 'mean' && j.state !== 'succeeded') throw new ConflictError(`lesion '${id}' is a mean lesion and is ${j.state}; its unit means exist once it has succeeded`);
  const units = lesionConfigs(ctx.db, id, { idx: config })[0].layers.map((l) => ({ layer: l.layer, units: Array.from(l.units) }));
  return {
    id,
    config,
    provenance: { id, config, role: c.role, dose: c.dose === null ? null : j.params.doses[c.dose], control: c.control, mode: j.params.mode, factor: j.params.factor, selection: j.params.selection, parentModel: j.provenance.model, units },
  };
}

/** Waits until the lesion leaves queued/running (other jobs in the same data folder may run first). */
export async function waitForLesion(jobs: JobQueue, ctx: Context, id: string, onProgress?: (done: number, total: number) => void): Promise<LesionJobRecord> {
  const off = jobs.on((e) => {
    if (e.type !== 'progress' || e.job !== id || !onProgress) return;
    const j = getLesionJob(ctx.db, id);
    if (j) onProgress(j.progressDone, j.progressTotal);
  });
  try {
    for (;;) {
      await jobs.idle();
      const j = requireLesion(ctx, id);
      if (j.state !== 'queued' && j.state !== 'running') return j;
    }
  } finally {
    off();
  }
}

/** Writes lesion.json, the effects figure of every dose (PNG + SVG), the dose-response (several doses) and per-stimulus .npy files. */
export async function exportLesion(ctx: Context, id: string, outDir: string): Promise<string[]> {
  const { job, summary } = requireSucceeded(ctx, id);
  fs.mkdirSync(outDir, { recursive: true });
  const files: string[] = [];
  const write = (name: string, data: string | Buffer) => {
    const p = path.join(outDir, name);
    fs.writeFileSync(p, data);
    files.push(p);
  };
  write('lesion.json', JSON.stringify(lesionView(ctx, job), null, 2));
  const hasControls = job.params.controls.random + job.params.controls.spatial > 0;
  if (hasControls) {
    for (let d = 0; d < summary.doses.length; d++) {
      const suffix = summary.doses.length > 1 ? `-dose${d}` : '';
      const svg = effectsSvg(ctx, id, { dose: d });
      write(`effects${suffix}.svg`, svg);
      write(`effects${suffix}.png`, await svgToPng(svg));
    }
  }
  if (job.params.doses.length > 1 && job.params.doses.every((x) => x !== null)) {
    const svg = doseResponseSvg(ctx, id, {});
    write('dose-response.svg', svg);
    write('dose-response.png', await svgToPng(svg));
  }
  for (const m of STIMULUS_MEASURES[job.params.outputKind]) write(`values-${m}.npy`, stimulusValuesNpy(ctx, id, m, false).data);
  return files;
}
