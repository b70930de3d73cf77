/**
 * Fast max-statistic permutation test: the same options, permutations and result as the pure-JS
 * reference {@link permutationTest} (src/stats/permutation.ts), with the matrix work done by ONNX Runtime
 * in a worker thread.
 *
 * How:
 * - Each unit's column is centred by its mean over all stimuli (in float64) and rounded to float32: X.
 *   Its squares X² (float32), the column totals S = Σ X and Q = Σ X² (float64 sums, stored as float32)
 *   are the other constants. A unit that is constant over all stimuli gets an all-zero column (its t is
 *   exactly 0, as {@link tTest} gives); a unit with a non-finite value gets a zero column too and NaN t.
 * - One ONNX graph per analysis (hand-built with {@link OnnxGraphBuilder}) holds X, X², S, Q as
 *   initializers; its single input is the label matrix L [P, rows] (1 = condition A) of P labellings.
 *   MatMul gives Σ_A x = L·X and Σ_A x² = L·X² for the P labellings at once (Student needs only the first:
 *   the pooled M2 follows from S, Q and Σ_A x), elementwise ops give the Welch (or Student) t per unit,
 *   Where sets t = 0 where both groups have (numerically) zero variance, and ReduceMax of |t| over units
 *   gives the max-|t| null. With cluster statistics, t [P, units] is an output too and the largest cluster
 *   mass and size per labelling are found in JS with {@link maxClusterStats} and one {@link ClusterScratch}.
 * - The units are split into chunks of `unitChunk` columns, each with its own MatMul → … → ReduceMax
 *   chain: the [P, chunk] intermediates then stay in the CPU cache while the elementwise ops stream
 *   through them (one chain over all units would push ~20 full [P, units] tensors through main memory per
 *   block, which costs as much as the matrix products). A Max node joins the chunks' maxima.
 * - Permutations are drawn with {@link LabelPermuter}(labels, seed), exactly as the reference, so the same
 *   seed gives the same labellings in both engines. The observed t is computed by the same graph (the
 *   identity labelling is row 0 of the first block), so a permutation equal to the observed labelling gives
 *   bit-identical values and ties are counted consistently. p_FWE = (1 + #{null ≥ |t_obs|}) / (1 + nPerm);
 *   the identity is not one of the nPerm.
 * - Everything runs in a worker thread (started through src/models/worker-boot.mjs), so the calling
 *   thread stays free; ONNX Runtime gets `intraOpThreads` threads (default: the machine's cores).
 *
 * Precision: sums are float32 (the reference sums in float64). On ordinary data t agrees with the
 * reference to ~1e-5 relative (absolute ~1e-5 near t = 0), so p_FWE is equal except where a null maximum
 * lies within that distance of |t_obs|. Within-group variances below `ZERO_VAR_TOL` of the unit's total
 * sum of squares cannot be resolved in float32: where both groups are below it, t = 0 (the reference uses
 * 64·ε of float64; the difference only shows for |t| above ≈ √(df / ZERO_VAR_TOL), i.e. thousands).
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
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
  /** Units per chunk of the graph. Default: chosen from blockPerms (see {@link defaultUnitChunk}). */
  unitChunk?: number;
  /** Upper bound on the constant bytes (X, X²) of one ONNX model; more units are split over several sessions. Default 1.5 GiB. */
  maxModelBytes?: number;
  /** Called from time to time with the number of labellings done (the observed one included) and the total (nPerm + 1). */
  onProgress?: (done: number, total: number) => void;
  /** Aborting stops the worker; the promise then rejects. */
  signal?: AbortSignal;
}

/**
 * Default block of labellings per run. Cost per block (36,864 units × 1,000 stimuli, Welch): the two
 * MatMuls stream X and X² (295 MB) from memory once per run whatever P is, and do 2·P·rows·units FMAs;
 * P = 128 makes the streaming a small part of the run (~10%) while L stays tiny (P × rows floats = 0.5 MB)
 * and the optional t output is P × units float32 = 19 MB. Larger P gains little (see bench/permutation.ts).
 */
export const DEFAULT_BLOCK_PERMS = 128;

/** Within-group M2 ≤ ZERO_VAR_TOL · Σx² (both groups) counts as zero variance (t = 0) in float32. */
export const ZERO_VAR_TOL = 1e-5;

/**
 * Units per chunk: aim at ~256 KiB per [P, chunk] float32 intermediate (a chunk's chain uses a handful of
 * them, so they stay in L2/L3), with at least 256 units so each MatMul stays efficient.
 */
