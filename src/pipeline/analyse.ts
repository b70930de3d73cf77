/**
 * Inference beyond the t-map, per layer: regions on the sheet (clusters, optional TFCE), topography
 * (Moran's I with a spatial permutation null, the smoothness curve), split-half reliability and
 * permutation family-wise error. Clusters and topography are cheap and always computed; reliability
 * and permutations need the stimuli × units matrix and are opt-in.
 */
import type { SheetLayout } from '../sheet/layout.ts';
import { findClusters, type ClusterScale, type Connectivity } from '../stats/clusters.ts';
import { moranPermutation, type Contiguity } from '../stats/moran.ts';
import { permutationTest, type PermutationResult } from '../stats/permutation.ts';
import { permutationTestOrt } from './permutation-engine.ts';
import { splitHalfReliability } from '../stats/reliability.ts';
import { smoothnessCurve } from '../stats/smoothness.ts';
import { tfce } from '../stats/tfce.ts';
import type { TestKind } from '../stats/ttest.ts';

export interface AnalysisOptions {
  seed: number;
  clusters: { threshold: number; scale: ClusterScale; connectivity: Connectivity; minSize: number; tfce: boolean };
  topography: { permutations: number; contiguity: Contiguity; bins: number };
  permutations: { n: number } | null;
  reliability: { splits: number; threshold: number } | null;
}

export const DEFAULT_ANALYSIS: AnalysisOptions = {
  seed: 1,
  clusters: { threshold: 0.001, scale: 'p', connectivity: 8, minSize: 1, tfce: false },
  topography: { permutations: 999, contiguity: 'queen', bins: 20 },
  permutations: null,
  reliability: null,
};

export interface ClusterRow {
  id: number;
  sign: 1 | -1;
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

export interface LayerAnalysis {
  clusters: ClusterRow[];
  /** Per unit: 0 = in no cluster, else the cluster id. */
  clusterLabels: Int32Array;
  tfce: Float64Array | null;
  pFWE: Float64Array | null;
  /** JSON stored with the layer. */
  summary: Record<string, unknown>;
}

/** The pooled stimuli × units matrix of one layer, with each row's condition (1 = A). */
export interface LayerMatrix {
  data: Float32Array;
  rows: number;
  labels: Uint8Array;
}

/** A permutation engine with the interface of the reference `permutationTest` (JS or ONNX Runtime). */
export type PermutationEngine = (
  matrix: Float32Array,
  rows: number,
  units: number,
  labels: Uint8Array,
  opts: Parameters<typeof permutationTest>[4],
) => Promise<PermutationResult>;

export const jsPermutationEngine: PermutationEngine = async (m, r, u, l, o) => permutationTest(m, r, u, l, o);

/** The fast engine: label-matrix products in ONNX Runtime on a worker thread (same permutations as the reference). */
export function ortPermutationEngine(intraOpThreads: number): PermutationEngine {
  return (m, r, u, l, o) => permutationTestOrt(m, r, u, l, { ...o, intraOpThreads });
}

/** The f-quantile of an ascending array (lower order statistic). */
function quantile(sorted: Float64Array, f: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))];
}

