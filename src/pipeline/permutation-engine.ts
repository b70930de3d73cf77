/**
 * Fast max-statistic permutation test: the same options, permutations and result as the pure-JS
 * reference {@link permutationTest} (src/stats/permutation.ts), with the matrix work done by ONNX Runtime
 * in a worker thread.
 *
 * How:
 * - Each unit's column is centred by its mean over all stimuli (float64) and rounded to float32: X (this
 *   keeps the float32 sums of squares from cancelling). A unit constant over all stimuli gets an all-zero
 *   column (t = 0, as {@link tTest}); a unit with a non-finite value gets a zero column and t = NaN.
 * - One ONNX graph per analysis (built with {@link OnnxGraphBuilder}, constants as raw_data initializers
 *   written straight into the model buffer) holds X (and X², pre-scaled, when needed) and per-unit
 *   constants derived from the column totals S = Σx and Q = Σx²; its single input is the label matrix
 *   L [P, rows] (1 = condition A) of P labellings. MatMul gives Σ_A x = L·X (and Σ_A x² = L·X²) for the P
 *   labellings at once; elementwise ops give the Welch (or Student) t per unit, with t = 0 where both groups
 *   have (numerically) zero variance; ReduceMax of |t| over units gives the max-|t| null. See
 *   {@link buildPermutationGraph} for the algebra: Student, and Welch with nA = nB (where Welch's t equals
 *   Student's), need only the one MatMul, Welch with nA ≠ nB two.
 * - With cluster statistics t [P, units] is an output too; the largest cluster mass and size per
 *   labelling come from {@link maxClusterStats} (one {@link ClusterScratch}) in JS, on the worker thread.
 *   The 'p' scale is supported: Welch df per unit is another output, and the t CDF is evaluated only for
 *   units whose |t| lies where the df can decide (between the normal and the smallest-df critical values).
 * - The units are split into chunks (`unitChunk`), each with its own MatMul → … → ReduceMax chain, joined
 *   by Concat + ReduceMax; several ONNX models (sessions) are used when the constants exceed
 *   `maxModelBytes` (protobuf caps a model at 2 GiB).
 * - Permutations are drawn with {@link LabelPermuter}(labels, seed), exactly as the reference, so the same
 *   seed gives the same labellings in both engines. The observed t is computed by the same graph (the
 *   identity labelling is row 0 of the first block), so a permutation equal to the observed labelling gives
 *   bit-identical values and ties are counted consistently. p_FWE = (1 + #{null ≥ |t_obs|}) / (1 + nPerm);
 *   the identity is not one of the nPerm. Results do not depend on blockPerms, unitChunk or the thread
 *   count (MatMul sums each output in the same order).
 * - Everything runs in a worker thread (src/analysis/permutation-worker.ts, started through
 *   src/models/worker-boot.mjs), so the calling thread stays free; ONNX Runtime gets `intraOpThreads`
 *   threads (default: the machine's cores). The matrix reaches the worker through shared memory.
 *
 * Precision: sums are float32 (the reference sums in float64). On ordinary data t agrees with the
 * reference to ~1e-6 relative (tests assert 1e-4), so p_FWE is equal except where a null maximum lies
 * within that distance of |t_obs|. Within-group variances below {@link ZERO_VAR_TOL} of the unit's sum of
 * squares cannot be resolved in float32: where both groups are below it t = 0 (the reference's bound is
 * 64·ε of float64); this only matters for |t| above ≈ √(df / ZERO_VAR_TOL), i.e. in the hundreds to thousands.
 */
import os from 'node:os';
import { moduleUrl, startWorker } from '../inference/threads.ts';
import { OnnxGraphBuilder, int, ints } from '../onnx/build.ts';
import { ClusterScratch, findClusters, maxClusterStats, type Cluster, type ClusterOptions, type MaxClusterStats } from '../stats/clusters.ts';
import { countAtLeast, LabelPermuter, type PermutationClusterOptions, type PermutationOptions, type PermutationResult } from '../stats/permutation.ts';
import { twoSidedP, zFromP } from '../stats/tdist.ts';
import type { TestKind } from '../stats/ttest.ts';

export interface OrtPermutationOptions extends PermutationOptions {
  /** ONNX Runtime intra-op threads. Default: os.availableParallelism(). */
  intraOpThreads?: number;
  /** Labellings per session.run (the P of L [P, rows]). Default {@link DEFAULT_BLOCK_PERMS}. */
  blockPerms?: number;
  /** Units per chunk of the graph. Default {@link defaultUnitChunk}(blockPerms, units). */
  unitChunk?: number;
  /** Upper bound on the constant bytes (X, X²) of one ONNX model; more units are split over several sessions. Default 1.5 GiB (protobuf caps a model at 2 GiB). */
  maxModelBytes?: number;
  /** Called after each block with the number of labellings done (the observed one included) and the total (nPerm + 1). */
  onProgress?: (done: number, total: number) => void;
  /** Aborting terminates the worker; the promise then rejects. */
  signal?: AbortSignal;
  /**
   * Hand the matrix's ArrayBuffer to the worker instead of copying it (the caller's array is detached
   * afterwards). Only when the matrix spans its whole buffer. Default false.
   */
  transferMatrix?: boolean;
}

