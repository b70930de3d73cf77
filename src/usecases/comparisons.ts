/**
 * Map comparison: Pearson r and SSIM between selectivity maps of the same sheet (two contrasts on
 * one model, or one contrast on two models with the same layer shape), and the matrix over several.
 * Comparisons are stored so they can be cited later.
 */
import crypto from 'node:crypto';
import type { Context } from '../store/context.ts';
import { ConflictError, NotFoundError, UnprocessableError, ValidationError } from '../domain/errors.ts';
import { similarityMatrix } from '../stats/compare.ts';
import { nowIso } from '../store/db.ts';
import { getJob, getLayerResult, layerArrays } from '../store/jobs-repo.ts';
import { onSheet, statValues, type MapStat } from './results.ts';

export interface MapRef {
  contrast: string;
  layer: string;
  stat?: MapStat;
}

export interface ComparisonRecord {
  id: string;
  maps: (MapRef & { rows: number; cols: number; label: string | null })[];
  pearson: number[][];
  ssim: number[][];
  ssimOptions: Record<string, unknown>;
  createdAt: string;
}

function matrix(m: Float64Array, k: number): number[][] {
  return Array.from({ length: k }, (_, i) => Array.from({ length: k }, (_, j) => (Number.isFinite(m[i * k + j]) ? m[i * k + j] : NaN)));
}

export function compareMaps(ctx: Context, refs: MapRef[]): ComparisonRecord {
  if (!Array.isArray(refs) || refs.length < 2) throw new ValidationError('give at least two maps to compare', 'maps');
  const loaded = refs.map((r, i) => {
    const job = getJob(ctx.db, r.contrast);
    if (!job) throw new NotFoundError('contrast', r.contrast);
    if (job.state !== 'succeeded') throw new ConflictError(`maps[${i}]: contrast '${r.contrast}' is ${job.state}`);
    const l = getLayerResult(ctx.db, job.id, r.layer);
    if (!l) throw new NotFoundError(`layer of contrast ${job.id}`, r.layer);
    const stat = r.stat ?? 't';
    return { ref: { contrast: job.id, layer: l.name, stat, rows: l.rows, cols: l.cols, label: job.params.label }, sheet: onSheet(l, statValues(l, stat, layerArrays(ctx.db, job.id, l.name))) };
  });
  const { rows, cols } = loaded[0].ref;
  loaded.forEach((m, i) => {
    if (m.ref.rows !== rows || m.ref.cols !== cols) {
      throw new UnprocessableError(`maps[${i}] is a ${m.ref.rows}×${m.ref.cols} sheet but maps[0] is ${rows}×${cols}: only maps of the same sheet can be compared`, `maps[${i}]`);
    }
  });
  const sheets = loaded.map((m) => m.sheet);
  const ssimOptions = { window: 'gaussian', sigma: 1.5, size: 7, dataRange: 'joint range of each pair' };
  const rec: ComparisonRecord = {
    id: `cmp_${crypto.randomBytes(8).toString('hex')}`,
    maps: loaded.map((m) => m.ref),
    pearson: matrix(similarityMatrix(sheets, rows, cols, 'pearson'), sheets.length),
    ssim: matrix(similarityMatrix(sheets, rows, cols, 'ssim', { window: 'gaussian', sigma: 1.5, size: 7 }), sheets.length),
    ssimOptions,
    createdAt: nowIso(),
  };
  ctx.db
    .prepare('INSERT INTO comparisons (id, spec, result, created_at) VALUES (?, ?, ?, ?)')
    .run(rec.id, JSON.stringify(rec.maps), JSON.stringify({ pearson: rec.pearson, ssim: rec.ssim, ssimOptions }), rec.createdAt);
  return rec;
}

export function getComparison(ctx: Context, id: string): ComparisonRecord {
  const r = ctx.db.prepare('SELECT * FROM comparisons WHERE id = ?').get(id) as { id: string; spec: string; result: string; created_at: string } | undefined;
  if (!r) throw new NotFoundError('comparison', id);
  const res = JSON.parse(r.result) as { pearson: number[][]; ssim: number[][]; ssimOptions: Record<string, unknown> };
  return { id: r.id, maps: JSON.parse(r.spec) as ComparisonRecord['maps'], ...res, createdAt: r.created_at };
}
