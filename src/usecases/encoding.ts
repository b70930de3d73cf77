/**
 * What a region encodes (issue 10): top stimuli of a unit, cluster, mask or layer over any stimulus set
 * (an async job), cross-validated response profiles of an fROI with bootstrap CIs and the matched
 * random control (an async job), and per-unit selectivity across a stored localizer battery (computed
 * from the battery's stored moments). Validation, defaults, provenance, views and figures.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { VERSION } from '../config.ts';
import type {
  EncodingJobKind,
  Example,
  ProfileParams,
  ProfileResult,
  ResolvedRegion,
  SelectivityLayerSummary,
  SelectivityRecord,
  SetSpan,
  StimulusRef,
  TopStimuliParams,
  TopStimuliResult,
} from '../domain/encoding.ts';
import { ConflictError, NotFoundError, UnprocessableError, ValidationError } from '../domain/errors.ts';
import type { Pooling } from '../domain/manifest.ts';
import type { JobState, ModelRecord, StimulusSet } from '../domain/records.ts';
import type { JobQueue } from '../jobs/queue.ts';
import { planLayers } from '../pipeline/plan.ts';
import { TopStimuliFold } from '../pipeline/topk.ts';
import { barChartFigure, categoricalMapFigure, mapFigure, qualitativePalette, svgToPng } from '../render/index.ts';
import { binnedHistogramFigure } from '../render/binned-histogram.ts';
import { tokenHeatFigure } from '../render/token-heat.ts';
import { labelsToSheet, toSheet } from '../sheet/layout.ts';
import { bootstrapMean } from '../stats/bootstrap.ts';
import { meanFinite, medianFinite, neighbourAgreement, unitSelectivity } from '../stats/selectivity.ts';
import type { Context } from '../store/context.ts';
import * as repo from '../store/encoding-repo.ts';
import { batteryJobs, deleteJob, getJob } from '../store/jobs-repo.ts';
import { getMask } from '../store/masks-repo.ts';
import { findModel, getModel, getSheet } from '../store/models-repo.ts';
import { getLayerResult, layerArrays, layerSummaries } from '../store/results-repo.ts';
import { findSet } from '../store/sets-repo.ts';
import { Choice } from '../domain/choice.ts';

// ─── shared ─────────────────────────────────────────────────────────────────────────────────────────

const SetRef = Type.Union([Type.String({ minLength: 1, maxLength: 128 }), Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: 1000 })], {
  description: 'A stimulus set id or name, or a list of them.',
});

const PoolingChoice = Choice(['mean', 'max', 'last', null], {
  description: "Override every layer's pooling (one row per stimulus; per-token activations of text examples come with `tokens`).",
});

export const RegionSchema = Type.Object(
  {
    kind: Choice(['unit', 'units', 'cluster', 'mask', 'layer'], {
      description: '`unit`: {layer, unit}; `units`: {layer, units}; `cluster`: {contrast, layer, cluster}; `mask`: {mask}; `layer`: every unit of {layer}.',
    }),
    layer: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    unit: Type.Optional(Type.Integer({ minimum: 0, maximum: 1e9 })),
    units: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 1e9 }), { minItems: 1, maxItems: 100000, description: '`units`: unit indices of the layer.' })),
    contrast: Type.Optional(
      Type.String({ minLength: 1, maxLength: 128, description: '`cluster`: the contrast; `unit`/`units`: the contrast the units were chosen on (a profile never measures its sets).' }),
    ),
    cluster: Type.Optional(Type.Integer({ minimum: 1, maximum: 1e7 })),
    mask: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false, description: "A region: its response to a stimulus is the mean of its units' pooled responses." },
);
export type RegionRequest = Static<typeof RegionSchema>;

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

function requireModel(ctx: Context, ref: string): ModelRecord {
  const m = findModel(ctx.db, ref);
  if (!m) throw new NotFoundError('model', ref);
  return m;
}

function resolveSets(ctx: Context, model: ModelRecord, v: string | string[], field: string): StimulusSet[] {
  const list = Array.isArray(v) ? v : [v];
  const seen = new Set<string>();
  return list.map((ref, i) => {
    const f = Array.isArray(v) ? `${field}[${i}]` : field;
    const s = findSet(ctx.db, ref);
    if (!s) throw new NotFoundError('stimulus set', ref);
    if (seen.has(s.id)) throw new UnprocessableError(`${f}: stimulus set '${s.name}' is listed twice`, f);
    seen.add(s.id);
    if (s.modality !== model.modality) throw new UnprocessableError(`${f}: stimulus set '${s.name}' holds ${s.modality} stimuli but model '${model.name}' is a ${model.modality} model`, f);
    if (s.nItems === 0) throw new UnprocessableError(`${f}: stimulus set '${s.name}' is empty`, f);
    return s;
  });
}

const span = (s: StimulusSet): SetSpan => ({ id: s.id, name: s.name, items: s.nItems });

function provenanceOf(model: ModelRecord, sets: StimulusSet[], params: unknown, seed: number): Record<string, unknown> {
  return {
    service: 'toposcope',
    version: VERSION,
    model: { id: model.id, name: model.name, hash: model.hash, onnxSha256: model.onnxSha256 },
    sets: sets.map((s) => ({ id: s.id, name: s.name, hash: s.hash, items: s.nItems })),
    params,
    seed,
    runtime: { node: process.version, onnxruntime: ortVersion() },
  };
}

/** Resolves a region to units per layer of a model (the model may be implied by the mask or contrast). */
export function resolveRegion(ctx: Context, modelRef: string | undefined, r: RegionRequest): { model: ModelRecord; region: ResolvedRegion } {
  const need = <T>(v: T | undefined, f: string): T => {
    if (v === undefined) throw new ValidationError(`a '${r.kind}' region needs region.${f}`, `region.${f}`);
    return v;
  };
  let model: ModelRecord | null = modelRef ? requireModel(ctx, modelRef) : null;
  const sameModel = (id: string, what: string) => {
    if (model && model.id !== id) throw new UnprocessableError(`region: ${what} belongs to model '${getModel(ctx.db, id)?.name ?? id}', not to '${model.name}'`, 'model');
    model = model ?? getModel(ctx.db, id);
    if (!model) throw new NotFoundError('model', id);
    return model;
  };
  const layerInfo = (m: ModelRecord, layer: string) => {
    const l = m.info.layers.find((x) => x.name === layer);
    if (!l) throw new UnprocessableError(`region.layer: model '${m.name}' has no layer '${layer}'; its layers are ${m.info.layers.map((x) => `'${x.name}'`).join(', ')}`, 'region.layer');
    return l;
  };
  if (r.kind === 'unit' || r.kind === 'units' || r.kind === 'layer') {
    const layer = need(r.layer, 'layer');
    let chosenOn: string | null = null;
    if (r.contrast !== undefined && r.kind !== 'layer') {
      const job = getJob(ctx.db, r.contrast);
      if (!job || job.kind !== 'contrast') throw new NotFoundError('contrast', r.contrast);
      sameModel(job.modelId, `contrast '${job.id}'`);
      chosenOn = job.id;
    }
    if (!model) throw new ValidationError(`a '${r.kind}' region needs 'model'`, 'model');
    const l = layerInfo(model, layer);
    const src = (o: Record<string, unknown>) => (chosenOn ? { ...o, contrast: chosenOn } : o);
    if (r.kind === 'units') {
      const units = [...new Set(need(r.units, 'units'))].sort((a, b) => a - b);
      const bad = units.find((u) => u >= l.units);
      if (bad !== undefined) throw new UnprocessableError(`region.units: unit ${bad} is out of range; layer '${layer}' has units 0–${l.units - 1}`, 'region.units');
      return { model, region: { kind: 'units', label: `${model.name} ${layer} ${units.length} unit${units.length === 1 ? '' : 's'}`, source: src({ layer, units }), layers: [{ layer, units }], nUnits: units.length } };
    }
    if (r.kind === 'layer') {
      return { model, region: { kind: 'layer', label: `${model.name} ${layer} (all ${l.units} units)`, source: { layer }, layers: [{ layer, units: Array.from({ length: l.units }, (_, i) => i) }], nUnits: l.units } };
    }
    const unit = need(r.unit, 'unit');
    if (unit >= l.units) throw new UnprocessableError(`region.unit: layer '${layer}' has units 0–${l.units - 1}`, 'region.unit');
    return { model, region: { kind: 'unit', label: `${model.name} ${layer} unit ${unit}`, source: src({ layer, unit }), layers: [{ layer, units: [unit] }], nUnits: 1 } };
  }
  if (r.kind === 'cluster') {
    const contrast = need(r.contrast, 'contrast');
    const layer = need(r.layer, 'layer');
    const cluster = need(r.cluster, 'cluster');
    const job = getJob(ctx.db, contrast);
    if (!job || job.kind !== 'contrast') throw new NotFoundError('contrast', contrast);
    if (job.state !== 'succeeded') throw new ConflictError(`contrast '${job.id}' is ${job.state}; regions come from succeeded contrasts`);
    const m = sameModel(job.modelId, `contrast '${job.id}'`);
    if (!layerSummaries(ctx.db, job.id).some((l) => l.name === layer)) throw new UnprocessableError(`region.layer: contrast '${job.id}' has no layer '${layer}'`, 'region.layer');
    const labels = layerArrays(ctx.db, job.id, layer).cluster_label as Int32Array | undefined;
    const units: number[] = [];
    if (labels) for (let u = 0; u < labels.length; u++) if (labels[u] === cluster) units.push(u);
    if (units.length === 0) throw new UnprocessableError(`region.cluster: layer '${layer}' of contrast '${job.id}' has no cluster ${cluster}`, 'region.cluster');
    return { model: m, region: { kind: 'cluster', label: `${m.name} ${layer} cluster ${cluster} of ${job.params.label ?? job.id}`, source: { contrast: job.id, layer, cluster }, layers: [{ layer, units }], nUnits: units.length } };
  }
  const maskId = need(r.mask, 'mask');
  const mask = getMask(ctx.db, maskId);
  if (!mask) throw new NotFoundError('mask', maskId);
  const m = sameModel(mask.modelId, `mask '${mask.id}'`);
  const layers = mask.layers.filter((l) => l.units.length > 0).map((l) => ({ layer: l.layer, units: l.units }));
  return { model: m, region: { kind: 'mask', label: `mask ${mask.name}`, source: { mask: mask.id, name: mask.name, contrast: mask.contrast }, layers, nUnits: mask.nUnits } };
}

