/**
 * What a region encodes (issue 10): regions of units, the parameters of top-stimuli and response-profile
 * jobs as they run (ids resolved, every default filled in), and the shapes of their stored results and
 * of per-unit selectivity across a battery.
 */
import type { Pooling } from './manifest.ts';

/** The encoding job kinds, stored in `jobs.kind` beside 'contrast'. */
export const ENCODING_JOB_KINDS = ['top-stimuli', 'profile'] as const;
export type EncodingJobKind = (typeof ENCODING_JOB_KINDS)[number];

export type RegionKind = 'unit' | 'units' | 'cluster' | 'mask' | 'layer';

/** A region resolved to units: its response to a stimulus is the mean of these units' pooled responses. */
export interface ResolvedRegion {
  kind: RegionKind;
  /** Human-readable, e.g. "topo-gpt mlp0 unit 17", "mask toxic (top 1%)". */
  label: string;
  /** Where it came from: {layer, unit} | {layer, units} | {contrast, layer, cluster} | {mask, name} | {layer}; `contrast` when the units were chosen on a contrast. */
  source: Record<string, unknown>;
  layers: { layer: string; units: number[] }[];
  nUnits: number;
}

export interface SetSpan {
  id: string;
  name: string;
  /** Items of the set; the job's stimulus index runs over the sets in order. */
  items: number;
}

export interface TopStimuliParams {
  model: string;
  region: ResolvedRegion;
  sets: SetSpan[];
  k: number;
  bottomK: number;
  quantiles: number;
  perQuantile: number;
  /** Bins of the power-of-two histogram grid (the range spans between bins/2 and bins of them). */
  bins: number;
  seed: number;
  /** Also keep top/bottom heaps for every unit of the region. */
  perUnit: boolean;
  pooling: Pooling | null;
  /** Text models: re-run the examples with 'tokens' pooling for per-token activations. */
  tokens: boolean;
  label: string;
}

/** One stimulus of a job's list. */
export interface StimulusRef {
  idx: number;
  set: string;
  setName: string;
  position: number;
  sha256: string;
  label: string | null;
  text: string | null;
}

export interface Example extends StimulusRef {
  value: number;
  /** Text stimuli: the region's activation at every token (the mean of its units there). */
  tokens?: { tokens: string[]; values: number[] };
}

export interface TopStimuliResult {
  region: ResolvedRegion;
  pooling: string;
  n: number;
  nonFinite: number;
  mean: number;
  top: Example[];
  bottom: Example[];
  histogram: { width: number; lo: number; counts: number[]; n: number; min: number; max: number };
  quantiles: { fromQuantile: number; toQuantile: number; lo: number; hi: number; count: number; examples: Example[] }[];
  /** Per-unit heaps, stored as arrays (see the units route), when perUnit. */
  perUnit: { layers: { layer: string; units: number[] }[]; k: number; bottomK: number } | null;
  /**
   * For 'mean' pooling with per-token activations: the largest |mean over tokens − pooled value| over the
   * examples (a consistency check of the re-run; float32 rounding only).
   */
  tokenCheck: { examples: number; maxAbsDiff: number } | null;
}

export type ProfileMode = 'split-half' | 'independent';

export interface ProfileParams {
  model: string;
  mode: ProfileMode;
  /** split-half: the localizer's conditions; independent: the fixed region, the contrast it was chosen on and that contrast's sets (never measured). */
  define:
    | { kind: 'localizer'; a: SetSpan[]; b: SetSpan[]; layers: string[]; percent: number; scope: 'layer' | 'all'; sign: 'positive' | 'negative' }
    | { kind: 'region'; region: ResolvedRegion; contrast: string | null; definitionSets: string[] };
  /** The categories measured, each one set. */
  measure: SetSpan[];
  splits: number;
  seed: number;
  resamples: number;
  level: number;
  control: boolean;
  /** Indices into `measure` of two categories whose held-out difference is reported as Cohen's d. */
  effect: { a: number; b: number } | null;
  pooling: Pooling | null;
  label: string;
}

export interface CI {
  mean: number;
  lo: number;
  hi: number;
  se: number;
  n: number;
}

/** Cohen's d of category a vs b (pooled SD) with its bootstrap CI, and the difference of the means. */
export interface EffectCI {
  d: number;
  lo: number;
  hi: number;
  se: number;
  meanDiff: number;
  nA: number;
  nB: number;
}

export interface ProfileCategory {
  set: string;
  name: string;
  items: number;
  /** Stimuli with a cross-validated response (never in the definition data of the splits that measured them). */
  measured: number;
  /** Stimuli never measured: in every split's definition half, or (independent) items used to define the mask. */
  excluded: number;
  roi: CI;
  control: CI | null;
}

export interface ProfileResult {
  mode: ProfileMode;
  pooling: string;
  categories: ProfileCategory[];
  /** fROI size per split (units over all its layers). */
  roiUnits: number[];
  effect: { a: string; b: string; roi: EffectCI; control: EffectCI | null; t: number; df: number; p: number } | null;
  bootstrap: { resamples: number; level: number; seed: number; method: string };
  splits: number;
}

export interface SelectivityLayerSummary {
  layer: string;
  units: number;
  /** Units preferring each category (same order as `categories`), and units with no preference. */
  preferredCounts: number[];
  noPreference: number;
  meanSI: number;
  medianSI: number;
  meanSparseness: number;
  medianSparseness: number;
  meanNAbove: number;
  /** Fraction of units with 0, 1 and ≥ 2 categories at d′ ≥ threshold. */
  nAboveFractions: [number, number, number];
  /** Fraction of units whose largest d′ reaches the threshold. */
  selectiveFraction: number;
  /** Queen-neighbour pairs on the sheet that share a preferred category, and the chance level. */
  neighbourAgreement: number;
  neighbourChance: number;
}

export interface SelectivityRecord {
  id: string;
  modelId: string;
  modelName: string;
  battery: string;
  categories: { name: string; set: string; contrast: string; n: number }[];
  threshold: number;
  layers: SelectivityLayerSummary[];
  provenance: Record<string, unknown>;
  createdAt: string;
}
