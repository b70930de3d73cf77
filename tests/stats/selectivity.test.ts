/** Selectivity across a battery: d′, sparseness, the selectivity index and their edge cases, against values worked out by hand. */
import { describe, expect, it } from 'vitest';
import {
  dPrime,
  lifetimeSparseness,
  medianFinite,
  neighbourAgreement,
  pooledMoments,
  preferredCategory,
  rollsToveeSparseness,
  selectivityIndex,
  unitSelectivity,
} from '../../src/stats/selectivity.ts';

const v = (a: number[]) => {
  const m = a.reduce((s, x) => s + x, 0) / a.length;
  return a.reduce((s, x) => s + (x - m) ** 2, 0) / (a.length - 1);
};
const mu = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;

describe("d′", () => {
  it('is (m1 − m2) / √((v1 + v2)/2)', () => {
    // m 5 vs 2, both variances 2: 3 / √2.
    expect(dPrime(5, 2, 2, 2)).toBeCloseTo(3 / Math.SQRT2, 12);
    expect(dPrime(2, 2, 5, 2)).toBeCloseTo(-3 / Math.SQRT2, 12);
  });
  it('is 0 for equal constant groups and NaN for different constant groups', () => {
    expect(dPrime(1, 0, 1, 0)).toBe(0);
    expect(dPrime(1, 0, 2, 0)).toBeNaN();
  });
});

describe('pooled moments of groups', () => {
  it('equal the moments of the concatenated samples', () => {
    const g = [[4, 6], [1, 3, 7], [0, 2, 2, 9]];
    const p = pooledMoments(g.map((x) => x.length), g.map(mu), g.map(v));
    const all = g.flat();
    expect(p.n).toBe(9);
    expect(p.mean).toBeCloseTo(mu(all), 12);
    expect(p.variance).toBeCloseTo(v(all), 12);
    const rest = pooledMoments(g.map((x) => x.length), g.map(mu), g.map(v), (i) => i !== 0);
    expect(rest.mean).toBeCloseTo(mu([...g[1], ...g[2]]), 12);
    expect(rest.variance).toBeCloseTo(v([...g[1], ...g[2]]), 12);
  });
});

describe('sparseness', () => {
  it('Vinje–Gallant S: 1 for one response, 0 for equal responses, and a worked example', () => {
    expect(lifetimeSparseness([1, 0, 0, 0])).toBeCloseTo(1, 12);
    expect(lifetimeSparseness([3, 3, 3, 3])).toBeCloseTo(0, 12);
    // r = 5, 2, 1: a = (8/3)² / (30/3) = 64/90; S = (1 − 64/90) / (2/3) = 13/30.
    expect(lifetimeSparseness([5, 2, 1])).toBeCloseTo(13 / 30, 12);
    expect(rollsToveeSparseness([5, 2, 1])).toBeCloseTo(64 / 90, 12);
    // Rolls–Tovee a is 1/n for a single response.
    expect(rollsToveeSparseness([0, 4, 0, 0, 0])).toBeCloseTo(1 / 5, 12);
  });
  it('sets negative responses to 0 and is NaN without a positive response', () => {
    expect(lifetimeSparseness([2, -1, 0])).toBeCloseTo(1, 12);
    expect(lifetimeSparseness([0, 0, 0])).toBeNaN();
    expect(lifetimeSparseness([-1, -2])).toBeNaN();
    expect(lifetimeSparseness([1])).toBeNaN();
  });
});

describe('preferred category and selectivity index', () => {
  it('prefers the largest response (ties: the lower index) and none when all are equal', () => {
    expect(preferredCategory([1, 3, 2])).toBe(1);
    expect(preferredCategory([3, 1, 3])).toBe(0);
    expect(preferredCategory([2, 2, 2])).toBe(-1);
    expect(preferredCategory([1, NaN])).toBe(-1);
  });
  it('SI = (r_pref − mean of the others) / (|r_pref| + |mean of the others|)', () => {
    // 5 vs mean(2, 1) = 1.5: 3.5 / 6.5.
    expect(selectivityIndex([5, 2, 1])).toBeCloseTo(3.5 / 6.5, 12);
    expect(selectivityIndex([1, 0, 0])).toBeCloseTo(1, 12);
    expect(selectivityIndex([4, 4])).toBe(0);
    expect(selectivityIndex([0, 0, 0])).toBeNaN();
    // Signed responses: 1 vs −1 → 2 / 2.
    expect(selectivityIndex([1, -1])).toBeCloseTo(1, 12);
  });
});

