/**
 * Inference beyond the t-map, per layer: regions on the sheet (clusters, optional TFCE), topography
 * (Moran's I with a spatial permutation null, the smoothness curve), split-half reliability and
 * permutation family-wise error. Clusters and topography are cheap and always computed; reliability
 * and permutations need the stimuli × units matrix and are opt-in.
 */
import type { AnalysisOptions, AnalysisSummary, ClusterRow, LayerAnalysis } from '../domain/analysis.ts';
import type { SheetLayout } from '../domain/sheet.ts';
import { toSheet } from '../sheet/layout.ts';
import { findClusters } from '../stats/clusters.ts';
import { moranPermutation, shuffleTable, type ShuffleTable } from '../stats/moran.ts';
import { permutationTest, type PermutationResult } from '../stats/permutation.ts';
import { permutationTestOrt } from './permutation-engine.ts';
import { splitHalfReliability } from '../stats/reliability.ts';
import { smoothnessCurve } from '../stats/smoothness.ts';
import { tfce } from '../stats/tfce.ts';
import { quantileSorted } from 'simple-statistics';
import type { TestKind } from '../stats/ttest.ts';

/** The pooled stimuli × units matrix of one layer, with each row's condition (1 = A). */
export interface LayerMatrix {
  data: Float32Array;
  rows: number;
  labels: Uint8Array;
}

/** The rows of a job's matrix that belong to one contrast, labelled 1 for A (no copy when all do). */
export function contrastMatrix(m: { data: Float32Array; rows: number; sets: Int32Array }, units: number, a: number[], b: number[]): LayerMatrix {
  const inA = new Set(a);
  const inB = new Set(b);
  let n = 0;
  for (let r = 0; r < m.rows; r++) if (inA.has(m.sets[r]) || inB.has(m.sets[r])) n++;
  if (n === m.rows) {
    const labels = new Uint8Array(m.rows);
    for (let r = 0; r < m.rows; r++) labels[r] = inA.has(m.sets[r]) ? 1 : 0;
    return { data: m.data, rows: m.rows, labels };
  }
  const data = new Float32Array(n * units);
  const labels = new Uint8Array(n);
  let k = 0;
  for (let r = 0; r < m.rows; r++) {
    if (!inA.has(m.sets[r]) && !inB.has(m.sets[r])) continue;
    data.set(m.data.subarray(r * units, (r + 1) * units), k * units);
    labels[k++] = inA.has(m.sets[r]) ? 1 : 0;
  }
  return { data, rows: n, labels };
}

/** Progress and cancellation of one layer's analysis. */
export interface AnalysisHooks {
  signal?: AbortSignal;
  /** The stage running ('topography', 'permutations', 'reliability') and its progress. */
  onProgress?: (stage: string, done: number, total: number) => void;
}

/** A permutation engine with the interface of the reference `permutationTest` (JS or ONNX Runtime). */
export type PermutationEngine = (
  matrix: Float32Array,
  rows: number,
  units: number,
  labels: Uint8Array,
  opts: Parameters<typeof permutationTest>[4],
  hooks: AnalysisHooks,
) => Promise<PermutationResult>;

export const jsPermutationEngine: PermutationEngine = async (m, r, u, l, o) => permutationTest(m, r, u, l, o);

/** The fast engine: label-matrix products in ONNX Runtime on a worker thread (same permutations as the reference). */
export function ortPermutationEngine(intraOpThreads: number): PermutationEngine {
  return (m, r, u, l, o, hooks) =>
    permutationTestOrt(m, r, u, l, { ...o, intraOpThreads, signal: hooks.signal, onProgress: (done, total) => hooks.onProgress?.('permutations', done, total) });
}

class AnalysisCancelled extends Error {
  constructor() {
    super('cancelled');
  }
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
  hooks: AnalysisHooks = {},
): Promise<LayerAnalysis> {
  const check = () => {
    if (hooks.signal?.aborted) throw new AnalysisCancelled();
  };
  const { rows, cols, cellOfUnit, unitOfCell } = sheet;
  const tSheet = toSheet(layer.t, sheet);
  const pSheet = toSheet(layer.p, sheet);
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
  check();
  hooks.onProgress?.('topography', 0, 1);
  const moran = moranPermutation(tSheet, rows, cols, { contiguity: topo.contiguity, permutations: topo.permutations, seed: opts.seed, table: (n) => tableFor(opts.seed, n, topo.permutations) });
  const smooth = smoothnessCurve(layer.t, sheet.x, sheet.y, { bins: topo.bins, seed: opts.seed, chanceShuffles: 1 });

  const summary: AnalysisSummary = {
    seed: opts.seed,
    clusterParams: { ...c },
    clusterCount: { positive: clusters.filter((k) => k.sign > 0).length, negative: clusters.filter((k) => k.sign < 0).length },
    moran: {
      statistic: 't' as const,
      contiguity: topo.contiguity,
      smoothed: false as const,
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
      statistic: 't' as const,
      distance: sheet.type === 'coordinates' ? 'layout coordinate units (Euclidean)' : 'sheet cells (Euclidean)',
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
  check();
  if (matrix && opts.permutations) {
    const res = await engine(matrix.data, matrix.rows, layer.units, matrix.labels, {
      nPerm: opts.permutations.n,
      seed: opts.seed,
      test,
      cluster:
        c.scale === 'abs-t'
          ? { rows, cols, cellOfUnit, threshold: c.threshold, scale: 'abs-t', connectivity: c.connectivity, minSize: c.minSize }
          : { rows, cols, cellOfUnit, threshold: c.threshold, scale: 'p', connectivity: c.connectivity, minSize: c.minSize },
    }, hooks);
    pFWE = res.pFWE;
    // Quantiles as numpy's default (linear interpolation between order statistics).
    const sorted = Array.from(res.maxNull).sort((x, y) => x - y);
    const q = (f: number) => quantileSorted(sorted, f);
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
      clusterMassNullQ95: res.cluster ? quantileSorted(Array.from(res.cluster.massNull).sort((x, y) => x - y), 0.95) : null,
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

  check();
  if (matrix && opts.reliability) {
    hooks.onProgress?.('reliability', 0, opts.reliability.splits);
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
      thresholdScale: 'abs-t' as const,
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

/** Shuffle tables up to this size are kept for the next layer (a 3,072-unit sheet with 999 permutations: 6 MB). */
const TABLE_MAX_BYTES = 32 << 20;
let lastTable: ShuffleTable | null = null;

/** The Moran null's arrangements for this seed, cell count and permutation count, shared by the layers this thread analyses. */
function tableFor(seed: number, n: number, permutations: number): ShuffleTable | undefined {
  if (n < 2) return undefined;
  if (lastTable && lastTable.seed === seed && lastTable.n === n && lastTable.permutations === permutations) return lastTable;
  if (n * permutations * (n <= 65536 ? 2 : 4) > TABLE_MAX_BYTES) return undefined;
  lastTable = shuffleTable(seed, n, permutations);
  return lastTable;
}