// ─── jobs ───────────────────────────────────────────────────────────────────────────────────────────

function newId(prefix: string): string {
  return `${prefix}_${crypto.randomBytes(8).toString('hex')}`;
}

function jobView(j: repo.EncodingJobRecord) {
  const p = j.params as { label?: string };
  return {
    id: j.id,
    kind: j.kind,
    state: j.state,
    label: p.label ?? null,
    model: j.modelId,
    params: j.params as Record<string, unknown>,
    progress: { done: j.progressDone, total: j.progressTotal, fraction: j.progressTotal ? j.progressDone / j.progressTotal : 0 },
    error: j.error,
    timings: j.timings,
    attempts: j.attempts,
    createdAt: j.createdAt,
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
    provenance: j.provenance,
  };
}

export function requireEncodingJob(ctx: Context, kind: EncodingJobKind, id: string): repo.EncodingJobRecord {
  const j = repo.getEncodingJob(ctx.db, id, kind);
  if (!j) throw new NotFoundError(kind === 'top-stimuli' ? 'top-stimuli job' : 'profile', id);
  return j;
}

function requireSucceeded(ctx: Context, kind: EncodingJobKind, id: string): repo.EncodingJobRecord {
  const j = requireEncodingJob(ctx, kind, id);
  if (j.state !== 'succeeded') throw new ConflictError(`${kind} job '${id}' is ${j.state}; results exist once it has succeeded`);
  return j;
}

/** Paging values, checked here too (a query string can carry values such as Infinity past the schema). */
function paging(q: { limit?: number; offset?: number }): { limit: number; offset: number } {
  const limit = q.limit ?? 50;
  const offset = q.offset ?? 0;
  if (!(Number.isInteger(limit) && limit >= 1 && limit <= 500)) throw new ValidationError('querystring.limit must be an integer from 1 to 500', 'limit');
  if (!(Number.isInteger(offset) && offset >= 0 && offset <= 1e9)) throw new ValidationError('querystring.offset must be an integer from 0 to 1000000000', 'offset');
  return { limit, offset };
}

export function listEncoding(ctx: Context, kind: EncodingJobKind, q: { limit?: number; offset?: number; model?: string; state?: JobState }) {
  const { limit, offset } = paging(q);
  const model = q.model ? (findModel(ctx.db, q.model)?.id ?? q.model) : undefined;
  const r = repo.listEncodingJobs(ctx.db, kind, { limit, offset, model, state: q.state });
  return { items: r.items.map(jobView), total: r.total, limit, offset };
}