describe('unitSelectivity on a small battery', () => {
  // Unit 0: category 0 = {4, 6}, 1 = {1, 3}, 2 = {0, 2}. Unit 1: 0 everywhere (a silent unit).
  const data = [
    [[4, 6], [0, 0]],
    [[1, 3], [0, 0]],
    [[0, 2], [0, 0]],
  ];
  const battery = {
    n: [2, 2, 2],
    mean: data.map((c) => Float64Array.from(c.map(mu))),
    variance: data.map((c) => Float64Array.from(c.map(v))),
  };
  const s = unitSelectivity(battery, 0.5);

  it("gives each category's d′ against the pooled rest", () => {
    // Category 0: rest {1, 3, 0, 2} has mean 1.5 and variance 5/3 → 3.5 / √((2 + 5/3)/2) = 2.584921.
    expect(s.dprime[0][0]).toBeCloseTo(3.5 / Math.sqrt((2 + 5 / 3) / 2), 10);
    expect(s.dprime[0][0]).toBeCloseTo(2.584921, 6);
    // Category 1: rest {4, 6, 0, 2}: mean 3, variance 20/3 → −1 / √(13/3) = −0.480384.
    expect(s.dprime[1][0]).toBeCloseTo(-0.480384, 6);
    // Category 2: rest {4, 6, 1, 3}: mean 3.5, variance 13/3 → −2.5 / √(19/6) = −1.404879.
    expect(s.dprime[2][0]).toBeCloseTo(-1.404879, 6);
    expect(s.maxDprime[0]).toBeCloseTo(2.584921, 6);
  });

  it('gives the preferred category, SI, sparseness and the count above threshold', () => {
    expect(s.preferred[0]).toBe(0);
    expect(s.si[0]).toBeCloseTo(3.5 / 6.5, 12);
    expect(s.sparseness[0]).toBeCloseTo(13 / 30, 12);
    expect(s.nAbove[0]).toBe(1);
    expect(unitSelectivity(battery, -0.5).nAbove[0]).toBe(2);
    expect(unitSelectivity(battery, -2).nAbove[0]).toBe(3);
  });

  it('treats a silent unit as unselective', () => {
    expect([s.dprime[0][1], s.dprime[1][1], s.dprime[2][1]]).toEqual([0, 0, 0]);
    expect(s.preferred[1]).toBe(-1);
    expect(s.si[1]).toBeNaN();
    expect(s.sparseness[1]).toBeNaN();
    expect(s.nAbove[1]).toBe(0);
  });

  it('refuses fewer than two categories and mismatched shapes', () => {
    expect(() => unitSelectivity({ n: [2], mean: [new Float64Array(1)], variance: [new Float64Array(1)] }, 0.5)).toThrow(/at least 2/);
    expect(() => unitSelectivity({ n: [2, 2], mean: [new Float64Array(1), new Float64Array(2)], variance: [new Float64Array(1), new Float64Array(2)] }, 0.5)).toThrow(/units/);
  });
});

describe('neighbour agreement of preferred categories', () => {
  it('counts queen-adjacent pairs once and gives the permutation chance level', () => {
    // 2 × 2 sheet, units 0..3 in cells 0..3; preferences 0 0 / 0 1: pairs (0,1) (0,2) (0,3) (1,2) (1,3) (2,3).
    const unitOfCell = Int32Array.from([0, 1, 2, 3]);
    const r = neighbourAgreement(Int32Array.from([0, 0, 0, 1]), unitOfCell, 2, 2);
    expect(r.pairs).toBe(6);
    expect(r.agreement).toBeCloseTo(3 / 6, 12);
    // n_0 = 3, n_1 = 1: (3·2 + 0) / (4·3) = 0.5.
    expect(r.chance).toBeCloseTo(0.5, 12);
    // Units without a preference are left out.
    const r2 = neighbourAgreement(Int32Array.from([0, -1, 0, 1]), unitOfCell, 2, 2);
    expect(r2.pairs).toBe(3);
    expect(r2.agreement).toBeCloseTo(1 / 3, 12);
  });
  it('median of finite values', () => {
    expect(medianFinite([3, NaN, 1, 2])).toBe(2);
    expect(medianFinite([4, 1, 3, 2])).toBe(2.5);
    expect(medianFinite([NaN])).toBeNaN();
  });
});
