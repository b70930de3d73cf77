import { describe, expect, it } from 'vitest';
import { smoothnessCurve } from '../../src/stats/smoothness.ts';
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

  it('validates lengths', () => {
    expect(() => smoothnessCurve(new Float64Array(3), new Float64Array(2), new Float64Array(3))).toThrow(/lengths/);
  });
});