export function defaultUnitChunk(blockPerms: number, units: number): number {
  const target = Math.floor((256 * 1024) / (4 * Math.max(1, blockPerms)));
  const c = Math.max(256, Math.min(8192, target));
  return Math.min(units, Math.ceil(c / 16) * 16);
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
  /** Centred float32 values, chunk-major: chunk k is a [rows, chunkLen(k)] row-major block at chunkStart(k)·rows. */
  x: Float32Array;
  /** Squares of x (float32), same layout; null for the Student test. */
  x2: Float32Array | null;
  /** Column totals of x and x² (float64 sums). */
  s: Float64Array;
  q: Float64Array;
  /** Units with a non-finite value (their t is NaN). */
  bad: Uint8Array;
}

/** Centre, square and lay out the matrix in unit chunks (see {@link PreparedData}). */
export function prepareData(matrix: Float32Array, rows: number, units: number, chunk: number, withSquares: boolean): PreparedData {
  const mean = new Float64Array(units);
  const bad = new Uint8Array(units);
  const constant = new Uint8Array(units).fill(1);
  for (let r = 0; r < rows; r++) {
    const base = r * units;
    for (let u = 0; u < units; u++) {
      const v = matrix[base + u];
      mean[u] += v;
      if (v !== matrix[u]) constant[u] = 0;
    }
  }
  for (let u = 0; u < units; u++) {
    if (!Number.isFinite(mean[u])) bad[u] = 1;
    mean[u] /= rows;
  }
  // Non-finite values also make the sum non-finite, except ±Inf cancelling to NaN (caught) — so `bad` is complete.
  const x = new Float32Array(rows * units);
  const x2 = withSquares ? new Float32Array(rows * units) : null;
  const s = new Float64Array(units);
  const q = new Float64Array(units);
  for (let u0 = 0; u0 < units; u0 += chunk) {
    const len = Math.min(chunk, units - u0);
    const off = u0 * rows;
    for (let r = 0; r < rows; r++) {
      const src = r * units + u0;
      const dst = off + r * len;
      for (let k = 0; k < len; k++) {
        const u = u0 + k;
        if (bad[u] || constant[u]) continue; // stays 0
        const d = Math.fround(matrix[src + k] - mean[u]);
        const d2 = Math.fround(d * d);
        x[dst + k] = d;
        if (x2 !== null) x2[dst + k] = d2;
        s[u] += d;
        q[u] += d2;
      }
    }
  }
  return { x, x2, s, q, bad };
}

// ------------------------------------------------------------------------------------------------ graph

export interface GraphSpec {
  rows: number;
  nA: number;
  nB: number;
  test: TestKind;
  /** First unit and length of each chunk in this model. */
  chunks: { start: number; len: number }[];
  /** Output t per chunk ('t_<k>', [P, len]). */
  wantT: boolean;
  /** Output the Welch df per chunk ('df_<k>', [P, len]). */
  wantDf: boolean;
}

/**
 * The permutation graph for a set of unit chunks: input 'L' [P, rows] float32; outputs 'maxabs' [P]
 * (max |t| over the chunks' units) and per chunk (k = index in spec.chunks) either 't_<k>' [P, len] (wantT)
 * or 't0_<k>' [1, len] (the t of the first labelling only), and 'df_<k>' [P, len] when wantDf.
 */