/**
 * Default labellings per run (P). Per run the MatMuls stream X (and X²) from memory once, whatever P is,
 * and do P·rows·units FMAs each; from P ≈ 64 on the streaming is hidden, and measured on the 36,864 ×
 * 1,000 case the time per permutation is flat from P = 128 to 512 (±10%). P = 128 keeps L at
 * 128 × rows floats (0.5 MB for 1,000 stimuli) and the t output (cluster statistics only) at
 * 128 × units float32 (19 MB for 36,864 units).
 */
export const DEFAULT_BLOCK_PERMS = 128;

/** Default cap on the constants of one model (see {@link OrtPermutationOptions.maxModelBytes}). */
export const DEFAULT_MAX_MODEL_BYTES = 1.5 * 2 ** 30;

/** Within-group variance below ZERO_VAR_TOL of the unit's total sum of squares (both groups) counts as zero: t = 0. */
export const ZERO_VAR_TOL = 1e-5;

/**
 * Units per chunk of the graph: ~2 MiB per [P, chunk] float32 intermediate, at least 1,024 units, chunks
 * of equal size. Measured (36,864 × 1,000, P = 128): chunks of 4,096–36,864 units run within ±10% of
 * each other, 512–2,048 are 10–40% slower (more, smaller MatMuls).
 */
export function defaultUnitChunk(blockPerms: number, units: number): number {
  const target = Math.max(1024, Math.floor((2 * 1024 * 1024) / (4 * Math.max(1, blockPerms))));
  const n = Math.max(1, Math.ceil(units / target));
  return Math.min(units, Math.ceil(units / n / 16) * 16);
}

// ------------------------------------------------------------------------------------------------ validation

interface Validated {
  nA: number;
  nB: number;
  test: TestKind;
  cellOfUnit: Int32Array | null;
}

