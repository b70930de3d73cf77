/**
 * Unit masks (functional ROIs): named, reusable sets of units per layer of one model, made from a
 * contrast (top-k% by t within each layer or across layers, the supra-threshold units after a
 * chosen correction, or one cluster) or from explicit unit lists; and matched random controls
 * (same count per layer, drawn from outside the mask, seeded) for lesion studies.
 */
import crypto from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { ConflictError, NotFoundError, UnprocessableError, ValidationError } from '../domain/errors.ts';
import type { MaskKind, MaskRecord } from '../domain/records.ts';
import { matchedRandomMask, topKCount } from '../stats/masks.ts';
import { correct } from '../pipeline/test.ts';
import type { Context } from '../store/context.ts';
import { getJob } from '../store/jobs-repo.ts';
import * as masks from '../store/masks-repo.ts';
import { findModel } from '../store/models-repo.ts';
import { getLayerResult, layerArrays, layerSummaries } from '../store/results-repo.ts';
import { categoricalMapFigure, svgToPng } from '../render/index.ts';
import { labelsToSheet, unitsToSheetMask } from '../sheet/layout.ts';
import { sheetOf } from './models.ts';
import { layerMapPng } from './results.ts';
import { Choice } from '../domain/choice.ts';

export type { MaskKind, MaskRecord };

export const MaskRequestSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    kind: Choice(['top-percent', 'significant', 'cluster', 'explicit']),
    contrast: Type.Optional(Type.String({ maxLength: 128, description: 'The contrast to select from (all kinds but explicit).' })),
    layers: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 1000, description: 'Layers to select from; default all of the contrast.' })),
    percent: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100, description: 'top-percent: k in percent of units (default 1).' })),
    scope: Type.Optional(Choice(['layer', 'all'], { description: 'top-percent: rank within each layer (default) or across all chosen layers.' })),
    sign: Type.Optional(Choice(['positive', 'negative', 'both'], { description: 'Which tail of t (default positive: A > B).' })),
    correction: Type.Optional(Choice(['bh', 'by', 'holm', 'bonferroni', 'none'], { description: "significant: correction of the stored p, over the same family as the contrast (its layers, or all its layers) (default: the contrast's)." })),
    alpha: Type.Optional(Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1 })),
    layer: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'cluster: the layer.' })),
    cluster: Type.Optional(Type.Integer({ minimum: 1, maximum: 1e7, description: 'cluster: the id from the cluster table.' })),
    model: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'explicit: the model.' })),
    units: Type.Optional(Type.Record(Type.String(), Type.Array(Type.Integer({ minimum: 0, maximum: 1e9 }), { maxItems: 1e6 }), { description: 'explicit: units per layer.' })),
    control: Type.Optional(Type.Object({ seed: Type.Integer({ minimum: 0, maximum: 4294967295 }) }, { additionalProperties: false, description: 'Also create a matched random control mask with this seed.' })),
  },
  { additionalProperties: false, examples: [{ name: 'face units', kind: 'top-percent', contrast: 'c_3b91283dcc6bafe7', percent: 1, scope: 'all', control: { seed: 1 } }] },
);

export type MaskBody = Static<typeof MaskRequestSchema>;


export type MaskRequest = Omit<MaskBody, 'control'>;

function newId(): string {
  return `m_${crypto.randomBytes(8).toString('hex')}`;
}

function storeMask(
  ctx: Context,
  m: { name: string; modelId: string; contrast: string | null; kind: MaskKind; spec: Record<string, unknown>; controlOf?: string | null },
  layers: Map<string, Int32Array>,
): MaskRecord {
  let total = 0;
  for (const u of layers.values()) total += u.length;
  if (total === 0) throw new UnprocessableError('the mask would be empty: no unit meets the criterion');
  const id = newId();
  masks.insertMask(ctx.db, { id, ...m, controlOf: m.controlOf ?? null }, layers);
  return masks.getMask(ctx.db, id)!;
}

export function getMask(ctx: Context, id: string): MaskRecord | null {
  return masks.getMask(ctx.db, id);
}

export function requireMask(ctx: Context, id: string): MaskRecord {
  const m = masks.getMask(ctx.db, id);
  if (!m) throw new NotFoundError('mask', id);
  return m;
}

export function listMasks(ctx: Context, opts: { model?: string; limit: number; offset: number }): { items: MaskRecord[]; total: number } {
  return masks.listMasks(ctx.db, opts);
}

export function deleteMask(ctx: Context, id: string): void {
  requireMask(ctx, id);
  masks.deleteMask(ctx.db, id);
}

function signed(t: number, sign: 'positive' | 'negative' | 'both'): number {
  return sign === 'positive' ? t : sign === 'negative' ? -t : Math.abs(t);
}

