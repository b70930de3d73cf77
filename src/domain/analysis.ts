/**
 * Per-layer analysis beyond the t-map: its options (request and normalised form), defaults, the
 * cluster table row, and the stored summary (Moran's I, smoothness, permutations, reliability).
 */
import { Type, type Static } from '@sinclair/typebox';
import { ThresholdScaleSchema } from './stats.ts';
import { Choice, Nullable } from './choice.ts';

const Num = Nullable(Type.Number());

export const AnalysisRequestSchema = Type.Object(
  {
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295, default: 1, description: 'Seed of every random step (spatial and label permutations, splits).' })),
    clusters: Type.Optional(
      Type.Object(
        {
          scale: Type.Optional(
            Choice(['p', 'abs-t'], {
              default: 'p',
              description: "Scale of the cluster-forming threshold: uncorrected two-sided p ('p', cells with p ≤ threshold) or |t| ('abs-t', cells with |t| ≥ threshold).",
            }),
          ),
          threshold: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1e6, description: "Default 0.001 on the 'p' scale, 3 on the 'abs-t' scale." })),
          connectivity: Type.Optional(Choice([4, 8], { default: 8 })),
          minSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1e7, default: 1, description: 'Smaller clusters are dropped.' })),
          tfce: Type.Optional(Type.Boolean({ default: false, description: 'Also compute threshold-free cluster enhancement of the t-map (E = 0.5, H = 2).' })),
        },
        { additionalProperties: false },
      ),
    ),
    topography: Type.Optional(
      Type.Object(
        {
          permutations: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: 999, description: "Spatial permutations for Moran's I p-value." })),
          contiguity: Type.Optional(Choice(['queen', 'rook'], { default: 'queen' })),
          bins: Type.Optional(Type.Integer({ minimum: 2, maximum: 200, default: 20, description: 'Distance bins of the smoothness curve.' })),
        },
        { additionalProperties: false },
      ),
    ),
    permutations: Type.Optional(
      Type.Union([
        Type.Object(
          { n: Type.Integer({ minimum: 1, maximum: 100000, description: 'Label permutations (group sizes kept) for max-|t| FWE p per unit and cluster-level FWE p.' }) },
          { additionalProperties: false },
        ),
        Type.Null(),
      ]),
    ),
    reliability: Type.Optional(
      Type.Union([
        Type.Object(
          {
            splits: Type.Integer({ minimum: 1, maximum: 1000, description: 'Random split-halves of each condition.' }),
            threshold: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1e6, description: '|t| threshold of the masks compared by Dice. Default 3.' })),
          },
          { additionalProperties: false },
        ),
        Type.Null(),
      ]),
    ),
  },
  {
    additionalProperties: false,
    description: 'Regions, topography, permutation inference and reliability. Clusters and topography always run (with these defaults); permutations and reliability are opt-in.',
  },
);
export type AnalysisRequest = Static<typeof AnalysisRequestSchema>;

export const ClusterParamsSchema = Type.Object({
  threshold: Type.Number(),
  scale: ThresholdScaleSchema,
  connectivity: Choice([4, 8]),
  minSize: Type.Integer(),
  tfce: Type.Boolean(),
});

/** Analysis options with every default filled in (what a job stores and runs). */
export const AnalysisOptionsSchema = Type.Object({
  seed: Type.Integer(),
  clusters: ClusterParamsSchema,
  topography: Type.Object({ permutations: Type.Integer(), contiguity: Choice(['queen', 'rook']), bins: Type.Integer() }),
  permutations: Type.Union([Type.Object({ n: Type.Integer() }), Type.Null()]),
  reliability: Type.Union([Type.Object({ splits: Type.Integer(), threshold: Type.Number() }), Type.Null()]),
});
export type AnalysisOptions = Static<typeof AnalysisOptionsSchema>;

export const ClusterRowSchema = Type.Object({
  id: Type.Integer({ description: '1-based, by decreasing mass.' }),
  sign: Choice([1, -1]),
  size: Type.Integer(),
  mass: Type.Number({ description: 'Σ|t| over the cluster.' }),
  peakT: Type.Number(),
  peakUnit: Type.Integer(),
  peakRow: Type.Integer(),
  peakCol: Type.Integer(),
  centroidRow: Type.Number(),
  centroidCol: Type.Number(),
  pMass: Nullable(Type.Number(), { description: 'Cluster-level FWE p from the max-mass null (when permutations ran).' }),
  pSize: Nullable(Type.Number(), { description: 'Cluster-level FWE p from the max-size null.' }),
});
export type ClusterRow = Static<typeof ClusterRowSchema>;

export const MoranSummarySchema = Type.Object({
  statistic: Type.Literal('t'),
  contiguity: Choice(['queen', 'rook']),
  smoothed: Type.Literal(false),
  I: Num,
  expected: Num,
  p: Num,
  zScore: Num,
  nullMean: Num,
  nullSd: Num,
  permutations: Type.Integer(),
  n: Type.Integer(),
});

export const SmoothnessSummarySchema = Type.Object({
  statistic: Type.Literal('t'),
  distance: Type.String(),
  binCenters: Type.Array(Type.Number()),
  meanAbsDiff: Type.Array(Num),
  chanceMean: Type.Array(Num),
  counts: Type.Array(Type.Integer()),
  overallMeanAbsDiff: Num,
  unitsUsed: Type.Integer(),
  sampled: Type.Boolean(),
});

export const PermutationSummarySchema = Type.Object({
  nPerm: Type.Integer(),
  seed: Type.Integer(),
  test: Type.String(),
  nA: Type.Integer(),
  nB: Type.Integer(),
  maxAbsTNull: Type.Object({ q50: Type.Number(), q95: Type.Number(), q99: Type.Number() }),
  unitsFWE05: Type.Integer({ description: 'Units with p(FWE) ≤ 0.05.' }),
  clusterMassNullQ95: Num,
});

export const ReliabilitySummarySchema = Type.Object({
  splits: Type.Integer(),
  seed: Type.Integer(),
  threshold: Type.Number(),
  thresholdScale: Type.Literal('abs-t'),
  meanR: Num,
  meanSpearmanBrown: Num,
  spearmanBrownOfMeanR: Num,
  meanDice: Num,
  r: Type.Array(Num),
  spearmanBrown: Type.Array(Num),
  dice: Type.Array(Num),
  halfSizes: Type.Array(Type.Integer(), { description: 'Sizes of the halves: A first half, A second half, B first half, B second half.' }),
});

export const AnalysisSummarySchema = Type.Object(
  {
    seed: Type.Integer(),
    clusterParams: ClusterParamsSchema,
    clusterCount: Type.Object({ positive: Type.Integer(), negative: Type.Integer() }),
    moran: MoranSummarySchema,
    smoothness: SmoothnessSummarySchema,
    permutation: Type.Optional(PermutationSummarySchema),
    reliability: Type.Optional(ReliabilitySummarySchema),
  },
  { description: "Moran's I, smoothness, reliability and permutation summaries, cluster parameters." },
);
export type AnalysisSummary = Static<typeof AnalysisSummarySchema>;

/** What the analysis of one layer produces. */
export interface LayerAnalysis {
  clusters: ClusterRow[];
  /** Per unit: 0 = in no cluster, else the cluster id. */
  clusterLabels: Int32Array;
  tfce: Float64Array | null;
  pFWE: Float64Array | null;
  summary: AnalysisSummary;
}
