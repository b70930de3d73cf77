import { describe, expect, it } from 'vitest';
import { matchedRandomMask, topKCount, topKPercent } from '../../src/stats/masks.ts';

describe('topKPercent', () => {
  it('takes the largest values, ties by lower index, at least one unit', () => {
    const v = Float64Array.from([0.5, 3, 1, 3, NaN, 2, 3, -1, 0, 0.1]);
    // 9 non-NaN values; 30% → round(2.7) = 3
    expect(Array.from(topKPercent(v, 30))).toEqual([1, 3, 6]);
    expect(Array.from(topKPercent(v, 40))).toEqual([1, 3, 6, 5]);
    expect(Array.from(topKPercent(v, 1))).toEqual([1]); // at least 1
    expect(Array.from(topKPercent(v, 100))).toEqual([1, 3, 6, 5, 2, 0, 9, 8, 7]); // NaN never selected
  });

  it('1% of 3072 units is 31; the count never exceeds n', () => {
    expect(topKCount(3072, 1)).toBe(31);
    expect(topKCount(3, 100)).toBe(3);
    expect(topKCount(0, 10)).toBe(0);
    const v = new Float64Array(3072).map((_, i) => Math.sin(i));
    const sel = topKPercent(v, 1);
    expect(sel.length).toBe(31);
    const threshold = Math.min(...Array.from(sel, (i) => v[i]));
    expect(v.filter((x) => x > threshold).length).toBe(30);
  });

  it('rejects percentages outside (0, 100]', () => {
    expect(() => topKPercent(new Float64Array(3), 0)).toThrow();
    expect(() => topKPercent(new Float64Array(3), 101)).toThrow();
  });
});

describe('matchedRandomMask', () => {
  it('draws the same count from outside the selection, seeded, ascending', () => {
    const selected = Int32Array.from([3, 10, 11, 50]);
    const a = matchedRandomMask(selected, 100, 1);
    const b = matchedRandomMask(selected, 100, 1);
    const c = matchedRandomMask(selected, 100, 2);
    expect(a.length).toBe(4);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    for (let k = 0; k < a.length; k++) {
      expect(selected.includes(a[k])).toBe(false);
      if (k > 0) expect(a[k]).toBeGreaterThan(a[k - 1]);
    }
  });

  it('is uniform over the non-selected units', () => {
    const selected = Int32Array.from([0, 1, 2, 3, 4]);
    const counts = new Array(20).fill(0);
    const reps = 4000;
    for (let s = 0; s < reps; s++) for (const u of matchedRandomMask(selected, 20, s)) counts[u]++;
    for (let u = 0; u < 5; u++) expect(counts[u]).toBe(0);
    const e = (reps * 5) / 15;
    for (let u = 5; u < 20; u++) expect(Math.abs(counts[u] - e)).toBeLessThan(5 * Math.sqrt(e));
  });

  it('throws when not enough units remain or indices are out of range', () => {
    expect(() => matchedRandomMask(Int32Array.from([0, 1, 2]), 5, 0)).toThrow(/only 2 units/);
    expect(() => matchedRandomMask(Int32Array.from([7]), 5, 0)).toThrow(/outside/);
  });
});