/** Cancels a queued or running job; with `purge`, deletes a finished one (returns null). */
export function cancelOrPurgeEncoding(ctx: Context, jobs: JobQueue, kind: EncodingJobKind, id: string, purge: boolean) {
  const j = requireEncodingJob(ctx, kind, id);
  if (purge && j.state !== 'queued' && j.state !== 'running') {
    deleteJob(ctx.db, id);
    return null;
  }
  if (j.state !== 'queued' && j.state !== 'running') throw new ConflictError(`${kind} job '${id}' has already ${j.state}; only queued or running jobs can be cancelled (purge=true deletes it)`);
  jobs.cancel(id);
  return jobView(requireEncodingJob(ctx, kind, id));
}

/** Waits until the job leaves queued/running. */
export async function waitForEncodingJob(jobs: JobQueue, ctx: Context, kind: EncodingJobKind, id: string, onProgress?: (done: number, total: number) => void) {
  const off = jobs.on((e) => {
    if (e.type !== 'progress' || e.job !== id || !onProgress) return;
    const j = repo.getEncodingJob(ctx.db, id);
    if (j) onProgress(j.progressDone, j.progressTotal);
  });
  try {
    for (;;) {
      await jobs.idle();
      const j = requireEncodingJob(ctx, kind, id);
      if (j.state !== 'queued' && j.state !== 'running') return j;
    }
  } finally {
    off();
  }
}

// ─── top stimuli ────────────────────────────────────────────────────────────────────────────────────

/** Largest memory the per-unit heaps of one job may take. */
export const MAX_TOPK_BYTES = 256 * 1024 * 1024;

export const TopStimuliRequestSchema = Type.Object(
  {
    model: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Model id or name (implied by a mask or cluster region).' })),
    region: RegionSchema,
    sets: SetRef,
    k: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: 'Top stimuli kept.' })),
    bottomK: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, description: 'Bottom stimuli kept (default k).' })),
    quantiles: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'Quantile groups of the activation distribution.' })),
    perQuantile: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, default: 3, description: 'Random examples per quantile group (seeded).' })),
    bins: Type.Optional(Type.Integer({ minimum: 8, maximum: 4096, default: 128, description: 'Bins of the streaming power-of-two histogram grid (the range spans between bins/2 and bins of them).' })),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295, default: 1 })),
    perUnit: Type.Optional(Type.Boolean({ default: false, description: 'Also keep top/bottom heaps for every unit of the region.' })),
    pooling: Type.Optional(PoolingChoice),
    tokens: Type.Optional(Type.Boolean({ default: true, description: "Text models: the examples' per-token activations (re-run with 'tokens' pooling)." })),
    label: Type.Optional(Type.String({ maxLength: 200 })),
  },
  {
    additionalProperties: false,
    examples: [
      { model: 'topo-gpt', region: { kind: 'mask', mask: 'm_0a1b2c3d4e5f6071' }, sets: 'corpus', k: 10 },
      { model: 'topo-cnn', region: { kind: 'unit', layer: 'conv4', unit: 17 }, sets: 'heldout' },
    ],
  },
);
export type TopStimuliRequest = Static<typeof TopStimuliRequestSchema>;

export function submitTopStimuli(ctx: Context, jobs: JobQueue, req: TopStimuliRequest) {
  const { model, region } = resolveRegion(ctx, req.model, req.region);
  const sets = resolveSets(ctx, model, req.sets, 'sets');
  const pooling = (req.pooling ?? null) as Pooling | null;
  const layers = planLayers(model, region.layers.map((l) => l.layer), pooling);
  for (const l of layers) if (l.pooling === 'tokens') throw new UnprocessableError(`layer '${l.name}' pools 'tokens' by default; top stimuli need one row per stimulus: give pooling 'mean', 'max' or 'last'`, 'pooling');
  const k = req.k ?? 10;
  const bottomK = req.bottomK ?? k;
  const perUnit = req.perUnit ?? false;
  const bins = req.bins ?? 128;
  const perQuantile = req.perQuantile ?? 3;
  const bytes = TopStimuliFold.bytes(1 + (perUnit ? region.nUnits : 0), k, bottomK, bins, perQuantile);
  if (bytes > MAX_TOPK_BYTES) throw new UnprocessableError(`perUnit heaps for ${region.nUnits} units × (k ${k} + bottomK ${bottomK}) would take ${Math.round(bytes / 2 ** 20)} MiB (limit ${MAX_TOPK_BYTES / 2 ** 20} MiB)`, 'perUnit');
  const params: TopStimuliParams = {
    model: model.id,
    region,
    sets: sets.map(span),
    k,
    bottomK,
    quantiles: req.quantiles ?? 10,
    perQuantile,
    bins,
    seed: req.seed ?? 1,
    perUnit,
    pooling,
    tokens: model.modality === 'text' && (req.tokens ?? true),
    label: req.label ?? `${region.label} over ${sets.map((s) => s.name).join('+')}`,
  };
  const id = newId('ts');
  const total = sets.reduce((s, x) => s + x.nItems, 0);
  repo.insertEncodingJob(ctx.db, { id, kind: 'top-stimuli', modelId: model.id, params, provenance: provenanceOf(model, sets, params, params.seed), total, sets: sets.map((s) => s.id) });
  jobs.enqueue([]);
  return jobView(repo.getEncodingJob(ctx.db, id)!);
}

export function topStimuliView(ctx: Context, id: string) {
  const j = requireEncodingJob(ctx, 'top-stimuli', id);
  return { ...jobView(j), result: j.state === 'succeeded' ? (repo.getEncodingResult(ctx.db, id) as TopStimuliResult) : null };
}

/** The job's stimulus idx → set and position (sets in order, items in position order). */
function locate(sets: SetSpan[], idx: number): { set: SetSpan; position: number } | null {
  let off = 0;
  for (const s of sets) {
    if (idx < off + s.items) return { set: s, position: idx - off };
    off += s.items;
  }
  return null;
}

function examplesAt(ctx: Context, sets: SetSpan[], index: Int32Array, values: Float32Array, from: number, k: number): Example[] {
  const refs: { idx: number; value: number; set: SetSpan; position: number }[] = [];
  for (let j = 0; j < k; j++) {
    const idx = index[from + j];
    if (idx < 0) continue;
    const l = locate(sets, idx);
    if (l) refs.push({ idx, value: values[from + j], ...l });
  }
  const items = repo.itemsAt(
    ctx.db,
    refs.map((r) => ({ setId: r.set.id, position: r.position })),
  );
  return refs.map((r, j): Example => {
    const it = items[j];
    const ref: StimulusRef = { idx: r.idx, set: r.set.id, setName: r.set.name, position: r.position, sha256: it?.sha256 ?? '', label: it?.label ?? null, text: it?.text ?? null };
    return { ...ref, value: r.value };
  });
}

