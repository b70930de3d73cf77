/**
 * Statistical vocabulary shared by every layer: test kinds, corrections, threshold scales, and the
 * table of per-unit statistics that drives storage, documents and maps.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Choice } from './choice.ts';

export const TestKindSchema = Choice(['welch', 'student'], { default: 'welch' });
export type TestKind = Static<typeof TestKindSchema>;

export const CorrectionSchema = Choice(['bh', 'by', 'holm', 'bonferroni', 'none'], { default: 'bh' });
export type Correction = Static<typeof CorrectionSchema>;

export const CorrectionScopeSchema = Choice(['layer', 'all'], {
  default: 'layer',
  description: 'Correct across the units of each layer, or across all requested layers together.',
});
export type CorrectionScope = Static<typeof CorrectionScopeSchema>;

export type Connectivity = 4 | 8;
export type Contiguity = 'queen' | 'rook';

/**
 * The scale a threshold is stated on. `p`: uncorrected two-sided p, units with p ≤ value;
 * `abs-t`: units with |t| ≥ value. Every threshold in the service names one of these.
 */
export const ThresholdScaleSchema = Choice(['p', 'abs-t']);
export type ThresholdScale = Static<typeof ThresholdScaleSchema>;

export interface Threshold {
  scale: ThresholdScale;
  value: number;
}

/** Whether a unit with this t and p passes the threshold. */
export function passes(th: Threshold, t: number, p: number): boolean {
  return th.scale === 'p' ? p <= th.value : Math.abs(t) >= th.value;
}

/** A threshold's value must be on its scale: p in (0, 1), |t| > 0. Returns the problem, or null. */
export function thresholdProblem(th: Threshold): string | null {
  if (!Number.isFinite(th.value)) return `threshold ${th.value} is not a finite number`;
  if (th.scale === 'p' && !(th.value > 0 && th.value < 1)) return `threshold ${th.value} is not a p-value: with scale 'p' it must be in (0, 1); use scale 'abs-t' for a |t| threshold`;
  if (th.scale === 'abs-t' && !(th.value > 0)) return `threshold ${th.value} must be > 0 on the |t| scale`;
  return null;
}

/** Storage types of per-unit arrays. */
export type ArrayDtype = 'f32' | 'f64' | 'i32';

/**
 * Per-unit statistics of a layer result: the field name in documents, its column in `layer_results`
 * and its stored precision (p-values keep Float64 so tiny p survive).
 */
export const UNIT_STATS = [
  { field: 't', column: 't', dtype: 'f32', description: 'Welch (or Student) t, A − B.' },
  { field: 'df', column: 'df', dtype: 'f32', description: 'Degrees of freedom.' },
  { field: 'p', column: 'p', dtype: 'f64', description: 'Two-sided p.' },
  { field: 'log10p', column: 'log10p', dtype: 'f64', description: 'log10 of the two-sided p (finite where p underflows).' },
  { field: 'q', column: 'q', dtype: 'f64', description: 'Corrected p (method in summary.correction).' },
  { field: 'log10q', column: 'log10q', dtype: 'f64', description: 'log10 of the corrected p, computed from log10 p (finite where q underflows).' },
  { field: 'd', column: 'd', dtype: 'f32', description: "Cohen's d (pooled SD)." },
  { field: 'g', column: 'g', dtype: 'f32', description: "Hedges' g." },
  { field: 'meanA', column: 'mean_a', dtype: 'f32', description: 'Mean of condition A.' },
  { field: 'meanB', column: 'mean_b', dtype: 'f32', description: 'Mean of condition B.' },
  { field: 'varA', column: 'var_a', dtype: 'f32', description: 'Sample variance (ddof 1) of condition A.' },
  { field: 'varB', column: 'var_b', dtype: 'f32', description: 'Sample variance (ddof 1) of condition B.' },
] as const satisfies readonly { field: string; column: string; dtype: ArrayDtype; description: string }[];

export type UnitStatField = (typeof UNIT_STATS)[number]['field'];

/** Per-unit statistics as computed (Float64 throughout). */
export type UnitStats = Record<UnitStatField, Float64Array>;

/** Statistics a map can show. log10p, q and pfwe are drawn as sign(t)·(−log10 value). */
export const MapStatSchema = Choice(['t', 'd', 'log10p', 'q', 'tfce', 'pfwe'], {
  default: 't',
  description: 'log10p, q and pfwe are drawn as sign(t)·(−log10 value); tfce and pfwe exist when the contrast computed them.',
});
export type MapStat = Static<typeof MapStatSchema>;

/** What a map of each statistic shows, and the scale its `threshold` is stated on. */
export const MAP_STATS: Record<MapStat, { label: string; thresholdScale: string }> = {
  t: { label: 't', thresholdScale: '|t|' },
  d: { label: "Cohen's d", thresholdScale: '|d|' },
  log10p: { label: 'signed -log10 p', thresholdScale: '-log10 p' },
  q: { label: 'signed -log10 q', thresholdScale: '-log10 q' },
  tfce: { label: 'TFCE', thresholdScale: '|TFCE|' },
  pfwe: { label: 'signed -log10 p(FWE)', thresholdScale: '-log10 p(FWE)' },
};