export function buildPermutationGraph(spec: GraphSpec, data: PreparedData): Uint8Array {
  const { rows, nA, nB, test } = spec;
  const welch = test === 'welch';
  const g = new OnnxGraphBuilder({ name: 'permutation_t', opset: 17, producerName: 'toposcope-permutation' });
  const L = g.input('L', 'float32', ['P', rows]);
  const a = 1 / nA;
  const b = 1 / nB;
  // Scalar constants, created on first use (ORT warns about unused initializers).
  const consts = new Map<string, string>();
  const k = (name: string, value: number): string => {
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
  const maxes: string[] = [];
  spec.chunks.forEach(({ start, len }, ci) => {
    const off = start * rows;
    const X = g.float32(`X_${ci}`, [rows, len], data.x.subarray(off, off + rows * len));
    const S = g.float32(`S_${ci}`, [len], data.s.subarray(start, start + len));
    const Sb = g.float32(`Sb_${ci}`, [len], data.s.subarray(start, start + len).map((v) => v * b));
    const Q = data.q.subarray(start, start + len);
    const tolQ = g.float32(`tolQ_${ci}`, [len], Q.map((v) => v * ZERO_VAR_TOL));
    const SA = g.op('MatMul', [L, X]);
    const SB = g.op('Sub', [S, SA]);
    const diff = g.op('Sub', [g.op('Mul', [SA, k('ab', a + b)]), Sb]); // mA − mB = SA/nA − (S − SA)/nB
    let t: string;
    if (welch) {
      const X2 = g.float32(`X2_${ci}`, [rows, len], (data.x2 as Float32Array).subarray(off, off + rows * len));
      const Qc = g.float32(`Q_${ci}`, [len], Q);
      const QA = g.op('MatMul', [L, X2]);
      const QB = g.op('Sub', [Qc, QA]);
      const m2A = g.op('Sub', [QA, g.op('Mul', [g.op('Mul', [SA, SA]), k('a', a)])]);
      const m2B = g.op('Sub', [QB, g.op('Mul', [g.op('Mul', [SB, SB]), k('b', b)])]);
      const isZero = g.op('LessOrEqual', [g.op('Add', [m2A, m2B]), tolQ]);
      const va = g.op('Mul', [g.op('Relu', [m2A]), k('cA', 1 / ((nA - 1) * nA))]);
      const vb = g.op('Mul', [g.op('Relu', [m2B]), k('cB', 1 / ((nB - 1) * nB))]);
      const se2 = g.op('Add', [va, vb]);
      t = g.op('Where', [isZero, k('zero', 0), g.op('Div', [diff, g.op('Sqrt', [se2])])], {}, { out: spec.wantT ? `t_${ci}` : undefined });
      if (spec.wantDf) {
        const den = g.op('Add', [g.op('Mul', [g.op('Mul', [va, va]), k('inv_nA1', 1 / (nA - 1))]), g.op('Mul', [g.op('Mul', [vb, vb]), k('inv_nB1', 1 / (nB - 1))])]);
        g.op('Div', [g.op('Mul', [se2, se2]), den], {}, { out: `df_${ci}` });
        g.output(`df_${ci}`, 'float32', ['P', len]);
      }
    } else {
      const Qc = g.float32(`Q_${ci}`, [len], Q);
      // pooled M2 = Q − SA²/nA − SB²/nB
      const m2 = g.op('Sub', [g.op('Sub', [Qc, g.op('Mul', [g.op('Mul', [SA, SA]), k('a', a)])]), g.op('Mul', [g.op('Mul', [SB, SB]), k('b', b)])]);
      const isZero = g.op('LessOrEqual', [m2, tolQ]);
      t = g.op('Where', [isZero, k('zero', 0), g.op('Div', [diff, g.op('Sqrt', [g.op('Mul', [m2, k('cP', (1 / nA + 1 / nB) / (nA + nB - 2))])])])], {}, { out: spec.wantT ? `t_${ci}` : undefined });
    }
    if (spec.wantT) g.output(t, 'float32', ['P', len]);
    else g.output(g.op('Slice', [t, ...row0()], {}, { out: `t0_${ci}` }), 'float32', [1, len]); // the first labelling's t
    maxes.push(g.op('ReduceMax', [g.op('Abs', [t])], { axes: ints([1]), keepdims: int(0) }));
  });
  g.op('Max', maxes, {}, { out: 'maxabs' });
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

  const data = prepareData(job.matrix, rows, units, chunk, welch);
  const prepareMs = performance.now() - t0;

  // Chunks, grouped into models of at most maxModelBytes of constants.
  const chunkBytes = (len: number) => rows * len * 4 * (welch ? 2 : 1);
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
  try {
    for (const chunks of groups) {
      const tb = performance.now();
      let bytes: Uint8Array | null = buildPermutationGraph({ rows, nA, nB, test, chunks, wantT: co !== null, wantDf: needDf }, data);
      buildMs += performance.now() - tb;
      sessions.push(
        await ort.InferenceSession.create(bytes, {
          intraOpNumThreads: job.intraOpThreads,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
        }),
      );
      bytes = null;
    }
    // The centred copies now live in the sessions; drop ours before the runs.
    (data as { x: Float32Array | null }).x = null;
    (data as { x2: Float32Array | null }).x2 = null;
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
      if (!welch) tLow = Math.min(tLow, tHigh); // Student: one df, band is the rounding margin only
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
    const fillMaps = (p: number, exact: boolean): void => {
      const m = map as Float64Array;
      const c2u = cellOfUnit as Int32Array;
      for (const part of tParts) {
        const off = p * part.len;
        for (let k = 0; k < part.len; k++) {
          const u = part.start + k;
          const t = data.bad[u] ? NaN : part.t[off + k];
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
      const bs = Math.min(P, total - done);
      for (let p = 0; p < bs; p++) {
        const lab = done + p === 0 ? labels : permuter.next();
        const base = p * rows;
        for (let r = 0; r < rows; r++) L[base + r] = lab[r];
      }
      const feeds = { L: new ort.Tensor('float32', bs === P ? L : L.subarray(0, bs * rows), [bs, rows]) };
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
        for (const part of tParts) for (let k = 0; k < part.len; k++) tObs[part.start + k] = part.t[k];
        for (let u = 0; u < units; u++) if (data.bad[u]) tObs[u] = NaN;
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
