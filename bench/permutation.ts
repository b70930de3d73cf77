/**
 * Permutation-inference benchmark: permutationTestOrt (ONNX Runtime matrix products in a worker thread) on
 * random data (seeded normal noise plus a small planted effect), max-|t| only and with cluster statistics
 * on a square sheet. Each case runs in its own child process so that its peak RSS is its own.
 *
 *   node --import tsx bench/permutation.ts [--perms 10000] [--units 36864] [--stimuli 1000] [--na N]
 *        [--test welch|student] [--only max|cluster] [--threshold 3] [--threads N] [--block P] [--seed 1]
 *        [--reference] [--json FILE]
 *
 * Default: the target case, 10,000 permutations × 36,864 units × 1,000 stimuli, Welch with 400 vs 600
 * stimuli (unequal groups: the general two-MatMul path; with equal groups Welch's t equals Student's and
 * the engine needs one MatMul), clusters on a 192 × 192 sheet at |t| ≥ 3, 8-connectivity.
 * --reference also times the pure-JS permutationTest and compares (use it on small cases only).
 * Prints, per case: seconds (the whole call: worker start, model build, sessions, permutations, clusters),
 * permutations/second, where the time went, peak RSS of the process, and the load average around the run
 * (the machine may be shared: a load above the core count means the figures are pessimistic).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { permutationTestOrtTimed, type CoreTimings, type OrtPermutationOptions } from '../src/pipeline/permutation-engine.ts';
import { permutationTest } from '../src/stats/permutation.ts';
import { Rng } from '../src/stats/rng.ts';

const { values: args } = parseArgs({
  options: {
    perms: { type: 'string', default: '10000' },
    units: { type: 'string', default: '36864' },
    stimuli: { type: 'string', default: '1000' },
    na: { type: 'string' },
    test: { type: 'string', default: 'welch' },
    only: { type: 'string' },
    threshold: { type: 'string', default: '3' },
    threads: { type: 'string' },
    block: { type: 'string' },
    seed: { type: 'string', default: '1' },
    reference: { type: 'boolean', default: false },
    json: { type: 'string' },
    case: { type: 'string' }, // internal: run one case in this process
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

if (args.help) {
  console.log(`usage: node --import tsx bench/permutation.ts [options]
  --perms N       permutations (default 10000)
  --units N       units (default 36864; cluster case needs a square, else the sheet is the TopoLoss grid)
  --stimuli N     stimuli (default 1000)
  --na N          stimuli in condition A (default 40% of the stimuli)
  --test T        welch | student (default welch)
  --only C        max | cluster (default: both)
  --threshold X   cluster-forming |t| threshold (default 3)
  --threads N     ONNX Runtime intra-op threads (default: cores)
  --block P       permutations per run (default: the engine's)
  --seed S        data and permutation seed (default 1)
  --reference     also run the pure-JS reference and compare (small cases only)
  --json FILE     also write the results as JSON`);
  process.exit(0);
}

function posInt(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`${flag} must be a positive integer (got '${v}')`);
    process.exit(2);
  }
  return n;
}
const PERMS = posInt(args.perms, '--perms')!;
const UNITS = posInt(args.units, '--units')!;
const STIMULI = posInt(args.stimuli, '--stimuli')!;
const NA = posInt(args.na, '--na') ?? Math.round(0.4 * STIMULI);
const THREADS = posInt(args.threads, '--threads');
const BLOCK = posInt(args.block, '--block');
const SEED = Number(args.seed);
const TEST = args.test as 'welch' | 'student';
const THRESHOLD = Number(args.threshold);
if (TEST !== 'welch' && TEST !== 'student') {
  console.error(`--test must be welch or student (got '${args.test}')`);
  process.exit(2);
}
if (NA < 2 || STIMULI - NA < 2) {
  console.error(`--na must leave at least 2 stimuli in each condition (stimuli ${STIMULI}, na ${NA})`);
  process.exit(2);
}
if (args.only !== undefined && args.only !== 'max' && args.only !== 'cluster') {
  console.error(`--only must be max or cluster (got '${args.only}')`);
  process.exit(2);
}

/** TopoLoss sheet: H = the largest divisor of n that is ≤ √n. */
function sheet(n: number): { rows: number; cols: number } {
  let h = Math.floor(Math.sqrt(n));
  while (n % h !== 0) h--;
  return { rows: h, cols: n / h };
}

