import { describe, expect, it } from 'vitest';
import { findClusters, maxClusterStats } from '../../src/stats/clusters.ts';
import { Moments } from '../../src/stats/moments.ts';
import { LabelPermuter, countAtLeast, permutationTest, type PermutationOptions } from '../../src/stats/permutation.ts';
import { Rng } from '../../src/stats/rng.ts';
import { tStatistic, tTest, type TestKind } from '../../src/stats/ttest.ts';
import { expectClose } from './helpers.ts';

function nullData(rows: number, units: number, rng: Rng): Float32Array {
  const m = new Float32Array(rows * units);
  for (let i = 0; i < m.length; i++) m[i] = rng.nextNormal();
  return m;
}

function labelsOf(nA: number, nB: number, rng?: Rng): Uint8Array {
  const l = new Uint8Array(nA + nB);
  l.fill(1, 0, nA);
  if (rng) rng.shuffle(l);
  return l;
}

/** t per unit for a labelling, via Moments + tStatistic (the independent path). */
function bruteT(matrix: Float32Array, rows: number, units: number, labels: Uint8Array, test: TestKind): Float64Array {
  const a = new Moments(units);
  const b = new Moments(units);
  for (let r = 0; r < rows; r++) (labels[r] ? a : b).push(matrix, r * units);
  return tStatistic(a, b, test);
}

describe('permutationTest against a brute-force recomputation', () => {
  const rng = new Rng(42);
  const rows = 15;
  const units = 12;
  const matrix = nullData(rows, units, rng);
  for (let r = 0; r < rows; r++) {
    matrix[r * units + 0] = 0.25; // constant unit → t = 0 always
    matrix[r * units + 1] = 5000 + 0.1 * rng.nextNormal(); // large offset
    if (r < 6) matrix[r * units + 2] += 2; // an effect
    matrix[r * units + 4] = r === 3 ? 5 : 0; // sparse ReLU-like unit: one spike, exact zeros elsewhere
    matrix[r * units + 5] = r === 8 ? 40 : 1e-6 * rng.nextNormal(); // a spike over tiny noise
  }
  const labels = labelsOf(6, 9);
  // 12 units on a 4×4 sheet, 4 cells empty
  const cellOfUnit = Int32Array.from([0, 1, 2, 5, 6, 7, 8, 9, 11, 12, 14, 15]);

  for (const test of ['welch', 'student'] as TestKind[]) {
    it(`max |t| null, cluster nulls and p-values (${test})`, () => {
      const nPerm = 60;
      const opts: PermutationOptions = {
        nPerm,
        seed: 3,
        test,
        cluster: { rows: 4, cols: 4, cellOfUnit, threshold: 1.5, connectivity: 4 },
        batch: 7,
        blockUnits: 5,
      };
      const res = permutationTest(matrix, rows, units, labels, opts);
      // observed t = the Welford tTest
      const tObs = tTest(
        ...(() => {
          const a = new Moments(units);
          const b = new Moments(units);
          for (let r = 0; r < rows; r++) (labels[r] ? a : b).push(matrix, r * units);
          return [a, b] as const;
        })(),
        test,
      ).t;
      for (let u = 0; u < units; u++) expectClose(res.tObs[u], tObs[u], 1e-11, 1e-13, `tObs[${u}]`);
      expect(res.tObs[0]).toBe(0);

      const perm = new LabelPermuter(labels, 3);
      const map = new Float64Array(16);
      for (let k = 0; k < nPerm; k++) {
        const l = perm.next();
        let nA = 0;
        for (const v of l) nA += v;
        expect(nA).toBe(6); // group sizes kept
        const t = bruteT(matrix, rows, units, l, test);
        let m = 0;
        for (let u = 0; u < units; u++) m = Math.max(m, Math.abs(t[u]));
        expectClose(res.maxNull[k], m, 1e-10, 0, `maxNull[${k}]`);
        map.fill(NaN);
        for (let u = 0; u < units; u++) map[cellOfUnit[u]] = t[u];
        const cs = maxClusterStats(map, 4, 4, { threshold: 1.5, scale: 'abs-t', connectivity: 4 });
        expect(res.cluster!.sizeNull[k]).toBe(cs.maxSize);
        expectClose(res.cluster!.massNull[k], cs.maxMass, 1e-10, 0, `massNull[${k}]`);
      }
      // p_FWE = (1 + #{null ≥ |t_obs|}) / (1 + nPerm)
      for (let u = 0; u < units; u++) {
        const count = Array.from(res.maxNull).filter((v) => v >= Math.abs(res.tObs[u])).length;
        expect(res.pFWE[u]).toBe((1 + count) / (1 + nPerm));
      }
      // cluster-level p for the observed clusters
      map.fill(NaN);
      for (let u = 0; u < units; u++) map[cellOfUnit[u]] = res.tObs[u];
      const obs = findClusters(map, 4, 4, { threshold: 1.5, scale: 'abs-t', connectivity: 4 });
      expect(res.cluster!.clusters.length).toBe(obs.clusters.length);
      expect(Array.from(res.cluster!.labels)).toEqual(Array.from(obs.labels));
      for (const c of res.cluster!.clusters) {
        expect(c.pMass).toBe((1 + Array.from(res.cluster!.massNull).filter((v) => v >= c.mass).length) / (1 + nPerm));
        expect(c.pSize).toBe((1 + Array.from(res.cluster!.sizeNull).filter((v) => v >= c.size).length) / (1 + nPerm));
      }
    });
  }

  it("cluster scale 'p' uses the per-permutation Welch p", () => {
    const nPerm = 30;
    const res = permutationTest(matrix, rows, units, labels, {
      nPerm,
      seed: 9,
      cluster: { rows: 4, cols: 4, cellOfUnit, threshold: 0.2, scale: 'p', connectivity: 8 },
    });
    const perm = new LabelPermuter(labels, 9);
    const map = new Float64Array(16);
    const pMap = new Float64Array(16);
    for (let k = 0; k < nPerm; k++) {
      const l = perm.next();
      const a = new Moments(units);
      const b = new Moments(units);
      for (let r = 0; r < rows; r++) (l[r] ? a : b).push(matrix, r * units);
      const tt = tTest(a, b, 'welch');
      map.fill(NaN);
      pMap.fill(NaN);
      for (let u = 0; u < units; u++) {
        map[cellOfUnit[u]] = tt.t[u];
        pMap[cellOfUnit[u]] = tt.p[u];
      }
      const cs = maxClusterStats(map, 4, 4, { threshold: 0.2, scale: 'p', pMap, connectivity: 8 });
      expect(res.cluster!.sizeNull[k]).toBe(cs.maxSize);
      expectClose(res.cluster!.massNull[k], cs.maxMass, 1e-10, 0);
    }
  });

  it('blocking and batching do not change a single bit; same seed → same result; other seed differs', () => {
    const base = permutationTest(matrix, rows, units, labels, { nPerm: 40, seed: 1 });
    const other = permutationTest(matrix, rows, units, labels, { nPerm: 40, seed: 1, batch: 3, blockUnits: 1 });
    const again = permutationTest(matrix, rows, units, labels, { nPerm: 40, seed: 1 });
    expect(other).toEqual(base);
    expect(again).toEqual(base);
    const diff = permutationTest(matrix, rows, units, labels, { nPerm: 40, seed: 2 });
    expect(Array.from(diff.maxNull)).not.toEqual(Array.from(base.maxNull));
    expect(diff.tObs).toEqual(base.tObs);
  });
});

