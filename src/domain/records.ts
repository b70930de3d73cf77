/** The records the service stores and returns: models, stimulus sets, jobs, layer results, masks, comparisons. */
import { Type, type Static } from '@sinclair/typebox';
import { AnalysisOptionsSchema, type AnalysisSummary, type LayerAnalysis } from './analysis.ts';
import type { LesionInfo } from './lesion.ts';
import type { Manifest } from './manifest.ts';
import type { SheetLayout } from './sheet.ts';
import { CorrectionSchema, CorrectionScopeSchema, TestKindSchema, type UnitStatField } from './stats.ts';
import { Choice, Nullable } from './choice.ts';

export type Modality = 'image' | 'text';

export interface LayerInfo {
  name: string;
  tensor: string;
  unitAxis: number;
  pooling: string;
  units: number;
  rows: number;
  cols: number;
  /** Shape ORT reported for the probe input. */
  probeShape: number[];
}

export interface ModelInfoJson {
  inputs: { name: string; type: string; dims: (number | string | null)[] }[];
  outputs: { name: string; type: string; dims: (number | string | null)[] }[];
  opsets: { domain: string; version: number }[];
  externalDataFiles: string[];
  /** Whether the batch axis of the inputs is dynamic (else inference runs one stimulus at a time). */
  dynamicBatch: boolean;
  layers: LayerInfo[];
  files: { name: string; sha256: string; bytes: number }[];
  /** The lesion copy (behaviour outputs kept, every layer editable); absent when the manifest has no `outputs`. */
  lesion?: LesionInfo;
}

export interface ModelRecord {
  id: string;
  hash: string;
  name: string;
  modality: Modality;
  manifest: Manifest;
  onnxSha256: string;
  dir: string;
  sizeBytes: number;
  info: ModelInfoJson;
  source: string;
  createdAt: string;
}

export interface StimulusSet {
  id: string;
  hash: string;
  name: string;
  modality: Modality;
  nItems: number;
  source: string;
  createdAt: string;
}

export interface StimulusItem {
  position: number;
  sha256: string;
  label: string | null;
  /** The item's class (a class name of the model's classifier output), when the set carries labels. */
  classLabel: string | null;
  kind: Modality;
  mediaType: string;
  text: string | null;
  path: string | null;
}

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

export const PoolingOverrideSchema = Choice(['mean', 'max', 'last', 'tokens', null], {
  description: "Override every layer's pooling.",
});

/** A contrast as a job runs it: ids resolved, every default filled in. */
export const ContrastParamsSchema = Type.Object({
  model: Type.String(),
  layers: Type.Array(Type.String()),
  a: Type.Array(Type.String()),
  b: Type.Array(Type.String()),
  pooling: PoolingOverrideSchema,
  test: TestKindSchema,
  correction: CorrectionSchema,
  correctionScope: CorrectionScopeSchema,
  alpha: Type.Number(),
  keepActivations: Type.Boolean(),
  label: Nullable(Type.String()),
  analysis: AnalysisOptionsSchema,
  /** Run on a lesioned model: a configuration of a stored lesion job. */
  lesion: Type.Optional(Type.Union([Type.Object({ id: Type.String(), config: Type.Integer() }), Type.Null()])),
});
export type ContrastParams = Static<typeof ContrastParamsSchema>;

export interface JobRecord {
  id: string;
  kind: string;
  modelId: string;
  state: JobState;
  params: ContrastParams;
  provenance: Record<string, unknown>;
  progressDone: number;
  progressTotal: number;
  /** What a running job is doing: 'inference', 'statistics', 'permutations k/n', … */
  progressStage: string | null;
  error: string | null;
  timings: Record<string, number> | null;
  attempts: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  seq: number;
  batteryId: string | null;
  /** Text contrasts: how many texts of each set were longer than maxTokens and fed cut to it. */
  truncation: { maxTokens: number; sets: Record<string, number> } | null;
}

export const LayerSummarySchema = Type.Object({
  units: Type.Integer(),
  rows: Type.Integer(),
  cols: Type.Integer(),
  nA: Type.Integer(),
  nB: Type.Integer(),
  pooling: Type.String(),
  significant: Type.Integer({ description: 'Units with corrected q ≤ alpha.' }),
  significantPositive: Type.Integer(),
  significantNegative: Type.Integer(),
  alpha: Type.Number(),
  correction: Type.String(),
  maxT: Type.Number(),
  minT: Type.Number(),
  zeroVarianceUnits: Type.Integer({ description: 'Units with zero variance in both conditions: t = 0, p = 1 by convention.' }),
  peak: Type.Union([
    Type.Object({ unit: Type.Integer(), row: Type.Integer(), col: Type.Integer(), t: Type.Number(), p: Type.Number(), q: Type.Number(), d: Type.Number() }),
    Type.Null(),
  ]),
});
export type LayerSummary = Static<typeof LayerSummarySchema>;

/** One layer of a contrast as the pipeline produces it (Float64 statistics). */
export type LayerOutcome = {
  name: string;
  units: number;
  rows: number;
  cols: number;
  cellOfUnit: Int32Array;
  sheet: SheetLayout;
  nA: number;
  nB: number;
  summary: LayerSummary;
  analysis: LayerAnalysis | null;
  activations: { path: string; rowIndexPath: string; rows: number } | null;
} & Record<UnitStatField, Float64Array>;

/** One layer of a contrast as stored (statistics at their stored precision). */
export type LayerResult = {
  name: string;
  position: number;
  units: number;
  rows: number;
  cols: number;
  nA: number;
  nB: number;
  summary: LayerSummary;
  cellOfUnit: Int32Array;
  analysis: AnalysisSummary;
} & Record<UnitStatField, Float32Array | Float64Array>;

/** Extra per-unit arrays of a stored layer: cluster_label (i32), p_fwe (f64), tfce (f32). */
export type LayerExtras = Record<string, Float32Array | Float64Array | Int32Array>;

export type MaskKind = 'top-percent' | 'significant' | 'cluster' | 'explicit' | 'random-control';

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

export interface ComparisonRecord {
  id: string;
  maps: { contrast: string; layer: string; stat?: string; rows: number; cols: number; label: string | null }[];
  pearson: number[][];
  ssim: number[][];
  ssimOptions: { window: string; sigma: number; size: number; dataRange: string };
  createdAt: string;
}
