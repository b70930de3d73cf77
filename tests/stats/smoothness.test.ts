import { describe, expect, it } from 'vitest';
import { latticeOf, smoothnessCurve } from '../../src/stats/smoothness.ts';
import { Rng } from '../../src/stats/rng.ts';

function gridPositions(rows: number, cols: number): { x: Float64Array; y: Float64Array } {
  const x = new Float64Array(rows * cols);
  const y = new Float64Array(rows * cols);
  for (let i = 0; i < rows * cols; i++) {
    y[i] = Math.floor(i / cols);
    x[i] = i % cols;
  }
  return { x, y };
}

describe('smoothnessCurve', () => {
  it('bins every pair by distance exactly like a brute-force count', () => {
    const rng = new Rng(1);
    const n = 40;
    const v = new Float64Array(n);
    const x = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      v[i] = rng.nextNormal();
      x[i] = rng.nextFloat() * 10;
      y[i] = rng.nextFloat() * 5;
    }
    v[7] = NaN; // skipped
    const res = smoothnessCurve(v, x, y, { bins: 6, maxDistance: 8, chanceShuffles: 0 });
    const counts = new Array(6).fill(0);
    const sums = new Array(6).fill(0);
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        if (i === 7 || j === 7) continue;
        const d = Math.hypot(x[i] - x[j], y[i] - y[j]);
        if (d > 8) continue;
        const b = Math.min(5, Math.floor(d / (8 / 6)));
        counts[b]++;
        sums[b] += Math.abs(v[i] - v[j]);
      }
    }
    expect(Array.from(res.counts)).toEqual(counts);
    for (let b = 0; b < 6; b++) expect(res.meanAbsDiff[b]).toBeCloseTo(sums[b] / counts[b], 12);
    expect(res.unitsUsed).toBe(n - 1);
    expect(res.sampled).toBe(false);
    [1, 3, 5, 7, 9, 11].forEach((c, b) => expect(res.binCenters[b]).toBeCloseTo((c * 8) / 12, 14));
    expect(res.binEdges[6]).toBe(8);
    expect(res.chanceMean.every((c) => Number.isNaN(c))).toBe(true);
  });

  it('a smooth map rises with distance while its shuffled chance curve stays flat at the overall mean', () => {
    const rows = 20;
    const cols = 20;
    const { x, y } = gridPositions(rows, cols);
    const v = new Float64Array(rows * cols);
    for (let i = 0; i < v.length; i++) v[i] = Math.sin(y[i] / 5) + Math.cos(x[i] / 6);
    const res = smoothnessCurve(v, x, y, { bins: 10, chanceShuffles: 8, seed: 3 });
    // all pairs counted with the default maxDistance (bounding-box diagonal)
    const n = rows * cols;
    expect(res.counts.reduce((a, b) => a + b, 0)).toBe((n * (n - 1)) / 2);
    for (let b = 1; b < 5; b++) expect(res.meanAbsDiff[b]).toBeGreaterThan(res.meanAbsDiff[b - 1]);
    expect(res.meanAbsDiff[0]).toBeLessThan(0.5 * res.overallMeanAbsDiff);
    for (let b = 0; b < 8; b++) {
      // well-populated bins: the chance curve is within 10% of the flat expectation
      expect(Math.abs(res.chanceMean[b] - res.overallMeanAbsDiff)).toBeLessThan(0.1 * res.overallMeanAbsDiff);
    }
  });

  it('sub-samples large inputs with a seed', () => {
    const rows = 30;
    const cols = 30;
    const { x, y } = gridPositions(rows, cols);
    const rng = new Rng(8);
    const v = new Float64Array(rows * cols);
    for (let i = 0; i < v.length; i++) v[i] = rng.nextNormal();
    const a = smoothnessCurve(v, x, y, { maxUnits: 200, seed: 11 });
    const b = smoothnessCurve(v, x, y, { maxUnits: 200, seed: 11 });
    const c = smoothnessCurve(v, x, y, { maxUnits: 200, seed: 12 });
    expect(a.sampled).toBe(true);
    expect(a.unitsUsed).toBe(200);
    expect(a.counts.reduce((s, k) => s + k, 0)).toBe((200 * 199) / 2);
    expect(Array.from(a.meanAbsDiff)).toEqual(Array.from(b.meanAbsDiff));
    expect(Array.from(a.meanAbsDiff)).not.toEqual(Array.from(c.meanAbsDiff));
  });

  it('grid positions (summed offset by offset) give the pair-by-pair result: dense, with holes, with NaN values', () => {
    const rows = 13;
    const cols = 17;
    const rng = new Rng(21);
    for (const variant of ['dense', 'holes'] as const) {
      const { x, y } = gridPositions(rows, cols);
      const v = new Float64Array(rows * cols);
      for (let i = 0; i < v.length; i++) v[i] = Math.sin(y[i] / 3) + 0.3 * rng.nextNormal();
      if (variant === 'holes') {
        for (const i of [0, 5, 40, 41, 42, 100, 220]) v[i] = NaN; // dropped units leave empty cells
        x[7] = NaN; // and a unit without a position
      }
      // Shifting x by ½ keeps every distance exact but leaves the lattice: the pair-by-pair loop.
      const xShift = x.map((c) => c + 0.5);
      expect(latticeOf(x.filter((_, i) => !Number.isNaN(v[i]) && !Number.isNaN(x[i])), y.filter((_, i) => !Number.isNaN(v[i]) && !Number.isNaN(x[i])))?.dense).toBe(variant === 'dense');
      expect(latticeOf(xShift, y)).toBeNull();
      for (const opts of [{ bins: 9, chanceShuffles: 3, seed: 4 }, { bins: 5, maxDistance: 6.5, chanceShuffles: 1, seed: 9 }]) {
        const a = smoothnessCurve(v, x, y, opts);
        const b = smoothnessCurve(v, xShift, y, opts);
        expect(Array.from(a.counts)).toEqual(Array.from(b.counts));
        expect(a.unitsUsed).toBe(b.unitsUsed);
        for (let k = 0; k < opts.bins; k++) {
          expect(a.meanAbsDiff[k]).toBeCloseTo(b.meanAbsDiff[k], 12);
          expect(a.chanceMean[k]).toBeCloseTo(b.chanceMean[k], 12);
        }
        expect(a.overallMeanAbsDiff).toBeCloseTo(b.overallMeanAbsDiff, 12);
      }
    }
  });

  it('two units at one grid position are still both counted (pair loop)', () => {
    const x = Float64Array.from([0, 1, 1, 2]);
    const y = Float64Array.from([0, 0, 0, 0]);
    const v = Float64Array.from([0, 1, 3, 6]);
    expect(latticeOf(x, y)).toBeNull();
    const r = smoothnessCurve(v, x, y, { bins: 2, maxDistance: 2, chanceShuffles: 0 });
    // Bin 0 is d < 1: the two units at x = 1 (|1 − 3|). Bin 1 is 1 ≤ d ≤ 2: the four pairs at d = 1
    // (|0 − 1|, |0 − 3|, |1 − 6|, |3 − 6|) and the pair at d = 2 (|0 − 6|).
    expect(Array.from(r.counts)).toEqual([1, 5]);
    expect(r.meanAbsDiff[0]).toBe(2);
    expect(r.meanAbsDiff[1]).toBeCloseTo((1 + 3 + 5 + 3 + 6) / 5, 12);
  });

  it('validates lengths', () => {
    expect(() => smoothnessCurve(new Float64Array(3), new Float64Array(2), new Float64Array(3))).toThrow(/lengths/);
  });
});