/** Top and bottom stimuli of one unit of the region (perUnit jobs). */
export function unitTopStimuli(ctx: Context, id: string, layer: string, unit: number) {
  const j = requireSucceeded(ctx, 'top-stimuli', id);
  const p = j.params as TopStimuliParams;
  if (!p.perUnit) throw new ConflictError(`top-stimuli job '${id}' kept no per-unit heaps: submit it with perUnit: true`);
  let ch = 0;
  let found = -1;
  for (const l of p.region.layers) {
    if (l.layer === layer) {
      const at = l.units.indexOf(unit);
      if (at >= 0) found = ch + at;
      break;
    }
    ch += l.units.length;
  }
  if (found < 0) throw new NotFoundError(`unit of the region of ${id}`, `${layer}/${unit}`);
  const ti = repo.getEncodingArray(ctx.db, id, 'units.top.index') as Int32Array;
  const tv = repo.getEncodingArray(ctx.db, id, 'units.top.value') as Float32Array;
  const bi = repo.getEncodingArray(ctx.db, id, 'units.bottom.index') as Int32Array | null;
  const bv = repo.getEncodingArray(ctx.db, id, 'units.bottom.value') as Float32Array | null;
  return {
    job: id,
    layer,
    unit,
    top: examplesAt(ctx, p.sets, ti, tv, found * p.k, p.k),
    bottom: bi && bv ? examplesAt(ctx, p.sets, bi, bv, found * p.bottomK, p.bottomK) : [],
  };
}

export function topStimuliHistogramSvg(ctx: Context, id: string, opts: { log?: boolean } = {}): string {
  const j = requireSucceeded(ctx, 'top-stimuli', id);
  const r = repo.getEncodingResult(ctx.db, id) as TopStimuliResult;
  const h = r.histogram;
  const model = getModel(ctx.db, j.modelId);
  const p = j.params as TopStimuliParams;
  return binnedHistogramFigure({
    title: `${model?.name ?? j.modelId}: ${r.region.label}`,
    subtitle: `response over ${p.sets.map((s) => s.name).join('+')} (n=${r.n}, ${r.pooling} pooling, mean of ${r.region.nUnits} units); bands: ${r.quantiles.length} quantile groups`,
    xLabel: 'region response',
    lo: h.counts.length ? h.lo : 0,
    width: h.counts.length ? h.width : 1,
    counts: h.counts.length ? h.counts : [0],
    logY: opts.log,
    bands: r.quantiles.map((q) => ({ lo: q.lo, hi: q.hi })),
    bandsLabel: 'quantile groups',
    markers: [
      { x: r.mean, name: 'mean' },
      ...(r.top.length ? [{ x: r.top[r.top.length - 1].value, name: `top-${r.top.length} cut` }] : []),
    ],
  }).svg;
}

export function topStimuliHistogramPng(ctx: Context, id: string, opts: { log?: boolean } = {}): Promise<Buffer> {
  return svgToPng(topStimuliHistogramSvg(ctx, id, opts));
}

/**
 * The examples' per-token activations as a figure (text jobs with tokens): WordPiece "##" pieces and
 * GPT-2 pieces without a leading space are drawn joined to the token before them.
 */
export function topStimuliTokensSvg(ctx: Context, id: string, q: { which?: 'top' | 'bottom'; n?: number } = {}): string {
  const j = requireSucceeded(ctx, 'top-stimuli', id);
  const r = repo.getEncodingResult(ctx.db, id) as TopStimuliResult;
  const which = q.which ?? 'top';
  const list = (which === 'top' ? r.top : r.bottom).slice(0, q.n ?? 10);
  if (!list.length || list.some((e) => !e.tokens)) throw new ConflictError(`top-stimuli job '${id}' has no per-token activations (text models, submitted with tokens: true)`);
  const model = getModel(ctx.db, j.modelId);
  const gpt2 = model?.manifest.input.text?.tokenizer.type === 'gpt2';
  const display = (tok: string, i: number) => {
    if (gpt2) return { text: tok.trim() || '\u2423', joined: i > 0 && !tok.startsWith(' ') };
    return tok.startsWith('##') && tok.length > 2 ? { text: tok.slice(2), joined: i > 0 } : { text: tok, joined: false };
  };
  return tokenHeatFigure({
    title: `${model?.name ?? j.modelId}: ${r.region.label}, ${which} ${list.length} of ${r.n}`,
    subtitle: `activation of the region (mean of ${r.region.nUnits} units) at every token; the label is the ${r.pooling}-pooled response`,
    texts: list.map((e, i) => ({ label: `${i + 1}. ${e.value === null ? 'nan' : e.value.toFixed(3)}`, tokens: e.tokens!.tokens, values: e.tokens!.values.map((v) => (v === null ? NaN : v)) })),
    display,
  }).svg;
}

export function topStimuliTokensPng(ctx: Context, id: string, q: { which?: 'top' | 'bottom'; n?: number } = {}): Promise<Buffer> {
  return svgToPng(topStimuliTokensSvg(ctx, id, q));
}

// ─── profiles ───────────────────────────────────────────────────────────────────────────────────────

/** Largest kept matrix of a split-half profile (stimuli × units × 4 bytes). */
export const MAX_PROFILE_MATRIX_BYTES = 1024 * 1024 * 1024;