/** Creates a mask from a contrast or from explicit units. */
export function createMask(ctx: Context, req: MaskRequest): MaskRecord {
  if (!req.name || req.name.length > 128) throw new ValidationError('name is required (1–128 characters)', 'name');
  if (req.kind === 'explicit') {
    if (!req.model) throw new ValidationError("an explicit mask needs 'model'", 'model');
    const model = findModel(ctx.db, req.model);
    if (!model) throw new NotFoundError('model', req.model);
    if (!req.units || Object.keys(req.units).length === 0) throw new ValidationError("an explicit mask needs 'units': {layer: [unit, …]}", 'units');
    const layers = new Map<string, Int32Array>();
    for (const [layer, units] of Object.entries(req.units)) {
      const info = model.info.layers.find((l) => l.name === layer);
      if (!info) throw new UnprocessableError(`units.${layer}: model '${model.name}' has no layer '${layer}'`, `units.${layer}`);
      const set = new Set<number>();
      for (const u of units) {
        if (!Number.isInteger(u) || u < 0 || u >= info.units) throw new UnprocessableError(`units.${layer}: unit ${u} is out of range 0–${info.units - 1}`, `units.${layer}`);
        set.add(u);
      }
      layers.set(layer, Int32Array.from([...set].sort((a, b) => a - b)));
    }
    return storeMask(ctx, { name: req.name, modelId: model.id, contrast: null, kind: 'explicit', spec: { kind: 'explicit' } }, layers);
  }
  if (!req.contrast) throw new ValidationError(`a '${req.kind}' mask is made from a contrast: give 'contrast'`, 'contrast');
  const job = getJob(ctx.db, req.contrast);
  if (!job) throw new NotFoundError('contrast', req.contrast);
  if (job.state !== 'succeeded') throw new ConflictError(`contrast '${job.id}' is ${job.state}; masks are made from succeeded contrasts`);
  const available = layerSummaries(ctx.db, job.id).map((l) => l.name);
  const chosen = req.kind === 'cluster' ? [req.layer ?? ''] : (req.layers ?? available);
  chosen.forEach((l, i) => {
    if (!available.includes(l)) throw new UnprocessableError(`layers[${i}]: contrast '${job.id}' has no layer '${l}'; it has ${available.join(', ')}`, req.kind === 'cluster' ? 'layer' : `layers[${i}]`);
  });
  const results = chosen.map((l) => getLayerResult(ctx.db, job.id, l)!);
  const sign = req.sign ?? 'positive';
  const layers = new Map<string, Int32Array>();
  let spec: Record<string, unknown>;
  if (req.kind === 'top-percent') {
    const percent = req.percent ?? 1;
    if (!(percent > 0 && percent <= 100)) throw new ValidationError('percent must be in (0, 100]', 'percent');
    const scope = req.scope ?? 'layer';
    if (scope === 'layer') {
      for (const r of results) {
        const k = topKCount(r.units, percent);
        const order = Array.from({ length: r.units }, (_, i) => i).sort((a, b) => signed(r.t[b], sign) - signed(r.t[a], sign) || a - b);
        layers.set(r.name, Int32Array.from(order.slice(0, k).sort((a, b) => a - b)));
      }
    } else {
      const all: { layer: number; unit: number; v: number }[] = [];
      results.forEach((r, li) => {
        for (let u = 0; u < r.units; u++) all.push({ layer: li, unit: u, v: signed(r.t[u], sign) });
      });
      const k = topKCount(all.length, percent);
      all.sort((a, b) => b.v - a.v || a.layer - b.layer || a.unit - b.unit);
      const per = results.map(() => [] as number[]);
      for (const x of all.slice(0, k)) per[x.layer].push(x.unit);
      results.forEach((r, li) => {
        if (per[li].length) layers.set(r.name, Int32Array.from(per[li].sort((a, b) => a - b)));
      });
    }
    spec = { kind: 'top-percent', percent, scope, sign, statistic: 't', layers: chosen };
  } else if (req.kind === 'significant') {
    const correction = req.correction ?? job.params.correction;
    const alpha = req.alpha ?? job.params.alpha;
    if (!(alpha > 0 && alpha < 1)) throw new ValidationError('alpha must be in (0, 1)', 'alpha');
    // The same family as the contrast: per layer, or across all of its layers.
    const scope = job.params.correctionScope;
    const family = scope === 'all' ? available.map((l) => getLayerResult(ctx.db, job.id, l)!) : results;
    const qs = correct(
      family.map((r) => ({ p: Float64Array.from(r.p), log10p: Float64Array.from(r.log10p) })),
      correction,
      scope,
    );
    for (const r of results) {
      const q = qs[family.findIndex((f) => f.name === r.name)].q;
      const units: number[] = [];
      for (let u = 0; u < r.units; u++) if (q[u] <= alpha && signed(r.t[u], sign) > 0) units.push(u);
      if (units.length) layers.set(r.name, Int32Array.from(units));
    }
    spec = { kind: 'significant', correction, correctionScope: scope, alpha, sign, layers: chosen };
  } else if (req.kind === 'cluster') {
    if (!Number.isInteger(req.cluster)) throw new ValidationError("a cluster mask needs 'layer' and 'cluster' (an id from the cluster table)", 'cluster');
    const labels = layerArrays(ctx.db, job.id, chosen[0]).cluster_label as Int32Array | undefined;
    if (!labels) throw new ConflictError('this contrast has no cluster labels');
    const units: number[] = [];
    for (let u = 0; u < labels.length; u++) if (labels[u] === req.cluster) units.push(u);
    if (units.length === 0) throw new UnprocessableError(`layer '${chosen[0]}' of contrast '${job.id}' has no cluster ${req.cluster}`, 'cluster');
    layers.set(chosen[0], Int32Array.from(units));
    spec = { kind: 'cluster', layer: chosen[0], cluster: req.cluster, clusterParams: results[0].analysis.clusterParams };
  } else {
    throw new ValidationError(`unknown mask kind '${String(req.kind)}'`, 'kind');
  }
  return storeMask(ctx, { name: req.name, modelId: job.modelId, contrast: job.id, kind: req.kind, spec }, layers);
}