interface CaseResult {
  case: 'max' | 'cluster';
  perms: number;
  units: number;
  stimuli: number;
  nA: number;
  test: string;
  sheet: string | null;
  threads: number;
  seconds: number;
  permsPerSecond: number;
  timings: CoreTimings;
  generateSeconds: number;
  peakRssMB: number;
  loadavgBefore: number[];
  loadavgAfter: number[];
  observedClusters?: number;
  minPFWE: number;
  reference?: { seconds: number; maxRelT: number; maxRelNull: number; pFWEDiffs: number; clusterNullDiffs?: number };
}

async function runCase(kind: 'max' | 'cluster'): Promise<CaseResult> {
  const g0 = performance.now();
  const rng = new Rng(SEED);
  const matrix = new Float32Array(STIMULI * UNITS);
  for (let i = 0; i < matrix.length; i++) matrix[i] = rng.nextNormal();
  const labels = new Uint8Array(STIMULI);
  labels.fill(1, 0, NA);
  rng.shuffle(labels);
  const sh = sheet(UNITS);
  // planted effect: A > B by 0.4 SD on a disc of radius rows/10 around the sheet's centre
  const rad = Math.max(1, sh.rows / 10);
  for (let u = 0; u < UNITS; u++) {
    const dr = Math.floor(u / sh.cols) - sh.rows / 2;
    const dc = (u % sh.cols) - sh.cols / 2;
    if (dr * dr + dc * dc > rad * rad) continue;
    for (let r = 0; r < STIMULI; r++) if (labels[r]) matrix[r * UNITS + u] += 0.4;
  }
  const generateSeconds = (performance.now() - g0) / 1000;

  const opts: OrtPermutationOptions = {
    nPerm: PERMS,
    seed: SEED,
    test: TEST,
    intraOpThreads: THREADS,
    blockPerms: BLOCK,
    cluster: kind === 'cluster' ? { rows: sh.rows, cols: sh.cols, threshold: THRESHOLD, connectivity: 8 } : undefined,
  };
  const loadavgBefore = os.loadavg();
  const t0 = performance.now();
  const { result, timings } = await permutationTestOrtTimed(matrix, STIMULI, UNITS, labels, opts);
  const seconds = (performance.now() - t0) / 1000;
  const loadavgAfter = os.loadavg();
  const out: CaseResult = {
    case: kind,
    perms: PERMS,
    units: UNITS,
    stimuli: STIMULI,
    nA: NA,
    test: TEST,
    sheet: kind === 'cluster' ? `${sh.rows}x${sh.cols}` : null,
    threads: THREADS ?? os.availableParallelism(),
    seconds,
    permsPerSecond: PERMS / seconds,
    timings,
    generateSeconds,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    loadavgBefore,
    loadavgAfter,
    observedClusters: result.cluster?.clusters.length,
    minPFWE: Math.min(...result.pFWE.filter((p) => !Number.isNaN(p))),
  };
  if (args.reference) {
    const r0 = performance.now();
    const ref = permutationTest(matrix, STIMULI, UNITS, labels, opts);
    const refSeconds = (performance.now() - r0) / 1000;
    let maxRelT = 0;
    let maxRelNull = 0;
    let pFWEDiffs = 0;
    for (let u = 0; u < UNITS; u++) {
      maxRelT = Math.max(maxRelT, Math.abs(result.tObs[u] - ref.tObs[u]) / Math.max(1, Math.abs(ref.tObs[u])));
      if (result.pFWE[u] !== ref.pFWE[u]) pFWEDiffs++;
    }
    for (let j = 0; j < PERMS; j++) maxRelNull = Math.max(maxRelNull, Math.abs(result.maxNull[j] - ref.maxNull[j]) / ref.maxNull[j]);
    out.reference = { seconds: refSeconds, maxRelT, maxRelNull, pFWEDiffs };
    if (result.cluster && ref.cluster) {
      let d = 0;
      for (let j = 0; j < PERMS; j++) {
        if (result.cluster.sizeNull[j] !== ref.cluster.sizeNull[j] || Math.abs(result.cluster.massNull[j] - ref.cluster.massNull[j]) > 1e-4 * Math.max(1, ref.cluster.massNull[j])) d++;
      }
      out.reference.clusterNullDiffs = d;
    }
  }
  return out;
}