function validate(matrix: Float32Array, rows: number, units: number, labels: Uint8Array, opts: OrtPermutationOptions): Validated {
  const fn = 'permutationTestOrt';
  if (!Number.isInteger(rows) || !Number.isInteger(units) || rows < 1 || units < 1) throw new Error(`${fn}: bad shape ${rows}×${units}`);
  if (!(matrix instanceof Float32Array)) throw new Error(`${fn}: matrix must be a Float32Array`);
  if (matrix.length !== rows * units) throw new Error(`${fn}: matrix has ${matrix.length} values, expected ${rows}×${units}`);
  if (labels.length !== rows) throw new Error(`${fn}: ${labels.length} labels for ${rows} rows`);
  let nA = 0;
  for (let r = 0; r < rows; r++) {
    if (labels[r] > 1) throw new Error(`${fn}: labels must be 1 (A) or 0 (B); row ${r} has ${labels[r]}`);
    nA += labels[r];
  }
  const nB = rows - nA;
  if (nA < 2 || nB < 2) throw new Error(`${fn}: each condition needs at least 2 stimuli (got n_A = ${nA}, n_B = ${nB})`);
  if (!Number.isInteger(opts.nPerm) || opts.nPerm < 1) throw new Error(`${fn}: nPerm must be a positive integer (got ${opts.nPerm})`);
  if (!Number.isFinite(opts.seed)) throw new Error(`${fn}: seed must be a finite number (got ${opts.seed})`);
  const test = opts.test ?? 'welch';
  if (test !== 'welch' && test !== 'student') throw new Error(`${fn}: unknown test '${String(test)}'`);
  for (const [k, v] of [['blockPerms', opts.blockPerms], ['unitChunk', opts.unitChunk], ['intraOpThreads', opts.intraOpThreads]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new Error(`${fn}: ${k} must be a positive integer (got ${v})`);
  }
  let cellOfUnit: Int32Array | null = null;
  const co = opts.cluster;
  if (co) {
    if (!Number.isInteger(co.rows) || !Number.isInteger(co.cols) || co.rows < 1 || co.cols < 1) throw new Error(`${fn}: bad sheet ${co.rows}×${co.cols}`);
    const cells = co.rows * co.cols;
    if (co.cellOfUnit) {
      if (co.cellOfUnit.length !== units) throw new Error(`${fn}: cellOfUnit has ${co.cellOfUnit.length} entries for ${units} units`);
      const used = new Uint8Array(cells);
      for (let u = 0; u < units; u++) {
        const c = co.cellOfUnit[u];
        if (!(c >= 0 && c < cells)) throw new Error(`${fn}: unit ${u} maps to cell ${c}, outside the ${co.rows}×${co.cols} sheet`);
        if (used[c]) throw new Error(`${fn}: two units map to cell ${c}`);
        used[c] = 1;
      }
      cellOfUnit = Int32Array.from(co.cellOfUnit);
    } else {
      if (cells !== units) throw new Error(`${fn}: a ${co.rows}×${co.cols} sheet without cellOfUnit needs ${cells} units (got ${units})`);
      cellOfUnit = new Int32Array(units);
      for (let u = 0; u < units; u++) cellOfUnit[u] = u;
    }
    const scale = co.scale ?? 'abs-t';
    if (scale === 'abs-t') {
      if (!(co.threshold > 0)) throw new Error(`${fn}: an |t| cluster-forming threshold must be > 0 (got ${co.threshold})`);
    } else if (scale === 'p') {
      if (!(co.threshold > 0 && co.threshold <= 1)) throw new Error(`${fn}: a p cluster-forming threshold must be in (0, 1] (got ${co.threshold})`);
    } else throw new Error(`${fn}: cluster scale must be 'abs-t' or 'p' (got ${String(scale)})`);
    if (co.connectivity !== 4 && co.connectivity !== 8) throw new Error(`${fn}: connectivity must be 4 or 8 (got ${String(co.connectivity)})`);
  }
  return { nA, nB, test, cellOfUnit };
}

// ------------------------------------------------------------------------------------------------ data

export interface PreparedData {
  matrix: Float32Array;
  rows: number;
  units: number;
  /** Per unit: mean over all stimuli (float64). */
  mean: Float64Array;
  /** Column totals of the centred float32 values x and of x² (float64 sums). */
  s: Float64Array;
  q: Float64Array;
  /** Units whose column is all zeros in the graph: 1 = constant over all stimuli (t = 0), 2 = a non-finite value (t = NaN). */
  skip: Uint8Array;
}

/** Means, totals and skipped units (two passes over the matrix, no copy of it). */
export function prepareData(matrix: Float32Array, rows: number, units: number): PreparedData {
  const mean = new Float64Array(units);
  const skip = new Uint8Array(units).fill(1); // 1 until a row differs from row 0
  for (let r = 0; r < rows; r++) {
    const base = r * units;
    for (let u = 0; u < units; u++) {
      const v = matrix[base + u];
      mean[u] += v;
      if (v !== matrix[u]) skip[u] = 0;
    }
  }
  for (let u = 0; u < units; u++) {
    // A non-finite value makes the sum non-finite (±Inf that cancel give NaN); NaN ≠ NaN clears "constant".
    if (!Number.isFinite(mean[u])) skip[u] = 2;
    mean[u] /= rows;
  }
  const s = new Float64Array(units);
  const q = new Float64Array(units);
  for (let r = 0; r < rows; r++) {
    const base = r * units;
    for (let u = 0; u < units; u++) {
      const d = Math.fround(matrix[base + u] - mean[u]);
      s[u] += d;
      q[u] += d * d; // exact: d is a float32
    }
  }
  for (let u = 0; u < units; u++) {
    if (skip[u]) {
      s[u] = 0;
      q[u] = 0;
    }
  }
  return { matrix, rows, units, mean, s, q, skip };
}

/**
 * Writes the [rows, len] block of units start … start+len−1 into dst as little-endian float32, row-major:
 * scale · x (square = false) or scale · x² (square = true), x = fround(value − mean); 0 for skipped units.
 * dst may be unaligned: rows go through an aligned scratch row.
 */
function fillBlock(data: PreparedData, start: number, len: number, square: boolean, scale: number, dst: Uint8Array): void {
  const { matrix, rows, units, mean, skip } = data;
  const row = new Float32Array(len);
  const bytes = new Uint8Array(row.buffer);
  const dv = LITTLE_ENDIAN ? null : new DataView(row.buffer);
  for (let r = 0; r < rows; r++) {
    const src = r * units + start;
    for (let k = 0; k < len; k++) {
      const u = start + k;
      if (skip[u]) {
        row[k] = 0;
        continue;
      }
      const d = Math.fround(matrix[src + k] - mean[u]);
      row[k] = square ? d * d * scale : d * scale;
    }
    if (dv) for (let k = 0; k < len; k++) dv.setFloat32(k * 4, row[k], true);
    dst.set(bytes, r * len * 4);
  }
}

const LITTLE_ENDIAN = os.endianness() === 'LE';

// ------------------------------------------------------------------------------------------------ graph

export interface GraphSpec {
  rows: number;
  nA: number;
  nB: number;
  test: TestKind;
  /** First unit and length of each chunk in this model. */
  chunks: { start: number; len: number }[];
  /** Output t per chunk ('t_<k>', [P, len]); otherwise only the first labelling's t ('t0_<k>', [1, len]). */
  wantT: boolean;
  /** Output the Welch df per chunk ('df_<k>', [P, len]). */
  wantDf: boolean;
}

/** The constants of the t formula (see {@link buildPermutationGraph}). */
export function tConstants(nA: number, nB: number, test: TestKind) {
  const a = 1 / nA;
  const b = 1 / nB;
  const ab2 = (a + b) * (a + b);
  // V' = κA·M2_A + κB·M2_B is se² / (a+b)²: Welch κ = 1/((n−1)n) per group, Student κ = (a+b)/(nA+nB−2) both.
  const kA = test === 'welch' ? 1 / ((nA - 1) * nA) / ab2 : (a + b) / (nA + nB - 2) / ab2;
  const kB = test === 'welch' ? 1 / ((nB - 1) * nB) / ab2 : kA;
  return { a, b, kA, kB, c2: kA * a + kB * b };
}

/** Whether the graph needs Σ_A x² (a second MatMul): Welch with unequal groups, or Welch df. */
export function needsSquares(nA: number, nB: number, test: TestKind, wantDf: boolean): boolean {
  if (test !== 'welch') return false;
  const { kA, kB } = tConstants(nA, nB, test);
  return wantDf || kA !== kB;
}

/**
 * The permutation graph for a set of unit chunks: input 'L' [P, rows] float32 (1 = condition A); output
 * 'maxabs' [P] (max |t| over the chunks' units) and per chunk k either 't_<k>' [P, len] (wantT) or
 * 't0_<k>' [1, len] (the first labelling's t), plus 'df_<k>' [P, len] when wantDf.
 *
 * With SA = Σ_A x (= L·X), QA = Σ_A x², S, Q the column totals, a = 1/nA, b = 1/nB, M2_A = QA − a·SA²,
 * M2_B = (Q − QA) − b·(S − SA)², the t statistic is t = (mA − mB)/se with mA − mB = (a+b)·SA − b·S. Scaled
 * by (a+b):  t = D / √V,  D = SA − σ, σ = b·S/(a+b),  V = κA·M2_A + κB·M2_B, which expands to
 *
 *   V = (κA − κB)·QA + c0 + SA·(c1 − c2·SA),   c0 = κB·(Q − b·S²), c1 = 2·κB·b·S, c2 = κA·a + κB·b,
 *
 * so the chain per chunk is 1 MatMul and ~10 elementwise ops; the QA MatMul (X² pre-scaled by κA − κB)
 * is only needed for Welch with nA ≠ nB (with nA = nB Welch's t equals Student's). V ≤ tol·(κA·QA + κB·QB)
 * (tol = {@link ZERO_VAR_TOL}) means zero variance in both groups as far as float32 can tell: t = 0 there.
 */
export function buildPermutationGraph(spec: GraphSpec, data: PreparedData): Uint8Array {
  const { rows, nA, nB, test } = spec;
  const { a, b, kA, kB, c2 } = tConstants(nA, nB, test);
  const withQ = needsSquares(nA, nB, test, spec.wantDf);
  const g = new OnnxGraphBuilder({ name: 'permutation_t', opset: 17, producerName: 'toposcope-permutation' });
  const L = g.input('L', 'float32', ['P', rows]);
  // Scalar constants, created on first use (ORT warns about unused initializers).
  const consts = new Map<string, string>();
  const c = (name: string, value: number): string => {
    let n = consts.get(name);
    if (n === undefined) {
      n = g.float32(name, [], [value]);
      consts.set(name, n);
    }
    return n;
  };
  const row0 = (): string[] => {
    if (!consts.has('row0')) {
      consts.set('row0', '');
      g.int64('row0_starts', [1], [0]);
      g.int64('row0_ends', [1], [1]);
      g.int64('row0_axes', [1], [0]);
    }
    return ['row0_starts', 'row0_ends', 'row0_axes'];
  };
  // X² is stored scaled by qScale: κA when the graph needs κA·QA (df), else κA − κB.
  const qScale = spec.wantDf ? kA : kA - kB;
  const sgn = kA - kB >= 0 ? 1 : -1;
  const maxes: string[] = [];
  spec.chunks.forEach(({ start, len }, ci) => {
    const sl = (arr: Float64Array, f: (v: number, i: number) => number) => Float32Array.from({ length: len }, (_, i) => f(arr[start + i], start + i));
    const X = g.lazyInitializer(`X_${ci}`, 'float32', [rows, len], (dst) => fillBlock(data, start, len, false, 1, dst));
    const sigma = g.float32(`sigma_${ci}`, [len], sl(data.s, (v) => (b * v) / (a + b)));
    const c0 = g.float32(`c0_${ci}`, [len], sl(data.s, (v, u) => kB * (data.q[u] - b * v * v)));
    const c1 = g.float32(`c1_${ci}`, [len], sl(data.s, (v) => 2 * kB * b * v));
    const SA = g.op('MatMul', [L, X]);
    // V = [QA·(κA−κB)] + c0 + SA·(c1 − c2·SA)
    // (tensor ∘ vector broadcasts are written tensor-first: ORT's vector-first path is several times slower)
    let V = g.op('Add', [g.op('Mul', [SA, g.op('Add', [g.op('Mul', [SA, c('neg_c2', -c2)]), c1])]), c0]);
    let QAk: string | null = null; // κA·QA (df) or (κA−κB)·QA
    let tolRef: string;
    if (withQ) {
      const X2 = g.lazyInitializer(`X2_${ci}`, 'float32', [rows, len], (dst) => fillBlock(data, start, len, true, qScale, dst));
      QAk = g.op('MatMul', [L, X2]);
      const QA2 = spec.wantDf ? (kA !== kB ? g.op('Mul', [QAk, c('dk', (kA - kB) / kA)]) : null) : QAk;
      if (QA2 !== null) {
        V = g.op('Add', [V, QA2]);
        // zero variance: V − tol·|κA−κB|·QA ≤ tol·κB·Q  (i.e. V ≤ tol·(κA·QA + κB·QB) when κA ≥ κB)
        tolRef = g.op('Sub', [V, g.op('Mul', [QA2, c('tol_sgn', ZERO_VAR_TOL * sgn)])]);
      } else tolRef = V;
    } else tolRef = V;
    // Bound tol·κB·Q (for κA = κB that is tol·κ·Q; otherwise the |κA−κB|·QA part was subtracted above).
    // t = D·[tolRef > bound] / √max(V, floor) with floor = bound (1 where Q = 0): exactly D/√V where the
    // variance is resolved (tolRef > bound implies V > bound), exactly 0 elsewhere. (Arithmetic instead of
    // Where, which is ~10× slower per element in ORT's CPU kernels.)
    const bound = g.float32(`tol_${ci}`, [len], sl(data.q, (v) => ZERO_VAR_TOL * kB * v));
    const floor = g.float32(`floor_${ci}`, [len], sl(data.q, (v) => (v > 0 ? ZERO_VAR_TOL * kB * v : 1)));
    const ok = g.op('Cast', [g.op('Greater', [tolRef, bound])], { to: int(1) });
    const D = g.op('Sub', [SA, sigma]);
    const num = g.op('Mul', [D, ok]);
    const t = g.op('Div', [num, g.op('Sqrt', [g.op('Max', [V, floor])])], {}, { out: spec.wantT ? `t_${ci}` : undefined });
    if (spec.wantT) g.output(t, 'float32', ['P', len]);
    else g.output(g.op('Slice', [t, ...row0()], {}, { out: `t0_${ci}` }), 'float32', [1, len]);
    if (spec.wantDf) {
      // VA = κA·M2_A = κA·QA − κA·a·SA², VB = V − VA, df = V² / (VA²/(nA−1) + VB²/(nB−1)) (scale-free).
      const VA = g.op('Sub', [QAk as string, g.op('Mul', [g.op('Mul', [SA, SA]), c('kAa', kA * a)])]);
      const VB = g.op('Sub', [V, VA]);
      const den = g.op('Add', [g.op('Mul', [g.op('Mul', [VA, VA]), c('inv_nA1', 1 / (nA - 1))]), g.op('Mul', [g.op('Mul', [VB, VB]), c('inv_nB1', 1 / (nB - 1))])]);
      g.op('Div', [g.op('Mul', [V, V]), den], {}, { out: `df_${ci}` });
      g.output(`df_${ci}`, 'float32', ['P', len]);
    }
    maxes.push(g.op('ReduceMax', [g.op('Abs', [t])], { axes: ints([1]), keepdims: int(1) }));
  });
  const all = maxes.length === 1 ? maxes[0] : g.op('Concat', maxes, { axis: int(1) });
  g.op('ReduceMax', [all], { axes: ints([1]), keepdims: int(0) }, { out: 'maxabs' });
  g.output('maxabs', 'float32', ['P']);
  return g.build();
}

// ------------------------------------------------------------------------------------------------ core

/** What the worker receives (all plain data). */
export interface CoreJob {
  matrix: Float32Array;
  rows: number;
  units: number;
  labels: Uint8Array;
  nPerm: number;
  seed: number;
  test: TestKind;
  nA: number;
  nB: number;
  cluster: (PermutationClusterOptions & { cellOfUnit: Int32Array }) | null;
  blockPerms: number;
  unitChunk: number;
  intraOpThreads: number;
  maxModelBytes: number;
  /** Set to 1 (Atomics) to stop: checked before each session and each block, never inside ONNX Runtime. */
  stop?: Int32Array;
}

/** The test was stopped through `CoreJob.stop`. */
export class PermutationStopped extends Error {
  constructor() {
    super('stopped');
  }
}

export interface CoreTimings {
  prepareMs: number;
  /** Building the ONNX model bytes (part of sessionMs). */
  buildMs: number;
  /** Building the models and creating the sessions. */
  sessionMs: number;
  /** session.run wall time, and the CPU time of the process meanwhile (all threads). */
  runMs: number;
  runCpuMs: number;
  /** Observed and null cluster statistics (JS, this thread). */
  clusterMs: number;
  totalMs: number;
  sessions: number;
  chunks: number;
}

/** Smallest |t| whose two-sided p is ≤ thr at df (bisection on twoSidedP, which falls with |t|). */
function tCritical(thr: number, df: number): number {
  if (thr >= 1) return 0;
  let lo = 0;
  let hi = 1;
  while (twoSidedP(hi, df) > thr) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) return Infinity;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-13 * hi; i++) {
    const mid = 0.5 * (lo + hi);
    if (twoSidedP(mid, df) > thr) lo = mid;
    else hi = mid;
  }
  return hi;
}

