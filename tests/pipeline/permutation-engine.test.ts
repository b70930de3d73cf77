/**
 * The ONNX Runtime permutation engine against the pure-JS reference permutationTest: same permutations for
 * the same seed, t / max-|t| null / cluster nulls within float32 error, p_FWE equal except at near-ties
 * (counted and bounded), determinism, zero-variance and non-finite units, Student and the 'p' cluster scale.
 */
import { describe, expect, it } from 'vitest';
import * as onnxruntime from 'onnxruntime-node';
import { PermutationStopped, permutationTestOrt, permutationTestOrtTimed, runPermutationCore, type OrtPermutationOptions } from '../../src/pipeline/permutation-engine.ts';
import { LabelPermuter, permutationTest, type PermutationResult } from '../../src/stats/permutation.ts';
import { Rng } from '../../src/stats/rng.ts';
import type { TestKind } from '../../src/stats/ttest.ts';

const SIDE = 12;
const UNITS = SIDE * SIDE;
/** t agreement: |Δt| ≤ T_REL·max(1, |t|) (float32 sums vs float64). */
const T_REL = 1e-4;

interface Dataset {
  matrix: Float32Array;
  rows: number;
  labels: Uint8Array;
}

/** Noise + a planted A > B effect on a disc of the 12×12 sheet, an offset unit, a sparse unit, and special units. */
function dataset(nA: number, nB: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const rows = nA + nB;
  const labels = new Uint8Array(rows);
  labels.fill(1, 0, nA);
  rng.shuffle(labels);
  const matrix = new Float32Array(rows * UNITS);
  for (let i = 0; i < matrix.length; i++) matrix[i] = rng.nextNormal();
  for (let r = 0; r < rows; r++) {
    const o = r * UNITS;
    for (let u = 0; u < UNITS; u++) {
      const dr = Math.floor(u / SIDE) - 4;
      const dc = (u % SIDE) - 5;
      if (labels[r] && dr * dr + dc * dc <= 6) matrix[o + u] += 1.3; // blob of ~21 units
      if (labels[r] && u === 130) matrix[o + u] -= 1.5; // one negative unit
    }
    matrix[o + 140] = 0.75; // constant → t = 0
    matrix[o + 141] = labels[r] ? 2.5 : -1; // constant within each group → t = 0 (observed labelling)
    matrix[o + 142] = 5000 + 0.1 * rng.nextNormal(); // large offset
    matrix[o + 143] = r === 3 ? 7 : 0; // sparse, ReLU-like
  }
  return { matrix, rows, labels };
}

/** float64 t of one labelling (Welch or Student), as the reference defines it. */
function tOf(d: Dataset, lab: Uint8Array, u: number, test: TestKind): number {
  let nA = 0;
  let sA = 0;
  let sB = 0;
  for (let r = 0; r < d.rows; r++) {
    if (lab[r]) {
      nA++;
      sA += d.matrix[r * UNITS + u];
    } else sB += d.matrix[r * UNITS + u];
  }
  const nB = d.rows - nA;
  const mA = sA / nA;
  const mB = sB / nB;
  let qA = 0;
  let qB = 0;
  for (let r = 0; r < d.rows; r++) {
    const x = d.matrix[r * UNITS + u];
    if (lab[r]) qA += (x - mA) ** 2;
    else qB += (x - mB) ** 2;
  }
  if (test === 'welch') return (mA - mB) / Math.sqrt(qA / (nA - 1) / nA + qB / (nB - 1) / nB);
  return (mA - mB) / Math.sqrt(((qA + qB) / (nA + nB - 2)) * (1 / nA + 1 / nB));
}

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(1, Math.abs(b));
}

/**
 * Compares an ORT result with the reference. p_FWE may differ only for a unit whose |t_obs| has a null
 * maximum within float32 error (a near-tie); returns the number of such units.
 */
