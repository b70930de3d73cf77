/** The seeded bootstrap: reproducible, the percentile rule, Cohen's d, and its coverage on known data. */
import { describe, expect, it } from 'vitest';
import { bootstrapCohensD, bootstrapMean, cohensD, quantileSorted } from '../../src/stats/bootstrap.ts';
import { Rng } from '../../src/stats/rng.ts';

describe('quantiles (type 7)', () => {
  it('interpolates between order statistics', () => {
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4], 0.25)).toBe(1.75);
    expect(quantileSorted([1, 2, 3, 4], 0)).toBe(1);
    expect(quantileSorted([1, 2, 3, 4], 1)).toBe(4);
    expect(quantileSorted([], 0.5)).toBeNaN();
  });
});

describe('bootstrapMean', () => {
  const x = [0.3, 1.2, -0.4, 2.2, 0.9, 1.1, 0.0, 3.1];
  it('is reproducible for a seed and differs between seeds', () => {
    const a = bootstrapMean(x, { resamples: 500, seed: 42, level: 0.95 });
    const b = bootstrapMean(x, { resamples: 500, seed: 42, level: 0.95 });
    const c = bootstrapMean(x, { resamples: 500, seed: 43, level: 0.95 });
    expect(b).toEqual(a);
    expect(c.lo === a.lo && c.hi === a.hi).toBe(false);
    expect(a.estimate).toBeCloseTo(x.reduce((s, v) => s + v, 0) / x.length, 12);
    expect(a.lo).toBeLessThan(a.estimate);
    expect(a.hi).toBeGreaterThan(a.estimate);
  });

  it('resamples with rng.nextInt(n) in order, and takes type-7 percentiles of the resampled means', () => {
    const vals = [1, 2, 4];
    const r = bootstrapMean(vals, { resamples: 5, seed: 9, level: 0.5 });
    // The same draws by hand.
    const rng = new Rng(9);
    const means: number[] = [];
    for (let b = 0; b < 5; b++) {
      let s = 0;
      for (let i = 0; i < 3; i++) s += vals[rng.nextInt(3)];
      means.push(s / 3);
    }
    means.sort((p, q) => p - q);
    expect(r.lo).toBeCloseTo(quantileSorted(means, 0.25), 12);
    expect(r.hi).toBeCloseTo(quantileSorted(means, 0.75), 12);
  });

  it('gives [c, c] for constant data and [0, 1] for {0, 1} at 95 %', () => {
    const c = bootstrapMean([2, 2, 2, 2], { resamples: 200, seed: 1, level: 0.95 });
    expect([c.lo, c.hi]).toEqual([2, 2]);
    // Resampled means are 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4: the 2.5 % and 97.5 % points are 0 and 1.
    const d = bootstrapMean([0, 1], { resamples: 2000, seed: 1, level: 0.95 });
    expect([d.lo, d.hi]).toEqual([0, 1]);
    expect(bootstrapMean([], { resamples: 10, seed: 1, level: 0.95 }).lo).toBeNaN();
  });

  it('covers the true mean about 95 % of the time on normal data', () => {
    const rng = new Rng(2024);
    let covered = 0;
    const trials = 120;
    for (let t = 0; t < trials; t++) {
      const xs = Array.from({ length: 40 }, () => rng.nextNormal());
      const ci = bootstrapMean(xs, { resamples: 600, seed: t, level: 0.95 });
      if (ci.lo <= 0 && 0 <= ci.hi) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.86);
    expect(covered / trials).toBeLessThan(0.995);
  });

  it('rejects bad options', () => {
    expect(() => bootstrapMean([1, 2], { resamples: 0, seed: 1, level: 0.95 })).toThrow(/resamples/);
    expect(() => bootstrapMean([1, 2], { resamples: 10, seed: 1, level: 1 })).toThrow(/level/);
  });
});

describe("Cohen's d and its bootstrap", () => {
  it('uses the pooled SD', () => {
    // a = 1, 2, 3 and b = 4, 5, 6: means 2 and 5, pooled SD √(4/4) = 1.
    expect(cohensD([1, 2, 3], [4, 5, 6])).toBeCloseTo(-3, 12);
    expect(cohensD([1, 1], [1, 1])).toBe(0);
  });
  it('is reproducible and brackets the estimate', () => {
    const a = [2.1, 3.3, 2.8, 3.9, 2.5, 3.0];
    const b = [1.0, 1.8, 0.7, 1.5, 2.2, 1.1];
    const r1 = bootstrapCohensD(a, b, { resamples: 400, seed: 5, level: 0.95 });
    const r2 = bootstrapCohensD(a, b, { resamples: 400, seed: 5, level: 0.95 });
    expect(r2).toEqual(r1);
    expect(r1.estimate).toBeCloseTo(cohensD(a, b), 12);
    expect(r1.lo).toBeLessThan(r1.estimate);
    expect(r1.hi).toBeGreaterThan(r1.estimate);
    expect(r1.lo).toBeGreaterThan(0);
  });
});
