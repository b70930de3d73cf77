/**
 * Unit masks (functional ROIs): named, reusable sets of units per layer of one model, made from a
 * contrast (top-k% by t within each layer or across layers, the supra-threshold units after a
 * chosen correction, or one cluster) or from explicit unit lists; and matched random controls
 * (same count per layer, drawn from outside the mask, seeded) for lesion studies.
 */
import crypto from 'node:crypto';
import type { Context } from '../store/context.ts';
import { ConflictError, NotFoundError, UnprocessableError, ValidationError } from '../domain/errors.ts';
import { adjustP, type Correction } from '../stats/correction.ts';
import { matchedRandomMask, topKCount } from '../stats/masks.ts';
import { blob, fromBlob, nowIso } from '../store/db.ts';
import { getJob, getLayerResult, layerArrays, layerSummaries } from '../store/jobs-repo.ts';
import { findModel } from '../store/models-repo.ts';

export type MaskKind = 'top-percent' | 'significant' | 'cluster' | 'explicit' | 'random-control';

export interface MaskRequest {
  name: string;
  kind: Exclude<MaskKind, 'random-control'>;
  /** Contrast the mask is made from (all kinds but explicit). */
  contrast?: string;
  /** Layers to draw from (default: all layers of the contrast / given in `units`). */
  layers?: string[];
  /** top-percent: k in percent (llm-localization uses 1). */
  percent?: number;
  /** top-percent: rank within each layer, or across all chosen layers together. */
  scope?: 'layer' | 'all';
  /** top-percent / significant: which tail (positive t = A > B). */
  sign?: 'positive' | 'negative' | 'both';
  /** significant: correction applied to the stored p, and the level. */
  correction?: Correction;
  alpha?: number;
  /** cluster: the layer and cluster id from the contrast's cluster table. */
  layer?: string;
  cluster?: number;
  /** explicit: model and units per layer. */
  model?: string;
  units?: Record<string, number[]>;
}

export interface MaskRecord {
  id: string;
  name: string;
  modelId: string;
  contrast: string | null;
  kind: MaskKind;
  spec: Record<string, unknown>;
  controlOf: string | null;
  nUnits: number;
  createdAt: string;
  layers: { layer: string; nUnits: number; units: number[] }[];
}

function newId(): string {
  return `m_${crypto.randomBytes(8).toString('hex')}`;
}

function storeMask(
  ctx: Context,
  m: { name: string; modelId: string; contrast: string | null; kind: MaskKind; spec: Record<string, unknown>; controlOf?: string | null },
  layers: Map<string, Int32Array>,
): MaskRecord {
  const id = newId();
  let total = 0;
  for (const u of layers.values()) total += u.length;
  if (total === 0) throw new UnprocessableError('the mask would be empty: no unit meets the criterion');
  ctx.db.transaction(() => {
    ctx.db
      .prepare('INSERT INTO masks (id, name, model_id, job_id, kind, spec, control_of, n_units, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(id, m.name, m.modelId, m.contrast, m.kind, JSON.stringify(m.spec), m.controlOf ?? null, total, nowIso());
    const ins = ctx.db.prepare('INSERT INTO mask_layers (mask_id, layer, n_units, units) VALUES (?, ?, ?, ?)');
    for (const [layer, units] of layers) ins.run(id, layer, units.length, blob(units));
  })();
  return getMask(ctx, id)!;
}

export function getMask(ctx: Context, id: string): MaskRecord | null {
  const r = ctx.db.prepare('SELECT * FROM masks WHERE id = ?').get(id) as
    | { id: string; name: string; model_id: string; job_id: string | null; kind: MaskKind; spec: string; control_of: string | null; n_units: number; created_at: string }
    | undefined;
  if (!r) return null;
  const layers = (ctx.db.prepare('SELECT layer, n_units, units FROM mask_layers WHERE mask_id = ? ORDER BY rowid').all(id) as { layer: string; n_units: number; units: Buffer }[]).map(
    (l) => ({ layer: l.layer, nUnits: l.n_units, units: Array.from(fromBlob.i32(l.units)) }),
  );
  return {
    id: r.id,
    name: r.name,
    modelId: r.model_id,
    contrast: r.job_id,
    kind: r.kind,
    spec: JSON.parse(r.spec) as Record<string, unknown>,
    controlOf: r.control_of,
    nUnits: r.n_units,
    createdAt: r.created_at,
    layers,
  };
}

export function requireMask(ctx: Context, id: string): MaskRecord {
  const m = getMask(ctx, id);
  if (!m) throw new NotFoundError('mask', id);
  return m;
}

export function listMasks(ctx: Context, opts: { model?: string; limit: number; offset: number }): { items: MaskRecord[]; total: number } {
  const where = opts.model ? 'WHERE model_id = @model' : '';
  const total = (ctx.db.prepare(`SELECT COUNT(*) AS n FROM masks ${where}`).get(opts) as { n: number }).n;
  const ids = ctx.db.prepare(`SELECT id FROM masks ${where} ORDER BY created_at, rowid LIMIT @limit OFFSET @offset`).all(opts) as { id: string }[];
  return { items: ids.map((r) => getMask(ctx, r.id)!), total };
}

export function deleteMask(ctx: Context, id: string): void {
  requireMask(ctx, id);
  ctx.db.prepare('DELETE FROM masks WHERE id = ?').run(id);
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
    for (const r of results) {
      const q = adjustP(r.p, correction);
      const units: number[] = [];
      for (let u = 0; u < r.units; u++) if (q[u] <= alpha && signed(r.t[u], sign) > 0) units.push(u);
      if (units.length) layers.set(r.name, Int32Array.from(units));
    }
    spec = { kind: 'significant', correction, correctionScope: 'layer', alpha, sign, layers: chosen };
  } else if (req.kind === 'cluster') {
    if (!Number.isInteger(req.cluster)) throw new ValidationError("a cluster mask needs 'layer' and 'cluster' (an id from the cluster table)", 'cluster');
    const labels = layerArrays(ctx.db, job.id, chosen[0]).cluster_label as Int32Array | undefined;
    if (!labels) throw new ConflictError('this contrast has no cluster labels');
    const units: number[] = [];
    for (let u = 0; u < labels.length; u++) if (labels[u] === req.cluster) units.push(u);
    if (units.length === 0) throw new UnprocessableError(`layer '${chosen[0]}' of contrast '${job.id}' has no cluster ${req.cluster}`, 'cluster');
    layers.set(chosen[0], Int32Array.from(units));
    spec = { kind: 'cluster', layer: chosen[0], cluster: req.cluster, clusterParams: results[0].analysis.clusterParams ?? null };
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