function runChild(kind: 'max' | 'cluster'): Promise<CaseResult> {
  const self = fileURLToPath(import.meta.url);
  const argv = ['--import', 'tsx', self, '--case', kind, '--perms', String(PERMS), '--units', String(UNITS), '--stimuli', String(STIMULI), '--na', String(NA), '--test', TEST, '--threshold', String(THRESHOLD), '--seed', String(SEED)];
  if (THREADS) argv.push('--threads', String(THREADS));
  if (BLOCK) argv.push('--block', String(BLOCK));
  if (args.reference) argv.push('--reference');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`bench case '${kind}' exited with code ${code}`));
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as CaseResult);
      } catch {
        reject(new Error(`bench case '${kind}' printed no result: ${stdout}`));
      }
    });
  });
}

function report(r: CaseResult): void {
  const t = r.timings;
  const f = (ms: number) => (ms / 1000).toFixed(2);
  const setup = t.totalMs - t.runMs - t.clusterMs;
  console.log(
    `${r.case === 'max' ? 'max-|t| only      ' : `clusters ${r.sheet?.padEnd(9)}`}  ${r.seconds.toFixed(2).padStart(7)} s   ${r.permsPerSecond.toFixed(0).padStart(6)} perm/s   ` +
      `peak RSS ${r.peakRssMB.toFixed(0)} MB   [setup ${f(setup)} s (model ${f(t.buildMs)}, sessions ${f(t.sessionMs - t.buildMs)}), runs ${f(t.runMs)} s, clusters ${f(t.clusterMs)} s; ` +
      `worker start + transfer ${f(r.seconds * 1000 - t.totalMs)} s]`,
  );
  if (r.reference) {
    const x = r.reference;
    console.log(
      `  JS reference ${x.seconds.toFixed(2)} s (ratio reference / engine ${(x.seconds / r.seconds).toFixed(1)}); max rel |Δt| ${x.maxRelT.toExponential(1)}, max rel |Δnull| ${x.maxRelNull.toExponential(1)}, ` +
        `p_FWE differences ${x.pFWEDiffs}${x.clusterNullDiffs !== undefined ? `, cluster nulls differing ${x.clusterNullDiffs}` : ''}`,
    );
  }
}

if (args.case) {
  const res = await runCase(args.case as 'max' | 'cluster');
  process.stdout.write(`${JSON.stringify(res)}\n`);
} else {
  const cases: ('max' | 'cluster')[] = args.only ? [args.only as 'max' | 'cluster'] : ['max', 'cluster'];
  const sh = sheet(UNITS);
  console.log(
    `permutation bench: ${PERMS} permutations × ${UNITS} units × ${STIMULI} stimuli (${NA} vs ${STIMULI - NA}), ${TEST}; ` +
      `${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? '?'}), ORT threads ${THREADS ?? os.availableParallelism()}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  );
  const results: CaseResult[] = [];
  for (const c of cases) {
    if (c === 'cluster') console.log(`(cluster case: ${sh.rows}×${sh.cols} sheet, |t| ≥ ${THRESHOLD}, 8-connectivity)`);
    const r = await runChild(c);
    results.push(r);
    report(r);
  }
  if (args.json) fs.writeFileSync(args.json, `${JSON.stringify(results, null, 2)}\n`);
}