export const ProfileRequestSchema = Type.Object(
  {
    model: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Model id or name (implied by a mask).' })),
    localizer: Type.Optional(
      Type.Object(
        {
          a: SetRef,
          b: SetRef,
          layers: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { minItems: 1, maxItems: 1000, description: 'Layers the fROI is chosen from (default all).' })),
          percent: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 50, default: 1, description: 'The fROI: the top percent of units by t on the definition half.' })),
          scope: Type.Optional(Choice(['layer', 'all'], { description: 'Rank within each layer (default) or across the layers.' })),
          sign: Type.Optional(Choice(['positive', 'negative'], { description: 'positive: a > b (default).' })),
        },
        { additionalProperties: false, description: 'Split-half within this localizer: define on half of each of its sets, measure on the rest.' },
      ),
    ),
    mask: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: "An independent localizer: a stored mask, defined on other data (items of its contrast's sets are never measured)." })),
    region: Type.Optional(Type.Composite([RegionSchema], { description: "An independent localizer given as a region (as for top stimuli); items of the sets of the contrast it was chosen on are never measured." })),
    measure: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: 100, description: 'The categories measured: one set each.' }),
    splits: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: 'Split-half: seeded splits.' })),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295, default: 1 })),
    resamples: Type.Optional(Type.Integer({ minimum: 100, maximum: 100000, default: 2000, description: 'Bootstrap resamples per category.' })),
    level: Type.Optional(Type.Number({ minimum: 0.5, maximum: 0.999, default: 0.95, description: 'Confidence level of the intervals.' })),
    control: Type.Optional(Type.Boolean({ default: true, description: 'Also measure the matched random control (same units per layer, from outside the fROI, seeded).' })),
    effect: Type.Optional(
      Type.Object({ a: Type.String({ minLength: 1, maxLength: 128 }), b: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false, description: "Two measured categories: their held-out Cohen's d with a bootstrap CI, and Welch t." }),
    ),
    pooling: Type.Optional(PoolingChoice),
    label: Type.Optional(Type.String({ maxLength: 200 })),
  },
  {
    additionalProperties: false,
    examples: [
      { model: 'topo-gpt', localizer: { a: 'toxic', b: 'neutral', percent: 1 }, measure: ['toxic', 'neutral', 'sentences', 'nonwords'], splits: 10 },
      { mask: 'm_0a1b2c3d4e5f6071', measure: ['toxic-corpus', 'neutral-corpus-match'], effect: { a: 'toxic-corpus', b: 'neutral-corpus-match' } },
    ],
  },
);
export type ProfileRequest = Static<typeof ProfileRequestSchema>;

export function submitProfile(ctx: Context, jobs: JobQueue, req: ProfileRequest) {
  const fixed = [req.mask !== undefined ? 'mask' : null, req.region !== undefined ? 'region' : null].filter((x): x is string => x !== null);
  if (fixed.length > 1) throw new ValidationError("give one of 'mask' and 'region', not both", 'region');
  if (req.localizer && fixed.length) throw new ValidationError(`give either 'localizer' (split-half) or '${fixed[0]}' (an independent localizer), not both`, fixed[0]);
  if (!req.localizer && !fixed.length) throw new ValidationError("a profile needs 'localizer' (split-half within it), or 'mask' or 'region' (an independent localizer)", 'localizer');
  let model: ModelRecord;
  let define: ProfileParams['define'];
  const allSets: StimulusSet[] = [];
  const pooling = (req.pooling ?? null) as Pooling | null;
  if (!req.localizer) {
    const r = resolveRegion(ctx, req.model, req.mask !== undefined ? { kind: 'mask', mask: req.mask } : (req.region as RegionRequest));
    model = r.model;
    // The contrast the region was chosen on: its sets are the definition data.
    let contrast = (r.region.source.contrast as string | null | undefined) ?? null;
    if (r.region.kind === 'mask') {
      const mask = getMask(ctx.db, r.region.source.mask as string)!;
      const parent = mask.kind === 'random-control' && mask.controlOf ? getMask(ctx.db, mask.controlOf) : null;
      contrast = (parent ?? mask).contrast;
    }
    const definitionSets = contrast ? repo.jobSets(ctx.db, contrast).map((s) => s.setId) : [];
    define = { kind: 'region', region: r.region, contrast, definitionSets };
  } else {
    if (!req.model) throw new ValidationError("a split-half profile needs 'model'", 'model');
    model = requireModel(ctx, req.model);
    const loc = req.localizer;
    const a = resolveSets(ctx, model, loc.a, 'localizer.a');
    const b = resolveSets(ctx, model, loc.b, 'localizer.b');
    const shared = a.find((s) => b.some((x) => x.id === s.id));
    if (shared) throw new UnprocessableError(`set '${shared.name}' is in both localizer.a and localizer.b`, 'localizer.b');
    for (const [cond, list] of [['a', a], ['b', b]] as const) {
      const n = list.reduce((s, x) => s + x.nItems, 0);
      if (n < 4) throw new UnprocessableError(`localizer.${cond} has ${n} stimuli; split-half needs at least 4 per condition (2 to define, 2 to measure)`, `localizer.${cond}`);
    }
    (loc.layers ?? []).forEach((name, i) => {
      if (!model.info.layers.some((l) => l.name === name)) throw new UnprocessableError(`localizer.layers[${i}]: model '${model.name}' has no layer '${name}'; its layers are ${model.info.layers.map((l) => `'${l.name}'`).join(', ')}`, `localizer.layers[${i}]`);
    });
    const layers = planLayers(model, loc.layers, pooling).map((l) => l.name);
    define = { kind: 'localizer', a: a.map(span), b: b.map(span), layers, percent: loc.percent ?? 1, scope: loc.scope ?? 'layer', sign: loc.sign ?? 'positive' };
    allSets.push(...a, ...b);
  }
  const measure = resolveSets(ctx, model, req.measure, 'measure');
  for (const s of measure) if (!allSets.some((x) => x.id === s.id)) allSets.push(s);
  const layerNames = define.kind === 'localizer' ? define.layers : define.region.layers.map((l) => l.layer);
  const planned = planLayers(model, layerNames, pooling);
  for (const l of planned) if (l.pooling === 'tokens') throw new UnprocessableError(`layer '${l.name}' pools 'tokens' by default; a profile needs one row per stimulus: give pooling 'mean', 'max' or 'last'`, 'pooling');
  const total = allSets.reduce((s, x) => s + x.nItems, 0);
  if (define.kind === 'localizer') {
    const bytes = total * planned.reduce((s, l) => s + l.units, 0) * 4;
    if (bytes > MAX_PROFILE_MATRIX_BYTES) throw new UnprocessableError(`split-half keeps every stimulus × unit row: ${Math.round(bytes / 2 ** 20)} MiB here (limit ${MAX_PROFILE_MATRIX_BYTES / 2 ** 20} MiB); fewer or smaller sets, fewer layers, or an independent localizer (mask) streams instead`, 'measure');
  }
  let effect: ProfileParams['effect'] = null;
  if (req.effect) {
    const at = (ref: string, f: string) => {
      const s = findSet(ctx.db, ref);
      const i = s ? measure.findIndex((m) => m.id === s.id) : -1;
      if (i < 0) throw new UnprocessableError(`effect.${f}: '${ref}' is not one of the measured sets`, `effect.${f}`);
      return i;
    };
    effect = { a: at(req.effect.a, 'a'), b: at(req.effect.b, 'b') };
    if (effect.a === effect.b) throw new UnprocessableError('effect: a and b are the same set', 'effect.b');
  }
  const params: ProfileParams = {
    model: model.id,
    mode: define.kind === 'localizer' ? 'split-half' : 'independent',
    define,
    measure: measure.map(span),
    splits: define.kind === 'localizer' ? (req.splits ?? 10) : 1,
    seed: req.seed ?? 1,
    resamples: req.resamples ?? 2000,
    level: req.level ?? 0.95,
    control: req.control ?? true,
    effect,
    pooling,
    label:
      req.label ??
      (define.kind === 'localizer'
        ? `fROI ${define.a.map((s) => s.name).join('+')} > ${define.b.map((s) => s.name).join('+')} (top ${define.percent}%), split-half × ${req.splits ?? 10}`
        : `${define.region.label}, independent`) + ` on ${measure.map((s) => s.name).join(', ')}`,
  };
  const id = newId('pf');
  repo.insertEncodingJob(ctx.db, { id, kind: 'profile', modelId: model.id, params, provenance: provenanceOf(model, allSets, params, params.seed), total, sets: allSets.map((s) => s.id) });
  jobs.enqueue([]);
  return jobView(repo.getEncodingJob(ctx.db, id)!);
}