describe('permutation FWE validity', () => {
  it('under the null the family-wise false-positive rate stays at alpha (200 data sets × 99 permutations)', () => {
    const rng = new Rng(2024);
    const sets = 200;
    const nPerm = 99;
    const rows = 13;
    const units = 16;
    let anyUnit = 0;
    let anyCluster = 0;
    let minP = 1;
    for (let s = 0; s < sets; s++) {
      const matrix = nullData(rows, units, rng);
      const labels = labelsOf(6, 7, rng);
      const res = permutationTest(matrix, rows, units, labels, {
        nPerm,
        seed: s,
        cluster: { rows: 4, cols: 4, threshold: 2, connectivity: 8 },
      });
      expect(res.maxNull.length).toBe(nPerm); // the identity is not among the nPerm
      let p = 1;
      for (const v of res.pFWE) p = Math.min(p, v);
      minP = Math.min(minP, p);
      if (p <= 0.05) anyUnit++;
      if (res.cluster!.clusters.some((c) => c.pMass <= 0.05)) anyCluster++;
    }
    // P(min p_FWE ≤ 0.05) = 5/100 exactly for an exchangeable null; Binomial(200, 0.05): P(X ≥ 21) < 0.001
    expect(anyUnit).toBeLessThanOrEqual(20);
    expect(anyUnit).toBeGreaterThanOrEqual(2); // and the test is not dead
    expect(anyCluster).toBeLessThanOrEqual(20);
    expect(minP).toBeGreaterThanOrEqual(1 / (nPerm + 1));
  });

  it('detects a strong effect at the smallest attainable p', () => {
    const rng = new Rng(5);
    const rows = 20;
    const units = 10;
    const matrix = nullData(rows, units, rng);
    for (let r = 0; r < 10; r++) matrix[r * units + 3] += 4;
    const res = permutationTest(matrix, rows, units, labelsOf(10, 10), { nPerm: 199, seed: 1 });
    expect(res.pFWE[3]).toBe(1 / 200);
    expect(res.tObs[3]).toBeGreaterThan(5);
    expect(Array.from(res.pFWE).filter((p) => p <= 0.05).length).toBe(1);
  });
});

describe('permutationTest input checks', () => {
  const m = new Float32Array(6 * 2);
  it('rejects bad labels, tiny groups, bad sheets', () => {
    expect(() => permutationTest(m, 6, 2, Uint8Array.from([1, 1, 2, 0, 0, 0]), { nPerm: 5, seed: 1 })).toThrow(/labels must be 1/);
    expect(() => permutationTest(m, 6, 2, Uint8Array.from([1, 0, 0, 0, 0, 0]), { nPerm: 5, seed: 1 })).toThrow(/at least 2/);
    expect(() => permutationTest(m, 6, 2, Uint8Array.from([1, 1, 0, 0, 0]), { nPerm: 5, seed: 1 })).toThrow(/labels for 6 rows/);
    expect(() => permutationTest(m, 6, 2, Uint8Array.from([1, 1, 0, 0, 0, 0]), { nPerm: 0, seed: 1 })).toThrow(/nPerm/);
    const l = Uint8Array.from([1, 1, 1, 0, 0, 0]);
    expect(() =>
      permutationTest(m, 6, 2, l, { nPerm: 5, seed: 1, cluster: { rows: 2, cols: 2, cellOfUnit: Int32Array.from([1, 1]), threshold: 2, connectivity: 4 } }),
    ).toThrow(/two units/);
    expect(() => permutationTest(m, 6, 2, l, { nPerm: 5, seed: 1, cluster: { rows: 2, cols: 2, threshold: 2, connectivity: 4 } })).toThrow(/needs 4 units/);
  });

  it('countAtLeast counts v ≥ x in a sorted array', () => {
    const s = Float64Array.from([1, 2, 2, 3]);
    expect([0, 1, 2, 2.5, 3, 4].map((x) => countAtLeast(s, x))).toEqual([4, 4, 3, 1, 1, 0]);
  });
});