function compare(ort: PermutationResult, ref: PermutationResult): { pDiffs: number; nearTies: number } {
  expect(ort.nPerm).toBe(ref.nPerm);
  expect([ort.nA, ort.nB, ort.test, ort.seed]).toEqual([ref.nA, ref.nB, ref.test, ref.seed]);
  let maxT = 0;
  for (let u = 0; u < ref.tObs.length; u++) {
    if (Number.isNaN(ref.tObs[u])) {
      expect(ort.tObs[u], `tObs[${u}]`).toBeNaN();
      expect(ort.pFWE[u]).toBeNaN();
      continue;
    }
    maxT = Math.max(maxT, relErr(ort.tObs[u], ref.tObs[u]));
  }
  expect(maxT).toBeLessThan(T_REL);
  let maxN = 0;
  for (let j = 0; j < ref.nPerm; j++) maxN = Math.max(maxN, relErr(ort.maxNull[j], ref.maxNull[j]));
  expect(maxN).toBeLessThan(T_REL);
  let pDiffs = 0;
  let nearTies = 0;
  for (let u = 0; u < ref.tObs.length; u++) {
    const at = Math.abs(ref.tObs[u]);
    if (Number.isNaN(at)) continue;
    const near = ref.maxNull.some((m) => Math.abs(m - at) <= T_REL * Math.max(1, at));
    if (near) nearTies++;
    if (ort.pFWE[u] !== ref.pFWE[u]) {
      pDiffs++;
      expect(near, `p_FWE of unit ${u} differs without a near-tie`).toBe(true);
      expect(Math.abs(ort.pFWE[u] - ref.pFWE[u]) * (1 + ref.nPerm)).toBeLessThanOrEqual(2);
    }
  }
  return { pDiffs, nearTies };
}

/** Cluster nulls: equal sizes and masses within float32 error, except for permutations with a cell within float32 error of the threshold. */
function compareClusters(d: Dataset, ort: PermutationResult, ref: PermutationResult, test: TestKind, threshold: number, seed: number): number {
  const oc = ort.cluster!;
  const rc = ref.cluster!;
  expect(oc.labels).toEqual(rc.labels);
  expect(oc.clusters.length).toBe(rc.clusters.length);
  for (let i = 0; i < rc.clusters.length; i++) {
    const a = oc.clusters[i];
    const b = rc.clusters[i];
    expect([a.id, a.sign, a.size, a.peakIndex, a.peakRow, a.peakCol, a.centroidRow, a.centroidCol]).toEqual([b.id, b.sign, b.size, b.peakIndex, b.peakRow, b.peakCol, b.centroidRow, b.centroidCol]);
    expect(relErr(a.mass, b.mass)).toBeLessThan(T_REL);
    expect(relErr(a.peakT, b.peakT)).toBeLessThan(T_REL);
    expect(a.pSize).toBe(b.pSize);
    expect(Math.abs(a.pMass - b.pMass) * (1 + ref.nPerm)).toBeLessThanOrEqual(1);
  }
  const perm = new LabelPermuter(d.labels, seed);
  let edgy = 0;
  for (let j = 0; j < ref.nPerm; j++) {
    const lab = perm.next();
    if (oc.sizeNull[j] === rc.sizeNull[j] && Math.abs(oc.massNull[j] - rc.massNull[j]) <= T_REL * Math.max(1, rc.massNull[j])) continue;
    // only acceptable if some unit's t sits on the threshold within float32 error
    let onEdge = false;
    for (let u = 0; u < UNITS && !onEdge; u++) if (Math.abs(Math.abs(tOf(d, lab, u, test)) - threshold) <= T_REL * threshold) onEdge = true;
    expect(onEdge, `cluster null ${j} differs away from the threshold`).toBe(true);
    edgy++;
  }
  return edgy;
}

const base = (test: TestKind, nPerm = 300, seed = 11): OrtPermutationOptions => ({
  nPerm,
  seed,
  test,
  cluster: { rows: SIDE, cols: SIDE, threshold: 2.2, connectivity: 8 },
  intraOpThreads: 1,
});