export function profileView(ctx: Context, id: string) {
  const j = requireEncodingJob(ctx, 'profile', id);
  return { ...jobView(j), result: j.state === 'succeeded' ? (repo.getEncodingResult(ctx.db, id) as ProfileResult) : null };
}

/** The stored splits: per split the stimuli that defined the fROI and those measured with it (with their items). */
export function profileSplits(ctx: Context, id: string) {
  requireSucceeded(ctx, 'profile', id);
  const stimuli = repo.getEncodingStimuli(ctx.db, id);
  return {
    profile: id,
    stimuli: stimuli.map((s) => ({ idx: s.idx, set: s.setId, position: s.position, sha256: s.sha256 })),
    splits: repo.getSplits(ctx.db, id).map((s) => ({
      split: s.split,
      definition: Array.from(s.definition),
      measurement: Array.from(s.measurement),
      definitionItems: s.definitionItems,
      roi: s.roi,
      control: s.control,
    })),
  };
}

export function profileSvg(ctx: Context, id: string): string {
  const j = requireSucceeded(ctx, 'profile', id);
  const r = repo.getEncodingResult(ctx.db, id) as ProfileResult;
  const p = j.params as ProfileParams;
  const model = getModel(ctx.db, j.modelId);
  const pick = (f: (c: ProfileResult['categories'][number]) => number) => r.categories.map(f);
  const groups = [{ name: r.mode === 'split-half' ? 'fROI (held-out halves)' : 'fROI (independent localizer)', values: pick((c) => c.roi.mean), lo: pick((c) => c.roi.lo), hi: pick((c) => c.roi.hi) }];
  if (r.categories.every((c) => c.control)) groups.push({ name: 'matched random control', values: pick((c) => c.control!.mean), lo: pick((c) => c.control!.lo), hi: pick((c) => c.control!.hi) });
  const roiUnits = r.roiUnits.length ? `${Math.min(...r.roiUnits)}${Math.max(...r.roiUnits) !== Math.min(...r.roiUnits) ? `–${Math.max(...r.roiUnits)}` : ''} units` : '';
  return barChartFigure({
    title: `${model?.name ?? j.modelId}: ${p.define.kind === 'localizer' ? `${p.define.a.map((s) => s.name).join('+')} > ${p.define.b.map((s) => s.name).join('+')} fROI` : p.define.region.label}`,
    subtitle: `${r.mode === 'split-half' ? `${r.splits} seeded split-halves` : 'independent localizer'}, ${roiUnits}; bars: mean response, ${Math.round(r.bootstrap.level * 100)}% bootstrap CI over stimuli (${r.bootstrap.resamples} resamples)`,
    yLabel: `mean response (${r.pooling} pooling)`,
    categories: r.categories.map((c) => `${c.name} (n=${c.measured})`),
    groups,
    width: 720,
  }).svg;
}

export function profilePng(ctx: Context, id: string): Promise<Buffer> {
  return svgToPng(profileSvg(ctx, id));
}

// ─── selectivity ────────────────────────────────────────────────────────────────────────────────────

export const SelectivityRequestSchema = Type.Object(
  {
    battery: Type.String({ minLength: 1, maxLength: 128, description: 'A stored battery of categories (POST /v1/batteries with `categories`): each category vs the rest.' }),
    threshold: Type.Optional(Type.Number({ minimum: -10, maximum: 10, default: 0.5, description: "d′ at or above which a unit counts as responding to a category (nAbove, selectiveFraction)." })),
  },
  { additionalProperties: false, examples: [{ battery: 'b_5e0c2a7f9d1b3c4e', threshold: 0.5 }] },
);
export type SelectivityRequest = Static<typeof SelectivityRequestSchema>;