/** A matched random control: the same number of units per layer, drawn from outside the mask. */
export function createControlMask(ctx: Context, id: string, seed: number, name?: string): MaskRecord {
  const m = requireMask(ctx, id);
  if (m.kind === 'random-control') throw new UnprocessableError('this mask is itself a random control; make the control from its parent');
  const model = findModel(ctx.db, m.modelId);
  if (!model) throw new NotFoundError('model', m.modelId);
  const layers = new Map<string, Int32Array>();
  m.layers.forEach((l, li) => {
    const info = model.info.layers.find((x) => x.name === l.layer)!;
    if (info.units - l.units.length < l.units.length) {
      throw new UnprocessableError(`layer '${l.layer}': the mask holds ${l.units.length} of ${info.units} units; too few remain outside it for a matched control`);
    }
    // One stream per layer, derived from the seed, so adding a layer does not change the others.
    layers.set(l.layer, matchedRandomMask(Int32Array.from(l.units), info.units, (seed + 7919 * li) >>> 0));
  });
  return storeMask(
    ctx,
    { name: name ?? `${m.name} (random control, seed ${seed})`, modelId: m.modelId, contrast: m.contrast, kind: 'random-control', spec: { kind: 'random-control', seed, of: m.id }, controlOf: m.id },
    layers,
  );
}

/** A mask and, when asked for, its matched random control. */
export function createMaskWithControl(ctx: Context, body: MaskBody): { mask: MaskRecord; control: MaskRecord | null } {
  const { control, ...spec } = body;
  const mask = createMask(ctx, spec);
  return { mask, control: control ? createControlMask(ctx, mask.id, control.seed) : null };
}

export function listMaskViews(ctx: Context, q: { model?: string; limit?: number; offset?: number }) {
  const model = q.model ? (findModel(ctx.db, q.model)?.id ?? q.model) : undefined;
  return masks.listMasks(ctx.db, { model, limit: q.limit ?? 50, offset: q.offset ?? 0 });
}

/** A mask on the sheet: outlined over its contrast's t-map, or as a binary map for explicit masks. */
export async function maskMapPng(ctx: Context, id: string, layer: string): Promise<Buffer> {
  const m = requireMask(ctx, id);
  const ml = m.layers.find((l) => l.layer === layer);
  if (!ml) throw new NotFoundError(`layer of mask ${id}`, layer);
  const title = `mask ${m.name} / ${layer}: ${ml.nUnits} units (${m.kind})`;
  const result = m.contrast ? getLayerResult(ctx.db, m.contrast, layer) : null;
  if (result) return layerMapPng(result, 't', { title, subtitle: `outlined over the t-map of ${m.contrast}`, mask: Int32Array.from(ml.units) });
  const model = findModel(ctx.db, m.modelId)!;
  const sheet = sheetOf(ctx, model, layer);
  // Per cell: −1 no unit, 0 a unit outside the mask, 1 a unit in it.
  const inMask = new Int32Array(sheet.cellOfUnit.length);
  for (const u of ml.units) inMask[u] = 1;
  const categories = labelsToSheet(inMask, sheet);
  for (let c = 0; c < categories.length; c++) if (sheet.unitOfCell[c] < 0) categories[c] = -1;
  const fig = categoricalMapFigure({
    categories,
    rows: sheet.rows,
    cols: sheet.cols,
    labels: ['not in mask', 'in mask'],
    colors: [
      [235, 235, 235],
      [213, 94, 0],
    ],
    title,
    outlineMask: unitsToSheetMask(ml.units, sheet),
  });
  return svgToPng(fig.svg);
}
