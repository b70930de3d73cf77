/**
 * Reference max-statistic permutation test (pure JS): shuffle the condition labels (group sizes kept),
 * recompute every unit's t, keep max |t| over units (and optionally the largest cluster mass and size on
 * the sheet) per permutation.
 *
 *   p_FWE(unit) = (1 + #{perm: max|t|_perm ≥ |t_obs(unit)|}) / (1 + nPerm)
 *
 * The observed labelling is not one of the nPerm permutations (it is the "+1"). Random permutations that
 * happen to equal the observed labelling are kept (as usual for Monte-Carlo permutation tests).
 *
 * Kernel: per permutation only the sums Σx and Σx² over the rows of the smaller group are accumulated (the
 * other group follows from the totals), over blocks of units × batches of permutations, with all buffers
 * allocated up front. Values are shifted per unit by the unit's mean over all stimuli before squaring (the
 * "shifted data" form of the sum-of-squares variance), so the cancellation in M2 = Σx² − (Σx)²/n is only
 * relative to the between-group difference, and an M2 below 64·ε·Σx² (numerically indistinguishable from
 * 0, e.g. a unit constant over all stimuli) is taken as 0, giving t = 0 like {@link tTest}. Rows are always
 * summed in ascending order, so two equal labellings give bit-identical t. The observed t is computed by the
 * same kernel; it agrees with tTest (Welford) to ~1e-12 relative on ordinary data.
 *
 * A faster engine (matrix products in ONNX Runtime) can implement the same interface and reproduce the same
 * permutations with {@link LabelPermuter}.
 */
import { ClusterScratch, findClusters, maxClusterStats, type Cluster, type ClusterOptions, type ClusterScale, type Connectivity, type MaxClusterStats } from './clusters.ts';
import { Rng } from './rng.ts';
import { twoSidedP } from './tdist.ts';
import type { TestKind } from './ttest.ts';

export interface PermutationClusterOptions {
  /** Sheet size. */
  rows: number;
  cols: number;
  /** Row-major cell of each unit (distinct). Default: unit i → cell i (needs rows·cols = units). Cells without a unit are NaN. */
  cellOfUnit?: Int32Array;
  /** Cluster-forming threshold on the given scale ('abs-t': |t| ≥ threshold; 'p': two-sided p ≤ threshold). */
  threshold: number;
  /** Default 'abs-t'. 'p' costs one t-CDF per unit per permutation. */
  scale?: ClusterScale;
  connectivity: Connectivity;
  minSize?: number;
}

export interface PermutationOptions {
  /** Number of random permutations (the observed labelling is not counted). */
  nPerm: number;
  seed: number;
  /** Default 'welch'. */
  test?: TestKind;
  /** Also build cluster-level nulls (max cluster mass and size per permutation). */
  cluster?: PermutationClusterOptions;
  /** Units per block of the kernel. Default 512. */
  blockUnits?: number;
  /** Permutations per batch. Default 16. */
  batch?: number;
}

export interface PermutationCluster extends Cluster {
  /** (1 + #{null max mass ≥ mass}) / (1 + nPerm). */
  pMass: number;
  /** (1 + #{null max size ≥ size}) / (1 + nPerm). */
  pSize: number;
}

export interface PermutationResult {
  /** Observed t per unit (A − B). */
  tObs: Float64Array;
  /** max over units of |t| for each permutation (units with NaN t are skipped). */
  maxNull: Float64Array;
  /** Per-unit family-wise p. NaN where tObs is NaN. */
  pFWE: Float64Array;
  nPerm: number;
  seed: number;
  test: TestKind;
  nA: number;
  nB: number;
  cluster?: {
    /** Largest cluster mass (Σ|t|) per permutation, both signs (0 when none). */
    massNull: Float64Array;
    /** Largest cluster size per permutation, both signs (0 when none). */
    sizeNull: Float64Array;
    /** Observed clusters (see findClusters) with their cluster-level FWE p-values. */
    clusters: PermutationCluster[];
    /** Observed cluster label per cell. */
    labels: Int32Array;
  };
}