type OrtModule = typeof import('onnxruntime-node');

/**
 * The whole test, on the current thread (the worker calls this). `ort` is passed in so that the main
 * thread never loads onnxruntime-node.
 */
export async function runPermutationCore(
  ort: OrtModule,
  job: CoreJob,
  onProgress?: (done: number, total: number) => void,
): Promise<{ result: PermutationResult; timings: CoreTimings }> {
  const t0 = performance.now();
  const { rows, units, labels, nPerm, nA, nB, test } = job;
  const welch = test === 'welch';
  const co = job.cluster;
  const scale = co ? (co.scale ?? 'abs-t') : 'abs-t';
  const needDf = co !== null && scale === 'p' && welch;
  const chunk = Math.max(1, Math.min(units, job.unitChunk));

  const data = prepareData(job.matrix, rows, units);
  const withQ = needsSquares(nA, nB, test, needDf);
  const prepareMs = performance.now() - t0;

  // Chunks, grouped into models of at most maxModelBytes of constants.
  const chunkBytes = (len: number) => rows * len * 4 * (withQ ? 2 : 1);
  const groups: { start: number; len: number }[][] = [];
  let cur: { start: number; len: number }[] = [];
  let curBytes = 0;
  for (let u0 = 0; u0 < units; u0 += chunk) {
    const len = Math.min(chunk, units - u0);
    if (cur.length > 0 && curBytes + chunkBytes(len) > job.maxModelBytes) {
      groups.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push({ start: u0, len });
    curBytes += chunkBytes(len);
  }
  groups.push(cur);

  const t1 = performance.now();
  let buildMs = 0;
  const sessions: import('onnxruntime-node').InferenceSession[] = [];
  const stopped = () => job.stop !== undefined && Atomics.load(job.stop, 0) !== 0;
  try {
    for (const chunks of groups) {
      if (stopped()) throw new PermutationStopped();
      const tb = performance.now();
      let bytes: Uint8Array | null = buildPermutationGraph({ rows, nA, nB, test, chunks, wantT: co !== null, wantDf: needDf }, data);
      buildMs += performance.now() - tb;
      sessions.push(
        await ort.InferenceSession.create(bytes, {
          intraOpNumThreads: job.intraOpThreads,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
          logSeverityLevel: 3,
          // With cluster statistics this thread works between runs: idle ORT threads must not spin on the other cores.
          ...(co ? { extra: { session: { 'intra_op.allow_spinning': '0' } } } : {}),
        }),
      );
      bytes = null; // ORT has copied the constants into the session
    }
    const sessionMs = performance.now() - t1;

    // ---- cluster setup
    const cellOfUnit = co ? co.cellOfUnit : null;
    const cells = co ? co.rows * co.cols : 0;
    const map = co ? new Float64Array(cells).fill(NaN) : null;
    const pMap = co && scale === 'p' ? new Float64Array(cells).fill(NaN) : null;
    const clusterOpts: ClusterOptions | null = co
      ? { threshold: co.threshold, scale, connectivity: co.connectivity, minSize: co.minSize, pMap: pMap ?? undefined }
      : null;
    const scratch = co ? new ClusterScratch(cells) : null;
    const clusterOut: MaxClusterStats = { maxMass: 0, maxSize: 0 };
    // For the 'p' scale: |t| < tLow → p > thr for every df (the normal tail is the lightest); |t| > tHigh →
    // p ≤ thr for every df the test can give; only the band between needs the t CDF.
    const dfPooled = nA + nB - 2;
    let tLow = 0;
    let tHigh = Infinity;
    if (pMap && co) {
      const dfLo = welch ? Math.max(1, Math.min(nA, nB) - 1) * 0.999 : dfPooled;
      tLow = Math.abs(zFromP(co.threshold, 1)) * (1 - 1e-9);
      tHigh = tCritical(co.threshold, dfLo) * (1 + 1e-9);
    }

    const total = nPerm + 1;
    const P = Math.max(1, Math.min(job.blockPerms, total));
    const L = new Float32Array(P * rows);
    const permuter = new LabelPermuter(labels, job.seed);
    const tObs = new Float64Array(units);
    const maxNull = new Float64Array(nPerm);
    const massNull = co ? new Float64Array(nPerm) : null;
    const sizeNull = co ? new Float64Array(nPerm) : null;
    let observedClusters: { clusters: Cluster[]; labels: Int32Array } | null = null;
    // Per block: the t (and df) arrays of every chunk, in unit order.
    const tParts: { start: number; len: number; t: Float32Array; df: Float32Array | null }[] = [];

    /** map (and pMap) ← labelling p of the block. exact: compute every p (observed map). */
    let identityCells = cellOfUnit !== null && cells === units;
    if (cellOfUnit) for (let u = 0; identityCells && u < units; u++) if (cellOfUnit[u] !== u) identityCells = false;
    const nanUnits: number[] = [];
    for (let u = 0; u < units; u++) if (data.skip[u] === 2) nanUnits.push(u);
    const fillMaps = (p: number, exact: boolean): void => {
      const m = map as Float64Array;
      const c2u = cellOfUnit as Int32Array;
      if (identityCells && pMap === null) {
        // The common case (unit i at cell i, |t| scale): native float32 → float64 copies.
        for (const part of tParts) m.set(part.t.subarray(p * part.len, (p + 1) * part.len), part.start);
        for (const u of nanUnits) m[u] = NaN;
        return;
      }
      for (const part of tParts) {
        const off = p * part.len;
        for (let k = 0; k < part.len; k++) {
          const u = part.start + k;
          const t = data.skip[u] === 2 ? NaN : part.t[off + k];
          const c = c2u[u];
          m[c] = t;
          if (pMap !== null) {
            const at = Math.abs(t);
            const df = part.df ? part.df[off + k] : dfPooled;
            if (exact || (at >= tLow && at <= tHigh)) pMap[c] = t === 0 ? 1 : twoSidedP(t, df);
            else pMap[c] = at > tHigh ? 0 : 1; // NaN t → 1 (never supra)
          }
        }
      }
    };

    let runMs = 0;
    let runCpuMs = 0;
    let clusterMs = 0;
    for (let done = 0; done < total; done += P) {
      if (stopped()) throw new PermutationStopped();
      const bs = Math.min(P, total - done);
      for (let p = 0; p < bs; p++) {
        const lab = done + p === 0 ? labels : permuter.next();
        const base = p * rows;
        for (let r = 0; r < rows; r++) L[base + r] = lab[r];
      }
      const feeds = { L: new ort.Tensor('float32', bs === P ? L : L.slice(0, bs * rows), [bs, rows]) };
      const blockMax = new Float64Array(bs);
      tParts.length = 0;
      const tr = performance.now();
      const cr = process.cpuUsage();
      for (let gi = 0; gi < sessions.length; gi++) {
        const out = await sessions[gi].run(feeds);
        const m = out.maxabs.data as Float32Array;
        for (let p = 0; p < bs; p++) if (m[p] > blockMax[p]) blockMax[p] = m[p];
        groups[gi].forEach(({ start, len }, k) => {
          const t = (co ? out[`t_${k}`] : out[`t0_${k}`]).data as Float32Array;
          tParts.push({ start, len, t, df: needDf ? (out[`df_${k}`].data as Float32Array) : null });
        });
      }
      runMs += performance.now() - tr;
      const cu = process.cpuUsage(cr);
      runCpuMs += (cu.user + cu.system) / 1000;
      const tc = performance.now();
      let p0 = 0;
      if (done === 0) {
        // Labelling 0 is the observed one.
        p0 = 1;
        for (const part of tParts) for (let k = 0; k < part.len; k++) tObs[part.start + k] = part.t[k] + 0; // −0 → 0
        for (let u = 0; u < units; u++) if (data.skip[u] === 2) tObs[u] = NaN;
        if (co) {
          fillMaps(0, true);
          observedClusters = findClusters(map as Float64Array, co.rows, co.cols, clusterOpts as ClusterOptions);
        }
      }
      for (let p = p0; p < bs; p++) {
        const j = done + p - 1; // permutation index
        maxNull[j] = blockMax[p];
        if (co) {
          fillMaps(p, false);
          maxClusterStats(map as Float64Array, co.rows, co.cols, clusterOpts as ClusterOptions, scratch as ClusterScratch, clusterOut);
          (massNull as Float64Array)[j] = clusterOut.maxMass;
          (sizeNull as Float64Array)[j] = clusterOut.maxSize;
        }
      }
      clusterMs += performance.now() - tc;
      onProgress?.(done + bs, total);
    }

    // ---- p-values
    const pFWE = new Float64Array(units);
    const sortedMax = maxNull.slice().sort();
    for (let u = 0; u < units; u++) {
      const t = tObs[u];
      pFWE[u] = Number.isNaN(t) ? NaN : (1 + countAtLeast(sortedMax, Math.abs(t))) / (1 + nPerm);
    }
    const result: PermutationResult = { tObs, maxNull, pFWE, nPerm, seed: job.seed, test, nA, nB };
    if (co && observedClusters && massNull && sizeNull) {
      const sm = massNull.slice().sort();
      const ss = sizeNull.slice().sort();
      const oc = observedClusters as { clusters: Cluster[]; labels: Int32Array };
      result.cluster = {
        massNull,
        sizeNull,
        clusters: oc.clusters.map((c) => ({
          ...c,
          pMass: (1 + countAtLeast(sm, c.mass)) / (1 + nPerm),
          pSize: (1 + countAtLeast(ss, c.size)) / (1 + nPerm),
        })),
        labels: oc.labels,
      };
    }
    const timings: CoreTimings = {
      prepareMs,
      buildMs,
      sessionMs,
      runMs,
      runCpuMs,
      clusterMs,
      totalMs: performance.now() - t0,
      sessions: sessions.length,
      chunks: groups.reduce((n, g) => n + g.length, 0),
    };
    return { result, timings };
  } finally {
    for (const s of sessions) await s.release();
  }
}

// ------------------------------------------------------------------------------------------------ worker

const ENTRY = moduleUrl('./permutation-worker.ts', import.meta.url);

/** How long an aborted test's worker may take to stop by itself before it is terminated. */
const STOP_GRACE_MS = 60_000;

/** Messages from the permutation worker. */
export type PermutationWorkerMessage =
  | { kind: 'progress'; done: number; total: number }
  | { kind: 'result'; result: PermutationResult; timings: CoreTimings }
  | { kind: 'error'; message: string };

/**
 * The permutation test of {@link permutationTest} (same options, same permutations for the same seed, same
 * result shape), run by ONNX Runtime in a worker thread. Also returns where the time went.
 */
export function permutationTestOrtTimed(
  matrix: Float32Array,
  rows: number,
  units: number,
  labels: Uint8Array,
  opts: OrtPermutationOptions,
): Promise<{ result: PermutationResult; timings: CoreTimings }> {
  let v: Validated;
  try {
    v = validate(matrix, rows, units, labels, opts);
  } catch (e) {
    return Promise.reject(e);
  }
  if (opts.signal?.aborted) return Promise.reject(new Error('permutationTestOrt: aborted'));
  const blockPerms = opts.blockPerms ?? DEFAULT_BLOCK_PERMS;
  const job: CoreJob = {
    matrix,
    rows,
    units,
    labels: Uint8Array.from(labels),
    nPerm: opts.nPerm,
    seed: opts.seed,
    test: v.test,
    nA: v.nA,
    nB: v.nB,
    cluster: opts.cluster && v.cellOfUnit ? { ...opts.cluster, cellOfUnit: v.cellOfUnit } : null,
    blockPerms,
    unitChunk: opts.unitChunk ?? defaultUnitChunk(blockPerms, units),
    intraOpThreads: opts.intraOpThreads ?? os.availableParallelism(),
    maxModelBytes: opts.maxModelBytes ?? DEFAULT_MAX_MODEL_BYTES,
    stop: new Int32Array(new SharedArrayBuffer(4)),
  };
  // The worker reads the matrix from shared memory: one copy here (none if the caller's matrix is already
  // shared or handed over), instead of structured cloning's copy out and copy in.
  const transfer: ArrayBuffer[] = [];
  if (matrix.buffer instanceof SharedArrayBuffer) job.matrix = matrix;
  else if (opts.transferMatrix) {
    if (matrix.byteOffset !== 0 || matrix.byteLength !== matrix.buffer.byteLength) {
      return Promise.reject(new Error('permutationTestOrt: transferMatrix needs a matrix that spans its whole ArrayBuffer'));
    }
    transfer.push(matrix.buffer as ArrayBuffer);
  } else {
    const shared = new Float32Array(new SharedArrayBuffer(matrix.byteLength));
    shared.set(matrix);
    job.matrix = shared;
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    const worker = startWorker(ENTRY, { workerData: { job }, transferList: transfer });
    const finish = (err: Error | null, value?: { result: PermutationResult; timings: CoreTimings }) => {
      if (settled) return;
      settled = true;
      if (grace) clearTimeout(grace);
      opts.signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      if (opts.signal?.aborted) err = new Error('permutationTestOrt: aborted');
      if (err) reject(err);
      else resolve(value as { result: PermutationResult; timings: CoreTimings });
    };
    // Aborting asks the worker to stop after the block it is running and waits for it to end: a worker
    // terminated while its thread is inside ONNX Runtime can bring the whole process down. Past
    // STOP_GRACE_MS it is terminated all the same.
    let grace: NodeJS.Timeout | null = null;
    const onAbort = () => {
      Atomics.store(job.stop!, 0, 1);
      grace ??= setTimeout(() => finish(new Error('permutationTestOrt: aborted')), STOP_GRACE_MS);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (m: PermutationWorkerMessage) => {
      if (m.kind === 'progress') {
        try {
          opts.onProgress?.(m.done, m.total);
        } catch {
          // a failing progress callback must not kill the test
        }
      } else if (m.kind === 'result') finish(null, { result: m.result, timings: m.timings });
      else finish(new Error(`permutationTestOrt: ${m.message}`));
    });
    worker.on('error', (e) => finish(new Error(`permutationTestOrt: worker failed: ${e.message}`)));
    worker.on('exit', (code) => finish(new Error(`permutationTestOrt: worker exited (code ${code}) without a result`)));
  });
}

/**
 * Max-statistic permutation test (max-|t| family-wise p per unit, optional cluster-level nulls) with the
 * matrix work in ONNX Runtime on a worker thread: same options, same permutations for the same seed and
 * the same result shape as the JS reference {@link permutationTest}. `blockUnits` and `batch` (JS-kernel
 * options) are ignored. See the module comment for precision.
 */
export async function permutationTestOrt(
  matrix: Float32Array,
  rows: number,
  units: number,
  labels: Uint8Array,
  opts: OrtPermutationOptions,
): Promise<PermutationResult> {
  return (await permutationTestOrtTimed(matrix, rows, units, labels, opts)).result;
}