/** Per-unit selectivity of a categories battery, from its contrasts' stored per-category moments. */
export function createSelectivity(ctx: Context, req: SelectivityRequest): SelectivityRecord {
  const list = batteryJobs(ctx.db, req.battery);
  if (list.length === 0) throw new NotFoundError('battery', req.battery);
  const unfinished = list.find((j) => j.state !== 'succeeded');
  if (unfinished) throw new ConflictError(`contrast '${unfinished.id}' of battery '${req.battery}' is ${unfinished.state}; selectivity needs every contrast of the battery to have succeeded`);
  // A categories battery: each contrast is one set vs the union of all the others.
  const cats = list.map((j) => j.params.a);
  const all = new Set(cats.flat());
  const ok = list.length >= 2 && cats.every((a) => a.length === 1) && all.size === list.length && list.every((j) => j.params.b.length === list.length - 1 && j.params.b.every((s) => all.has(s) && s !== j.params.a[0]));
  if (!ok) throw new UnprocessableError(`battery '${req.battery}' is not a battery of categories (each category vs the union of the others); submit one with POST /v1/batteries {categories: [...]}`, 'battery');
  const model = getModel(ctx.db, list[0].modelId);
  if (!model) throw new NotFoundError('model', list[0].modelId);
  const threshold = req.threshold ?? 0.5;
  const layerNames = layerSummaries(ctx.db, list[0].id).map((l) => l.name);
  const categories = list.map((j) => {
    const setId = j.params.a[0];
    return { name: findSet(ctx.db, setId)?.name ?? setId, set: setId, contrast: j.id, n: 0 };
  });
  const summaries: SelectivityLayerSummary[] = [];
  const stored: repo.NewSelectivity['layers'] = [];
  for (const layer of layerNames) {
    const results = list.map((j) => getLayerResult(ctx.db, j.id, layer));
    if (results.some((r) => !r)) throw new UnprocessableError(`layer '${layer}' is missing from a contrast of the battery`);
    const rs = results.map((r) => r!);
    rs.forEach((r, c) => (categories[c].n = r.nA));
    const s = unitSelectivity({ n: rs.map((r) => r.nA), mean: rs.map((r) => r.meanA), variance: rs.map((r) => r.varA) }, threshold);
    const sheet = getSheet(ctx.db, model.id, layer);
    if (!sheet) throw new UnprocessableError(`model '${model.name}' has no stored sheet for layer '${layer}'`);
    const agree = neighbourAgreement(s.preferred, sheet.unitOfCell, sheet.rows, sheet.cols);
    const counts = categories.map(() => 0);
    let none = 0;
    for (const p of s.preferred) {
      if (p < 0) none++;
      else counts[p]++;
    }
    const frac = [0, 0, 0];
    let selective = 0;
    for (let u = 0; u < s.units; u++) {
      frac[Math.min(2, s.nAbove[u])]++;
      if (s.maxDprime[u] >= threshold) selective++;
    }
    summaries.push({
      layer,
      units: s.units,
      preferredCounts: counts,
      noPreference: none,
      meanSI: meanFinite(s.si),
      medianSI: medianFinite(s.si),
      meanSparseness: meanFinite(s.sparseness),
      medianSparseness: medianFinite(s.sparseness),
      meanNAbove: meanFinite(s.nAbove),
      nAboveFractions: [frac[0] / s.units, frac[1] / s.units, frac[2] / s.units],
      selectiveFraction: selective / s.units,
      neighbourAgreement: agree.agreement,
      neighbourChance: agree.chance,
    });
    stored.push({
      layer,
      arrays: [
        ...rs.map((r, c) => ({ name: `mean.${c}`, dtype: 'f32' as const, data: Float32Array.from(r.meanA) })),
        ...s.dprime.map((d, c) => ({ name: `dprime.${c}`, dtype: 'f32' as const, data: Float32Array.from(d) })),
        { name: 'preferred', dtype: 'i32', data: s.preferred },
        { name: 'n_above', dtype: 'i32', data: s.nAbove },
        { name: 'si', dtype: 'f32', data: Float32Array.from(s.si) },
        { name: 'sparseness', dtype: 'f32', data: Float32Array.from(s.sparseness) },
        { name: 'max_dprime', dtype: 'f32', data: Float32Array.from(s.maxDprime) },
      ],
    });
  }
  const id = newId('sel');
  const provenance = {
    service: 'toposcope',
    version: VERSION,
    model: { id: model.id, name: model.name, hash: model.hash },
    battery: req.battery,
    contrasts: list.map((j) => ({ id: j.id, label: j.params.label, provenance: j.provenance })),
    threshold,
    source: "the battery's stored per-category means and variances (meanA, varA of each 'category > rest' contrast)",
  };
  repo.insertSelectivity(ctx.db, { id, modelId: model.id, batteryId: req.battery, spec: { categories, threshold, provenance }, result: { layers: summaries }, layers: stored });
  return selectivityView(ctx, id);
}

export function selectivityView(ctx: Context, id: string): SelectivityRecord {
  const r = repo.getSelectivity(ctx.db, id);
  if (!r) throw new NotFoundError('selectivity', id);
  const spec = r.spec as { categories: SelectivityRecord['categories']; threshold: number; provenance: Record<string, unknown> };
  return {
    id: r.id,
    modelId: r.modelId,
    modelName: getModel(ctx.db, r.modelId)?.name ?? r.modelId,
    battery: r.batteryId,
    categories: spec.categories,
    threshold: spec.threshold,
    layers: (r.result as { layers: SelectivityLayerSummary[] }).layers,
    provenance: spec.provenance,
    createdAt: r.createdAt,
  };
}

export function listSelectivity(ctx: Context, q: { limit?: number; offset?: number; model?: string }) {
  const { limit, offset } = paging(q);
  const model = q.model ? (findModel(ctx.db, q.model)?.id ?? q.model) : undefined;
  const r = repo.listSelectivity(ctx.db, { limit, offset, model });
  return { items: r.items.map((x) => selectivityView(ctx, x.id)), total: r.total, limit, offset };
}

export function deleteSelectivity(ctx: Context, id: string): void {
  selectivityView(ctx, id);
  repo.deleteSelectivity(ctx.db, id);
}

const num = (a: ArrayLike<number>) => Array.from(a, (v) => (Number.isFinite(v) ? v : null));

function requireSelLayer(ctx: Context, id: string, layer: string) {
  const v = selectivityView(ctx, id);
  if (!v.layers.some((l) => l.layer === layer)) throw new NotFoundError(`layer of selectivity ${id}`, layer);
  return { v, a: repo.selectivityArrays(ctx.db, id, layer) };
}

/** Per-unit arrays of one layer: category means, d′ per category, preferred, SI, sparseness, nAbove. */
export function selectivityLayer(ctx: Context, id: string, layer: string) {
  const { v, a } = requireSelLayer(ctx, id, layer);
  const sheet = getSheet(ctx.db, v.modelId, layer)!;
  return {
    selectivity: id,
    layer,
    categories: v.categories.map((c) => c.name),
    threshold: v.threshold,
    rows: sheet.rows,
    cols: sheet.cols,
    cellOfUnit: Array.from(sheet.cellOfUnit),
    mean: v.categories.map((_, c) => num(a[`mean.${c}`])),
    dprime: v.categories.map((_, c) => num(a[`dprime.${c}`])),
    preferred: Array.from(a.preferred),
    si: num(a.si),
    sparseness: num(a.sparseness),
    nAbove: Array.from(a.n_above),
    maxDprime: num(a.max_dprime),
    summary: v.layers.find((l) => l.layer === layer)!,
  };
}

export const SELECTIVITY_STATS = ['preferred', 'si', 'sparseness', 'n-above', 'max-dprime', 'dprime'] as const;
export type SelectivityStat = (typeof SELECTIVITY_STATS)[number];

/** Colours of the preferred-category map (colour-blind-safe, Okabe–Ito). */
const CATEGORY_COLORS: [number, number, number][] = [
  [213, 94, 0],
  [0, 114, 178],
  [0, 158, 115],
  [230, 159, 0],
  [204, 121, 167],
  [86, 180, 233],
  [240, 228, 66],
  [0, 0, 0],
];

