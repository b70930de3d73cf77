/**
 * Map comparison: Pearson r and SSIM between selectivity maps of the same sheet (two contrasts on
 * one model, or one contrast on two models with the same layer shape), and the matrix over several.
 * Comparisons are stored so they can be cited later.
 */
import crypto from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { ConflictError, NotFoundError, UnprocessableError, ValidationError } from '../domain/errors.ts';
import type { ComparisonRecord } from '../domain/records.ts';
import { MapStatSchema, type MapStat } from '../domain/stats.ts';
import { similarityMatrix } from '../stats/compare.ts';
import * as comparisons from '../store/comparisons-repo.ts';
import type { Context } from '../store/context.ts';
import { nowIso } from '../store/db.ts';
import { getJob } from '../store/jobs-repo.ts';
import { getLayerResult, layerArrays } from '../store/results-repo.ts';
import { onSheet, statValues } from './results.ts';
import { Nullable } from '../domain/choice.ts';

export type { ComparisonRecord };

export const ComparisonSchema = Type.Object(
  {
    id: Type.String(),
    maps: Type.Array(Type.Object({ contrast: Type.String(), layer: Type.String(), stat: Type.String(), rows: Type.Integer(), cols: Type.Integer(), label: Nullable(Type.String()) })),
    pearson: Type.Array(Type.Array(Nullable(Type.Number()))),
    ssim: Type.Array(Type.Array(Nullable(Type.Number()))),
    ssimOptions: Type.Object({ window: Type.String(), sigma: Type.Number(), size: Type.Integer({ description: 'Window side in cells.' }), dataRange: Type.String() }),
    createdAt: Type.String({ format: 'date-time' }),
  },
  {
    $id: 'Comparison',
    examples: [
      {
        id: 'cmp_1c2d3e4f5a6b7c8d',
        maps: [
          { contrast: 'c_faces', layer: 'conv4', stat: 't', rows: 16, cols: 16, label: 'faces > rest' },
          { contrast: 'c_bodies', layer: 'conv4', stat: 't', rows: 16, cols: 16, label: 'bodies > rest' },
        ],
        pearson: [[1, 0.62], [0.62, 1]],
        ssim: [[1, 0.55], [0.55, 1]],
        ssimOptions: { window: 'gaussian', sigma: 1.5, size: 11, dataRange: 'joint range of each pair' },
        createdAt: '2026-11-25T06:00:00.000Z',
      },
    ],
  },
);

export const ComparisonRequestSchema = Type.Object(
  {
    maps: Type.Array(
      Type.Object(
        { contrast: Type.String({ minLength: 1, maxLength: 128 }), layer: Type.String({ minLength: 1, maxLength: 200 }), stat: Type.Optional(MapStatSchema) },
        { additionalProperties: false },
      ),
      { minItems: 2, maxItems: 64 },
    ),
  },
  { additionalProperties: false, examples: [{ maps: [{ contrast: 'c_faces', layer: 'conv4' }, { contrast: 'c_bodies', layer: 'conv4' }] }] },
);


export interface MapRef {
  contrast: string;
  layer: string;
  stat?: MapStat;
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
  // A Gaussian window of σ = 1.5 cells truncated at radius round(3.5σ) = 5: 11 × 11 cells.
  const sigma = 1.5;
  const ssimOptions = { window: 'gaussian', sigma, size: 2 * Math.round(3.5 * sigma) + 1, dataRange: 'joint range of each pair' };
  const rec: ComparisonRecord = {
    id: `cmp_${crypto.randomBytes(8).toString('hex')}`,
    maps: loaded.map((m) => m.ref),
    pearson: matrix(similarityMatrix(sheets, rows, cols, 'pearson'), sheets.length),
    ssim: matrix(similarityMatrix(sheets, rows, cols, 'ssim', { window: 'gaussian', sigma }), sheets.length),
    ssimOptions,
    createdAt: nowIso(),
  };
  comparisons.insertComparison(ctx.db, rec);
  return rec;
}

export function getComparison(ctx: Context, id: string): ComparisonRecord {
  const c = comparisons.getComparison(ctx.db, id);
  if (!c) throw new NotFoundError('comparison', id);
  return c;
}
