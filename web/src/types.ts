/** The JSON the viewer reads from the API (the subset it uses; see openapi/openapi.json). */

export type Stat = 't' | 'd' | 'log10p' | 'q' | 'pfwe' | 'tfce';
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface Page<T> {
  items: T[];
  total: number;
}

export interface LayerInfo {
  name: string;
  tensor: string;
  unitAxis: number;
  pooling: string;
  units: number;
  rows: number;
  cols: number;
  probeShape: number[];
}

export interface Model {
  id: string;
  name: string;
  modality: 'image' | 'text';
  source: string;
  sizeBytes: number;
  createdAt: string;
  layers: LayerInfo[];
  manifest: { description?: string; version?: string };
}

export interface StimulusSet {
  id: string;
  name: string;
  modality: 'image' | 'text';
  nItems: number;
  source: string;
  createdAt: string;
}

export interface SetItem {
  position: number;
  sha256: string;
  label: string | null;
  mediaType: string;
  text: string | null;
}

export interface Peak {
  unit: number;
  row: number;
  col: number;
  t: number;
  p: number;
  q: number;
  d: number;
}

export interface LayerSummary {
  name: string;
  units: number;
  rows: number;
  cols: number;
  nA: number;
  nB: number;
  pooling: string;
  significant: number;
  significantPositive: number;
  significantNegative: number;
  alpha: number;
  correction: string;
  maxT: number;
  minT: number;
  peak: Peak | null;
}

export interface ContrastParams {
  model: string;
  layers: string[];
  a: string[];
  b: string[];
  pooling: string | null;
  test: string;
  correction: string;
  correctionScope: string;
  alpha: number;
  keepActivations: boolean;
  label?: string;
  analysis?: Record<string, unknown>;
}

export interface Contrast {
  id: string;
  state: JobState;
  label: string | null;
  model: string;
  params: ContrastParams;
  progress: { done: number; total: number; fraction: number };
  error: string | null;
  battery: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  layers: LayerSummary[];
}

export interface Cluster {
  id: number;
  sign: number;
  size: number;
  mass: number;
  peakT: number;
  peakUnit: number;
  peakRow: number;
  peakCol: number;
  centroidRow: number;
  centroidCol: number;
  pMass: number | null;
  pSize: number | null;
}

export interface ClusterParams {
  scale?: 'p' | 'abs-t';
  threshold?: number;
  connectivity?: 4 | 8;
  minSize?: number;
  tfce?: boolean;
}

export interface Moran {
  I?: number | null;
  expected?: number | null;
  p?: number | null;
  zScore?: number | null;
  permutations?: number;
  contiguity?: string;
  smoothed?: boolean;
  n?: number;
}

export interface Smoothness {
  binCenters?: number[];
  meanAbsDiff?: (number | null)[];
  chanceMean?: (number | null)[];
  distance?: string;
}

export interface Reliability {
  splits: number;
  threshold: number;
  meanR: number | null;
  meanSpearmanBrown: number | null;
  spearmanBrownOfMeanR: number | null;
  meanDice: number | null;
  r: (number | null)[];
}

export interface PermutationSummary {
  nPerm: number;
  unitsFWE05: number;
  maxAbsTNull: { q50: number; q95: number; q99: number };
  clusterMassNullQ95: number | null;
}

export interface LayerAnalysis {
  clusterParams?: ClusterParams;
  moran?: Moran;
  smoothness?: Smoothness;
  reliability?: Reliability;
  permutation?: PermutationSummary;
}

export type Nums = (number | null)[];

export interface LayerResult {
  contrast: string;
  layer: string;
  units: number;
  rows: number;
  cols: number;
  nA: number;
  nB: number;
  cellOfUnit: number[];
  t: Nums;
  df: Nums;
  p: Nums;
  log10p: Nums;
  q: Nums;
  d: Nums;
  g: Nums;
  meanA: Nums;
  meanB: Nums;
  varA: Nums;
  varB: Nums;
  summary: LayerSummary;
  analysis: LayerAnalysis;
  clusters: Cluster[];
  clusterLabel: number[] | null;
  pFWE: Nums | null;
  tfce: Nums | null;
}

export interface Comparison {
  id: string;
  maps: { contrast: string; layer: string; stat: string; rows: number; cols: number; label: string | null }[];
  pearson: (number | null)[][];
  ssim: (number | null)[][];
}

export interface Mask {
  id: string;
  name: string;
  modelId: string;
  kind: string;
  nUnits: number;
  layers: { layer: string; nUnits: number; units: number[] }[];
}

export interface StimulusRef {
  idx: number;
  condition: string;
  setId: string;
  label: string | null;
}

export interface ControlTest {
  n: number;
  values: number[];
  mean: number | null;
  sd: number | null;
  z: number | null;
  p: number | null;
}

export type Measures = Record<string, number | null>;

export interface LesionSetSummary {
  set: number;
  name: string;
  intact: Measures;
  lesion: Measures;
  delta: Measures;
  random: Record<string, ControlTest>;
  spatial: Record<string, ControlTest>;
}

export type Dose = { percent: number } | { count: number } | null;

export interface LesionDose {
  index: number;
  dose: Dose;
  sets: LesionSetSummary[];
  specificity: { a: number; b: number; measure: string; delta: number | null; random: ControlTest; spatial: ControlTest } | null;
}

export interface Lesion {
  id: string;
  state: JobState;
  label: string;
  model: string;
  progress: { done: number; total: number; fraction: number };
  error: string | null;
  configurations: number;
  doses: { index: number; dose: Dose; units: number; unitsPerLayer: Record<string, number>; controls: { random: number; spatial: number } }[];
  results: {
    output: { name: string; kind: 'lm' | 'classifier' };
    primary: string;
    measures: string[];
    sets: { index: number; id: string; name: string; items: number; labelled: number }[];
    doses: LesionDose[];
  } | null;
}