describe('permutationTestOrt', () => {
  const welch = dataset(15, 22, 5);

  it('Welch (unequal groups): matches the reference for the same seed, with cluster nulls; several models, chunks and blocks', async () => {
    const opts = base('welch');
    const ref = permutationTest(welch.matrix, welch.rows, UNITS, welch.labels, opts);
    // small chunks, blocks that do not divide nPerm + 1, and one model per chunk
    const { result: ort, timings } = await permutationTestOrtTimed(welch.matrix, welch.rows, UNITS, welch.labels, { ...opts, unitChunk: 48, blockPerms: 64, maxModelBytes: 1 });
    expect(timings.sessions).toBe(3);
    expect(timings.chunks).toBe(3);
    const { pDiffs, nearTies } = compare(ort, ref);
    expect(pDiffs).toBeLessThanOrEqual(nearTies);
    expect(pDiffs).toBeLessThanOrEqual(1);
    expect(compareClusters(welch, ort, ref, 'welch', 2.2, 11)).toBeLessThanOrEqual(2);
    // the planted effect is found, the special units behave as tTest
    expect(ort.cluster!.clusters[0].size).toBeGreaterThanOrEqual(15);
    expect(ort.cluster!.clusters[0].pMass).toBeLessThan(0.05);
    expect(ort.tObs[140]).toBe(0); // constant unit
    expect(ort.tObs[141]).toBe(0); // zero variance in both groups
    expect(ort.pFWE[140]).toBe(1);
    expect(ort.pFWE[141]).toBe(1);
    expect(ort.tObs[130]).toBeLessThan(-2);
    // t_obs is computed by the same engine: its max is not beyond every null unless p_FWE says so
    const maxObs = Math.max(...Array.from(ort.tObs, Math.abs));
    const minP = Math.min(...ort.pFWE);
    expect(minP).toBe((1 + ort.maxNull.filter((m) => m >= maxObs).length) / (1 + opts.nPerm));
  });

  it('same seed → identical results (other chunking and threads too); another seed → other nulls', async () => {
    const opts = { ...base('welch', 200, 99), cluster: undefined };
    const a = await permutationTestOrt(welch.matrix, welch.rows, UNITS, welch.labels, opts);
    const b = await permutationTestOrt(welch.matrix, welch.rows, UNITS, welch.labels, { ...opts, intraOpThreads: 2, blockPerms: 37, unitChunk: 50 });
    expect(b.maxNull).toEqual(a.maxNull);
    expect(b.tObs).toEqual(a.tObs);
    expect(b.pFWE).toEqual(a.pFWE);
    expect(a.cluster).toBeUndefined();
    const c = await permutationTestOrt(welch.matrix, welch.rows, UNITS, welch.labels, { ...opts, seed: 100 });
    expect(c.tObs).toEqual(a.tObs);
    let same = 0;
    for (let j = 0; j < opts.nPerm; j++) if (c.maxNull[j] === a.maxNull[j]) same++;
    expect(same).toBeLessThan(5);
    const ref = permutationTest(welch.matrix, welch.rows, UNITS, welch.labels, { ...opts, seed: 100 });
    compare(c, ref);
  });

  it('Student test and Welch with equal groups (one MatMul) match the reference; explicit cellOfUnit', async () => {
    const d = dataset(18, 18, 8);
    for (const test of ['student', 'welch'] as TestKind[]) {
      const opts = base(test, 250, 3);
      const ref = permutationTest(d.matrix, d.rows, UNITS, d.labels, opts);
      const ort = await permutationTestOrt(d.matrix, d.rows, UNITS, d.labels, opts);
      const { pDiffs } = compare(ort, ref);
      expect(pDiffs).toBeLessThanOrEqual(1);
      expect(compareClusters(d, ort, ref, test, 2.2, 3)).toBeLessThanOrEqual(2);
      expect(ort.tObs[140]).toBe(0);
      expect(ort.tObs[141]).toBe(0);
    }
    // units placed by an explicit cellOfUnit on a larger sheet (empty cells are NaN in the maps)
    const cellOfUnit = new Rng(2).shuffle(Int32Array.from({ length: 13 * 12 }, (_, i) => i)).slice(0, UNITS);
    const opts: OrtPermutationOptions = { nPerm: 120, seed: 4, test: 'student', cluster: { rows: 13, cols: 12, cellOfUnit, threshold: 1.8, connectivity: 4 }, intraOpThreads: 1 };
    const ref = permutationTest(d.matrix, d.rows, UNITS, d.labels, opts);
    const ort = await permutationTestOrt(d.matrix, d.rows, UNITS, d.labels, opts);
    compare(ort, ref);
    expect(ort.cluster!.labels).toEqual(ref.cluster!.labels);
    let differ = 0;
    for (let j = 0; j < opts.nPerm; j++) if (ort.cluster!.sizeNull[j] !== ref.cluster!.sizeNull[j] || relErr(ort.cluster!.massNull[j], ref.cluster!.massNull[j]) > T_REL) differ++;
    expect(differ).toBeLessThanOrEqual(1);
  });

  it("cluster-forming threshold on the 'p' scale (Welch df per unit; Student) matches the reference", async () => {
    for (const test of ['welch', 'student'] as TestKind[]) {
      const opts: OrtPermutationOptions = { nPerm: 150, seed: 21, test, cluster: { rows: SIDE, cols: SIDE, threshold: 0.02, scale: 'p', connectivity: 4 }, intraOpThreads: 1 };
      const ref = permutationTest(welch.matrix, welch.rows, UNITS, welch.labels, opts);
      const ort = await permutationTestOrt(welch.matrix, welch.rows, UNITS, welch.labels, opts);
      compare(ort, ref);
      const oc = ort.cluster!;
      const rc = ref.cluster!;
      expect(oc.labels).toEqual(rc.labels);
      expect(oc.clusters.map((c) => [c.size, c.pSize])).toEqual(rc.clusters.map((c) => [c.size, c.pSize]));
      let differ = 0;
      for (let j = 0; j < opts.nPerm; j++) if (oc.sizeNull[j] !== rc.sizeNull[j] || relErr(oc.massNull[j], rc.massNull[j]) > T_REL) differ++;
      expect(differ).toBeLessThanOrEqual(1);
    }
  });

  it('non-finite units get NaN t and p and stay out of the nulls; permutations equal to the observed labelling tie exactly', async () => {
    // 5 stimuli (2 vs 3): only 10 labellings, so many permutations equal the observed one
    const rng = new Rng(4);
    const rows = 5;
    const labels = Uint8Array.from([1, 0, 1, 0, 0]);
    const matrix = new Float32Array(rows * UNITS);
    for (let i = 0; i < matrix.length; i++) matrix[i] = rng.nextNormal();
    matrix[2 * UNITS + 7] = NaN;
    matrix[4 * UNITS + 8] = Infinity;
    const opts: OrtPermutationOptions = { nPerm: 60, seed: 1, test: 'welch', intraOpThreads: 1 };
    const ref = permutationTest(matrix, rows, UNITS, labels, opts);
    const ort = await permutationTestOrt(matrix, rows, UNITS, labels, opts);
    expect(ort.tObs[7]).toBeNaN();
    expect(ort.tObs[8]).toBeNaN();
    expect(ort.pFWE[7]).toBeNaN();
    compare(ort, ref);
    const maxObs = Math.max(...Array.from(ort.tObs).filter((t) => !Number.isNaN(t)).map(Math.abs));
    const perm = new LabelPermuter(labels, 1);
    let identical = 0;
    for (let j = 0; j < opts.nPerm; j++) {
      if (perm.next().every((v, r) => v === labels[r])) {
        identical++;
        expect(ort.maxNull[j]).toBe(maxObs); // bit-identical to the observed labelling's max |t|
      }
    }
    expect(identical).toBeGreaterThan(2);
    expect(Math.min(...ort.pFWE.filter((p) => !Number.isNaN(p)))).toBeGreaterThanOrEqual((1 + identical) / (1 + opts.nPerm));
  });

  it('reports progress, can be aborted, and validates its input', async () => {
    const seen: number[] = [];
    await permutationTestOrt(welch.matrix, welch.rows, UNITS, welch.labels, { nPerm: 99, seed: 2, blockPerms: 40, intraOpThreads: 1, onProgress: (done, total) => seen.push(done, total) });
    expect(seen).toEqual([40, 100, 80, 100, 100, 100]);

    const ac = new AbortController();
    const p = permutationTestOrt(welch.matrix, welch.rows, UNITS, welch.labels, { nPerm: 50, seed: 2, signal: ac.signal, intraOpThreads: 1 });
    ac.abort();
    await expect(p).rejects.toThrow(/aborted/);

    // Aborted while running: the worker stops between blocks (never terminated inside ONNX Runtime)
    // and the promise rejects once it has, long before the 2,500 blocks are done (the worker may be a
    // few blocks past the progress message that the abort answers).
    const ac2 = new AbortController();
    const after: number[] = [];
    let atAbort = -1;
    const running = permutationTestOrt(welch.matrix, welch.rows, UNITS, welch.labels, {
      nPerm: 100_000,
      seed: 2,
      blockPerms: 40,
      signal: ac2.signal,
      intraOpThreads: 1,
      onProgress: (done) => {
        if (atAbort < 0) {
          atAbort = done;
          ac2.abort();
        } else after.push(done);
      },
    });
    await expect(running).rejects.toThrow(/aborted/);
    expect(atAbort).toBe(40);
    expect(Math.max(atAbort, ...after), `progress after the abort at ${atAbort}: ${after.join(', ')}`).toBeLessThan(4000);

    const bad = Uint8Array.from(welch.labels);
    bad[0] = 2;
    await expect(permutationTestOrt(welch.matrix, welch.rows, UNITS, bad, { nPerm: 5, seed: 1 })).rejects.toThrow(/labels must be 1 \(A\) or 0 \(B\)/);
    await expect(permutationTestOrt(welch.matrix, welch.rows, UNITS, new Uint8Array(welch.rows).fill(1, 0, 1), { nPerm: 5, seed: 1 })).rejects.toThrow(/at least 2 stimuli/);
    await expect(permutationTestOrt(welch.matrix, welch.rows, UNITS, welch.labels, { nPerm: 0, seed: 1 })).rejects.toThrow(/nPerm/);
    await expect(
      permutationTestOrt(welch.matrix, welch.rows, UNITS, welch.labels, { nPerm: 5, seed: 1, cluster: { rows: 10, cols: 10, threshold: 2, connectivity: 4 } }),
    ).rejects.toThrow(/needs 100 units/);
    await expect(
      permutationTestOrt(welch.matrix, welch.rows, UNITS, welch.labels, { nPerm: 5, seed: 1, cluster: { rows: SIDE, cols: SIDE, threshold: 2, scale: 'p', connectivity: 4 } }),
    ).rejects.toThrow(/p cluster-forming threshold/);
  });

  it('stops between blocks when its stop flag is set, releasing its sessions', async () => {
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const seen: number[] = [];
    const job = {
      matrix: welch.matrix,
      rows: welch.rows,
      units: UNITS,
      labels: Uint8Array.from(welch.labels),
      nPerm: 1000,
      seed: 3,
      test: 'welch' as const,
      nA: welch.labels.reduce((n, l) => n + l, 0),
      nB: welch.rows - welch.labels.reduce((n, l) => n + l, 0),
      cluster: null,
      blockPerms: 50,
      unitChunk: UNITS,
      intraOpThreads: 1,
      maxModelBytes: 1 << 30,
      stop,
    };
    const core = runPermutationCore(onnxruntime, job, (done) => {
      seen.push(done);
      if (done >= 100) Atomics.store(stop, 0, 1);
    });
    await expect(core).rejects.toBeInstanceOf(PermutationStopped);
    expect(seen).toEqual([50, 100]);
  });
});
