/** Every default of a request in one place: routes, the CLI, the pipeline and the docs read these. */
import type { AnalysisOptions } from './analysis.ts';
import type { Correction, CorrectionScope, TestKind } from './stats.ts';

export const DEFAULT_ANALYSIS: AnalysisOptions = {
  seed: 1,
  clusters: { threshold: 0.001, scale: 'p', connectivity: 8, minSize: 1, tfce: false },
  topography: { permutations: 999, contiguity: 'queen', bins: 20 },
  permutations: null,
  reliability: null,
};

export const DEFAULTS = {
  test: 'welch' as TestKind,
  correction: 'bh' as Correction,
  correctionScope: 'layer' as CorrectionScope,
  alpha: 0.05,
  pooling: 'mean' as const,
  /** Cluster-forming threshold when only the scale is given. */
  clusterThreshold: { p: 0.001, 'abs-t': 3 },
  /** |t| threshold of the split-half Dice masks. */
  reliabilityThreshold: 3,
  analysis: DEFAULT_ANALYSIS,
  page: { limit: 50, offset: 0 },
};