function finite(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

export async function analyseLayer(
  layer: { t: Float64Array; p: Float64Array; units: number },
  sheet: SheetLayout,
  test: TestKind,
  opts: AnalysisOptions,
  matrix: LayerMatrix | null,
  engine: PermutationEngine = jsPermutationEngine,
): Promise<LayerAnalysis> {
  const { rows, cols, cellOfUnit, unitOfCell } = sheet;
  const cells = rows * cols;
  const tSheet = new Float64Array(cells).fill(NaN);
  const pSheet = new Float64Array(cells).fill(NaN);
  for (let u = 0; u < layer.units; u++) {
    tSheet[cellOfUnit[u]] = layer.t[u];
    pSheet[cellOfUnit[u]] = layer.p[u];
  }
  const c = opts.clusters;
  const found = findClusters(tSheet, rows, cols, { threshold: c.threshold, scale: c.scale, pMap: pSheet, connectivity: c.connectivity, minSize: c.minSize });
  const clusterLabels = new Int32Array(layer.units);
  for (let u = 0; u < layer.units; u++) clusterLabels[u] = found.labels[cellOfUnit[u]];
  const clusters: ClusterRow[] = found.clusters.map((k) => ({
    id: k.id,
    sign: k.sign,
    size: k.size,
    mass: k.mass,
    peakT: k.peakT,
    peakUnit: unitOfCell[k.peakIndex],
    peakRow: k.peakRow,
    peakCol: k.peakCol,
    centroidRow: k.centroidRow,
    centroidCol: k.centroidCol,
    pMass: null,
    pSize: null,
  }));

  let tfceUnits: Float64Array | null = null;
  if (c.tfce) {
    const tf = tfce(tSheet, rows, cols, { connectivity: c.connectivity });
    tfceUnits = new Float64Array(layer.units);
    for (let u = 0; u < layer.units; u++) tfceUnits[u] = tf[cellOfUnit[u]];
  }

  const topo = opts.topography;
  const moran = moranPermutation(tSheet, rows, cols, { contiguity: topo.contiguity, permutations: topo.permutations, seed: opts.seed });
  const smooth = smoothnessCurve(layer.t, sheet.x, sheet.y, { bins: topo.bins, seed: opts.seed, chanceShuffles: 1 });

  const summary: Record<string, unknown> = {
    seed: opts.seed,
    clusterParams: { ...c },
    clusterCount: { positive: clusters.filter((k) => k.sign > 0).length, negative: clusters.filter((k) => k.sign < 0).length },
    moran: {
      statistic: 't',
      contiguity: topo.contiguity,
      smoothed: false,
      I: finite(moran.I),
      expected: finite(moran.expected),
      p: finite(moran.p),
      zScore: finite(moran.zScore),
      nullMean: finite(moran.nullMean),
      nullSd: finite(moran.nullSd),
      permutations: moran.permutations,
      n: moran.n,
    },
    smoothness: {
      statistic: 't',
      distance: 'sheet cells (Euclidean)',
      binCenters: Array.from(smooth.binCenters),
      meanAbsDiff: Array.from(smooth.meanAbsDiff, finite),
      chanceMean: Array.from(smooth.chanceMean, finite),
      counts: Array.from(smooth.counts),
      overallMeanAbsDiff: finite(smooth.overallMeanAbsDiff),
      unitsUsed: smooth.unitsUsed,
      sampled: smooth.sampled,
    },
  };

  let pFWE: Float64Array | null = null;
  if (matrix && opts.permutations) {
    const res = await engine(matrix.data, matrix.rows, layer.units, matrix.labels, {
      nPerm: opts.permutations.n,
      seed: opts.seed,
      test,
      cluster:
        c.scale === 'abs-t'
          ? { rows, cols, cellOfUnit, threshold: c.threshold, scale: 'abs-t', connectivity: c.connectivity, minSize: c.minSize }
          : { rows, cols, cellOfUnit, threshold: c.threshold, scale: 'p', connectivity: c.connectivity, minSize: c.minSize },
    });
    pFWE = res.pFWE;
    const sorted = Float64Array.from(res.maxNull).sort();
    const q = (f: number) => quantile(sorted, f);
    let sigFWE = 0;
    for (let u = 0; u < layer.units; u++) if (res.pFWE[u] <= 0.05) sigFWE++;
    summary.permutation = {
      nPerm: res.nPerm,
      seed: res.seed,
      test: res.test,
      nA: res.nA,
      nB: res.nB,
      maxAbsTNull: { q50: q(0.5), q95: q(0.95), q99: q(0.99) },
      unitsFWE05: sigFWE,
      clusterMassNullQ95: res.cluster ? quantile(Float64Array.from(res.cluster.massNull).sort(), 0.95) : null,
    };
    // The permutation engine's observed clusters are the same components (same threshold, same map up to
    // float error); attach their FWE p by matching peak cells.
    if (res.cluster) {
      for (const k of clusters) {
        const m = res.cluster.clusters.find((x) => x.peakIndex === cellOfUnit[k.peakUnit] && x.sign === k.sign);
        if (m) {
          k.pMass = m.pMass;
          k.pSize = m.pSize;
        }
      }
    }
  }

  if (matrix && opts.reliability) {
    const rowsA: number[] = [];
    const rowsB: number[] = [];
    for (let r = 0; r < matrix.rows; r++) (matrix.labels[r] ? rowsA : rowsB).push(r);
    const rel = splitHalfReliability(matrix.data, matrix.rows, layer.units, Int32Array.from(rowsA), Int32Array.from(rowsB), {
      splits: opts.reliability.splits,
      seed: opts.seed,
      threshold: opts.reliability.threshold,
      test,
    });
    summary.reliability = {
      splits: opts.reliability.splits,
      seed: opts.seed,
      threshold: opts.reliability.threshold,
      thresholdScale: 'abs-t',
      meanR: finite(rel.meanR),
      meanSpearmanBrown: finite(rel.meanSpearmanBrown),
      spearmanBrownOfMeanR: finite(rel.spearmanBrownOfMeanR),
      meanDice: finite(rel.meanDice),
      r: Array.from(rel.r, finite),
      spearmanBrown: Array.from(rel.spearmanBrown, finite),
      dice: Array.from(rel.dice, finite),
      halfSizes: rel.halfSizes,
    };
  }
  return { clusters, clusterLabels, tfce: tfceUnits, pFWE, summary };
}