/**
 * The permutation stream of a test: a seeded in-place Fisher–Yates shuffle of a copy of the labels, one
 * shuffle per permutation, continuing from the previous state. Same labels and seed → same sequence.
 */
export class LabelPermuter {
  private readonly work: Uint8Array;
  private readonly rng: Rng;
  constructor(labels: Uint8Array, seed: number) {
    this.work = Uint8Array.from(labels);
    this.rng = new Rng(seed);
  }
  /** The next permuted labelling (a view that the next call overwrites, unless out is given). */
  next(out?: Uint8Array): Uint8Array {
    this.rng.shuffle(this.work);
    if (out) {
      out.set(this.work);
      return out;
    }
    return this.work;
  }
}

/** Rows whose label is g, ascending, into out[offset …]. */
function collectRows(labels: Uint8Array, g: number, out: Int32Array, offset: number): void {
  let k = offset;
  for (let r = 0; r < labels.length; r++) if (labels[r] === g) out[k++] = r;
}

export function permutationTest(matrix: Float32Array, rows: number, units: number, labels: Uint8Array, opts: PermutationOptions): PermutationResult {
  // ---- validation
  if (!Number.isInteger(rows) || !Number.isInteger(units) || rows < 1 || units < 1) throw new Error(`permutationTest: bad shape ${rows}×${units}`);
  if (matrix.length !== rows * units) throw new Error(`permutationTest: matrix has ${matrix.length} values, expected ${rows}×${units}`);
  if (labels.length !== rows) throw new Error(`permutationTest: ${labels.length} labels for ${rows} rows`);
  let nA = 0;
  for (let r = 0; r < rows; r++) {
    if (labels[r] > 1) throw new Error(`permutationTest: labels must be 1 (A) or 0 (B); row ${r} has ${labels[r]}`);
    nA += labels[r];
  }
  const nB = rows - nA;
  if (nA < 2 || nB < 2) throw new Error(`permutationTest: each condition needs at least 2 stimuli (got n_A = ${nA}, n_B = ${nB})`);
  const nPerm = opts.nPerm;
  if (!Number.isInteger(nPerm) || nPerm < 1) throw new Error(`permutationTest: nPerm must be a positive integer (got ${nPerm})`);
  const test = opts.test ?? 'welch';
  if (test !== 'welch' && test !== 'student') throw new Error(`permutationTest: unknown test '${String(test)}'`);
  const blockUnits = Math.max(1, Math.min(units, opts.blockUnits ?? 512));
  const batch = Math.max(1, Math.min(nPerm, opts.batch ?? 16));

  // ---- cluster setup
  const co = opts.cluster;
  let cellOfUnit: Int32Array | null = null;
  let clusterOpts: ClusterOptions | null = null;
  let map: Float64Array | null = null;
  let pMap: Float64Array | null = null;
  let scratch: ClusterScratch | null = null;
  if (co) {
    const cells = co.rows * co.cols;
    if (!Number.isInteger(co.rows) || !Number.isInteger(co.cols) || co.rows < 1 || co.cols < 1) throw new Error(`permutationTest: bad sheet ${co.rows}×${co.cols}`);
    if (co.cellOfUnit) {
      if (co.cellOfUnit.length !== units) throw new Error(`permutationTest: cellOfUnit has ${co.cellOfUnit.length} entries for ${units} units`);
      const used = new Uint8Array(cells);
      for (let u = 0; u < units; u++) {
        const c = co.cellOfUnit[u];
        if (!(c >= 0 && c < cells)) throw new Error(`permutationTest: unit ${u} maps to cell ${c}, outside the ${co.rows}×${co.cols} sheet`);
        if (used[c]) throw new Error(`permutationTest: two units map to cell ${c}`);
        used[c] = 1;
      }
      cellOfUnit = co.cellOfUnit;
    } else {
      if (cells !== units) throw new Error(`permutationTest: a ${co.rows}×${co.cols} sheet without cellOfUnit needs ${cells} units (got ${units})`);
      cellOfUnit = new Int32Array(units);
      for (let u = 0; u < units; u++) cellOfUnit[u] = u;
    }
    map = new Float64Array(cells).fill(NaN);
    const scale = co.scale ?? 'abs-t';
    if (scale === 'p') pMap = new Float64Array(cells).fill(NaN);
    clusterOpts = { threshold: co.threshold, scale, connectivity: co.connectivity, minSize: co.minSize, pMap: pMap ?? undefined };
    scratch = new ClusterScratch(cells);
  }
  const needDf = pMap !== null;

  // ---- per-unit shift (the unit's mean over all stimuli) and totals of the shifted values
  const shift = new Float64Array(units);
  for (let r = 0; r < rows; r++) {
    const base = r * units;
    for (let u = 0; u < units; u++) shift[u] += matrix[base + u];
  }
  for (let u = 0; u < units; u++) shift[u] /= rows;
  const totS = new Float64Array(units);
  const totQ = new Float64Array(units);
  for (let r = 0; r < rows; r++) {
    const base = r * units;
    for (let u = 0; u < units; u++) {
      const x = matrix[base + u] - shift[u];
      totS[u] += x;
      totQ[u] += x * x;
    }
  }

  // Accumulate the smaller group (g); the other follows from the totals.
  const g = nA <= nB ? 1 : 0;
  const nG = g === 1 ? nA : nB;
  const nO = rows - nG;
  const gIsA = g === 1;
  const welch = test === 'welch';
  const cA = 1 / ((nA - 1) * nA);
  const cB = 1 / ((nB - 1) * nB);
  const cP = (1 / nA + 1 / nB) / (nA + nB - 2);
  const dfPooled = nA + nB - 2;
  const tiny = 64 * Number.EPSILON;

  const groupRows = new Int32Array(batch * nG);
  const tBatch = new Float64Array(batch * units);
  const dfBatch = needDf ? new Float64Array(batch * units) : null;
  const accS = new Float64Array(blockUnits);
  const accQ = new Float64Array(blockUnits);

  /** t (and df) of the bs labellings in groupRows into tBatch (and dfBatch). */
  const kernel = (bs: number): void => {
    for (let u0 = 0; u0 < units; u0 += blockUnits) {
      const len = Math.min(blockUnits, units - u0);
      for (let p = 0; p < bs; p++) {
        accS.fill(0, 0, len);
        accQ.fill(0, 0, len);
        const rOff = p * nG;
        for (let q = 0; q < nG; q++) {
          const base = groupRows[rOff + q] * units + u0;
          for (let k = 0; k < len; k++) {
            const x = matrix[base + k] - shift[u0 + k];
            accS[k] += x;
            accQ[k] += x * x;
          }
        }
        const tOff = p * units + u0;
        for (let k = 0; k < len; k++) {
          const u = u0 + k;
          const sG = accS[k];
          const qG = accQ[k];
          const sO = totS[u] - sG;
          const qO = totQ[u] - qG;
          const mG = sG / nG;
          const mO = sO / nO;
          let m2G = qG - sG * mG;
          let m2O = qO - sO * mO;
          if (m2G <= tiny * qG) m2G = 0; // numerically indistinguishable from 0 (or negative by rounding)
          if (m2O <= tiny * qO) m2O = 0;
          const mA = gIsA ? mG : mO;
          const mB = gIsA ? mO : mG;
          const m2A = gIsA ? m2G : m2O;
          const m2B = gIsA ? m2O : m2G;
          let t: number;
          let df = dfPooled;
          if (m2A === 0 && m2B === 0) {
            t = 0; // zero variance in both groups (as tTest); NaN data never gets here (NaN ≤ x is false)
          } else if (welch) {
            const sa = m2A * cA;
            const sb = m2B * cB;
            const se2 = sa + sb;
            t = (mA - mB) / Math.sqrt(se2);
            if (needDf) df = (se2 * se2) / ((sa * sa) / (nA - 1) + (sb * sb) / (nB - 1));
          } else {
            t = (mA - mB) / Math.sqrt((m2A + m2B) * cP);
          }
          tBatch[tOff + k] = t;
          if (dfBatch !== null) dfBatch[tOff + k] = df;
        }
      }
    }
  };

  const clusterOut: MaxClusterStats = { maxMass: 0, maxSize: 0 };
  /** Fill map (and pMap) from row p of tBatch / dfBatch. */
  const fillMaps = (p: number): void => {
    const off = p * units;
    for (let u = 0; u < units; u++) {
      const c = (cellOfUnit as Int32Array)[u];
      const t = tBatch[off + u];
      (map as Float64Array)[c] = t;
      if (pMap !== null) pMap[c] = twoSidedP(t, (dfBatch as Float64Array)[off + u]);
    }
  };

  // ---- observed
  collectRows(labels, g, groupRows, 0);
  kernel(1);
  const tObs = tBatch.slice(0, units);
  let observedClusters: { clusters: Cluster[]; labels: Int32Array } | null = null;
  if (co) {
    fillMaps(0);
    observedClusters = findClusters(map as Float64Array, co.rows, co.cols, clusterOpts as ClusterOptions);
  }

  // ---- permutations
  const maxNull = new Float64Array(nPerm);
  const massNull = co ? new Float64Array(nPerm) : null;
  const sizeNull = co ? new Float64Array(nPerm) : null;
  const permuter = new LabelPermuter(labels, opts.seed);
  for (let done = 0; done < nPerm; done += batch) {
    const bs = Math.min(batch, nPerm - done);
    for (let p = 0; p < bs; p++) collectRows(permuter.next(), g, groupRows, p * nG);
    kernel(bs);
    for (let p = 0; p < bs; p++) {
      let m = 0;
      const off = p * units;
      for (let u = 0; u < units; u++) {
        const a = Math.abs(tBatch[off + u]);
        if (a > m) m = a;
      }
      maxNull[done + p] = m;
      if (co) {
        fillMaps(p);
        maxClusterStats(map as Float64Array, co.rows, co.cols, clusterOpts as ClusterOptions, scratch as ClusterScratch, clusterOut);
        (massNull as Float64Array)[done + p] = clusterOut.maxMass;
        (sizeNull as Float64Array)[done + p] = clusterOut.maxSize;
      }
    }
  }

  // ---- p-values
  const pFWE = new Float64Array(units);
  const sortedMax = maxNull.slice().sort();
  for (let u = 0; u < units; u++) {
    const t = tObs[u];
    pFWE[u] = Number.isNaN(t) ? NaN : (1 + countAtLeast(sortedMax, Math.abs(t))) / (1 + nPerm);
  }
  const result: PermutationResult = { tObs, maxNull, pFWE, nPerm, seed: opts.seed, test, nA, nB };
  if (co && observedClusters && massNull && sizeNull) {
    const sm = massNull.slice().sort();
    const ss = sizeNull.slice().sort();
    result.cluster = {
      massNull,
      sizeNull,
      clusters: observedClusters.clusters.map((c) => ({
        ...c,
        pMass: (1 + countAtLeast(sm, c.mass)) / (1 + nPerm),
        pSize: (1 + countAtLeast(ss, c.size)) / (1 + nPerm),
      })),
      labels: observedClusters.labels,
    };
  }
  return result;
}

/** #{v in sorted (ascending) : v ≥ x}. */
export function countAtLeast(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return sorted.length - lo;
}