export function selectivityMapSvg(ctx: Context, id: string, layer: string, q: { stat?: SelectivityStat; category?: string }): string {
  const { v, a } = requireSelLayer(ctx, id, layer);
  const stat = q.stat ?? 'preferred';
  const sheet = getSheet(ctx.db, v.modelId, layer)!;
  const names = v.categories.map((c) => c.name);
  const title = `${v.modelName} / ${layer}: selectivity across ${names.join(', ')}`;
  if (stat === 'preferred') {
    const pref = a.preferred as Int32Array;
    const cells = labelsToSheet(pref, sheet);
    for (let c = 0; c < cells.length; c++) if (sheet.unitOfCell[c] < 0) cells[c] = -1;
    const colors = names.length <= CATEGORY_COLORS.length ? CATEGORY_COLORS.slice(0, names.length) : undefined;
    return categoricalMapFigure({ categories: cells, rows: sheet.rows, cols: sheet.cols, labels: names, colors, noneLabel: 'no preference / no unit', title, subtitle: 'preferred category (largest mean response)' }).svg;
  }
  let values: ArrayLike<number>;
  let label: string;
  let symmetric = false;
  let vmin: number | undefined = 0;
  let vmax: number | undefined;
  if (stat === 'dprime') {
    if (!q.category) throw new ValidationError("stat 'dprime' needs 'category' (one of the battery's categories)", 'category');
    const c = names.indexOf(q.category);
    if (c < 0) throw new UnprocessableError(`category '${q.category}' is not in this battery; it has ${names.join(', ')}`, 'category');
    values = a[`dprime.${c}`];
    label = `d′ ${q.category} vs rest`;
    symmetric = true;
    vmin = undefined;
  } else if (stat === 'si') {
    values = a.si;
    label = 'selectivity index';
    vmax = 1;
  } else if (stat === 'sparseness') {
    values = a.sparseness;
    label = 'lifetime sparseness (category means)';
    vmax = 1;
  } else if (stat === 'n-above') {
    values = a.n_above;
    label = `categories with d′ ≥ ${v.threshold}`;
    vmax = names.length;
  } else {
    values = a.max_dprime;
    label = 'largest d′ (category vs rest)';
    symmetric = true;
    vmin = undefined;
  }
  return mapFigure({ values: toSheet(values, sheet), rows: sheet.rows, cols: sheet.cols, title, subtitle: label, statLabel: label, symmetric, vmin, vmax }).svg;
}

export function selectivityMapPng(ctx: Context, id: string, layer: string, q: { stat?: SelectivityStat; category?: string }): Promise<Buffer> {
  return svgToPng(selectivityMapSvg(ctx, id, layer, q));
}

export const COMPARE_METRICS = ['si', 'sparseness', 'n-above', 'selective', 'agreement'] as const;
export type CompareMetric = (typeof COMPARE_METRICS)[number];

/**
 * Layer summaries of several selectivity results side by side (e.g. a topographic model and its flat
 * twin): per layer the mean over units with a 95 % bootstrap CI over units (seed 1, 2000 resamples;
 * descriptive: neighbouring units are not independent), or the neighbour agreement with its chance level.
 */
export function selectivityCompareSvg(ctx: Context, ids: string[], metric: CompareMetric): string {
  if (ids.length < 1 || ids.length > 8) throw new ValidationError('ids: give 1 to 8 selectivity ids, comma-separated', 'ids');
  const views = ids.map((id) => selectivityView(ctx, id));
  const layers: string[] = [];
  for (const v of views) for (const l of v.layers) if (!layers.includes(l.layer)) layers.push(l.layer);
  const groups: { name: string; values: number[]; lo?: number[]; hi?: number[]; color?: [number, number, number] }[] = [];
  const label: Record<CompareMetric, string> = {
    si: 'selectivity index (mean over units)',
    sparseness: 'lifetime sparseness (mean over units)',
    'n-above': `categories with d′ ≥ threshold (mean over units)`,
    selective: 'fraction of units with max d′ ≥ threshold',
    agreement: 'neighbours sharing a preferred category',
  };
  const palette = qualitativePalette(views.length);
  for (const [vi, v] of views.entries()) {
    if (metric === 'agreement') {
      // Chance in a light tint of the model's colour.
      const light = palette[vi].map((c) => Math.round(c + (255 - c) * 0.6)) as [number, number, number];
      groups.push({ name: v.modelName, values: layers.map((l) => v.layers.find((x) => x.layer === l)?.neighbourAgreement ?? NaN), color: palette[vi] });
      groups.push({ name: `${v.modelName} (chance)`, values: layers.map((l) => v.layers.find((x) => x.layer === l)?.neighbourChance ?? NaN), color: light });
      continue;
    }
    if (metric === 'selective') {
      groups.push({ name: v.modelName, values: layers.map((l) => v.layers.find((x) => x.layer === l)?.selectiveFraction ?? NaN), color: palette[vi] });
      continue;
    }
    const name = metric === 'si' ? 'si' : metric === 'sparseness' ? 'sparseness' : 'n_above';
    const vals: number[] = [];
    const lo: number[] = [];
    const hi: number[] = [];
    for (const l of layers) {
      if (!v.layers.some((x) => x.layer === l)) {
        vals.push(NaN);
        lo.push(NaN);
        hi.push(NaN);
        continue;
      }
      const arr = Array.from(repo.selectivityArrays(ctx.db, v.id, l)[name]).filter((x) => Number.isFinite(x));
      const b = bootstrapMean(arr, { resamples: 2000, seed: 1, level: 0.95 });
      vals.push(b.estimate);
      lo.push(b.lo);
      hi.push(b.hi);
    }
    groups.push({ name: v.modelName, values: vals, lo, hi, color: palette[vi] });
  }
  return barChartFigure({
    title: `Selectivity across ${views[0].categories.map((c) => c.name).join(', ')}`,
    subtitle: `${label[metric]}${metric === 'agreement' || metric === 'selective' ? '' : '; 95% bootstrap CI over units'}; threshold d′ ≥ ${views[0].threshold}`,
    yLabel: label[metric],
    categories: layers,
    groups,
    width: 720,
  }).svg;
}

export function selectivityComparePng(ctx: Context, ids: string[], metric: CompareMetric): Promise<Buffer> {
  return svgToPng(selectivityCompareSvg(ctx, ids, metric));
}
