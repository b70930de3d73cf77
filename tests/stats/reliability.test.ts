import { describe, expect, it } from 'vitest';
import { diceOverlap, spearmanBrown, splitHalfReliability } from '../../src/stats/reliability.ts';
import { Rng } from '../../src/stats/rng.ts';

/** stimuli×units matrix: rows 0…nA−1 are condition A (effect[u] added), the rest B. */
function dataset(nA: number, nB: number, effect: Float64Array, seed: number): { m: Float32Array; rowsA: Int32Array; rowsB: Int32Array } {
  const units = effect.length;
  const rng = new Rng(seed);
  const m = new Float32Array((nA + nB) * units);
  for (let r = 0; r < nA + nB; r++) for (let u = 0; u < units; u++) m[r * units + u] = rng.nextNormal() + (r < nA ? effect[u] : 0);
  return {
    m,
    rowsA: Int32Array.from({ length: nA }, (_, i) => i),
    rowsB: Int32Array.from({ length: nB }, (_, i) => nA + i),
  };
}

describe('split-half reliability', () => {
  it('helpers: Spearman–Brown and sign-aware Dice', () => {
    expect(spearmanBrown(0.5)).toBeCloseTo(2 / 3, 15);
    expect(spearmanBrown(1)).toBe(1);
    // masks: t1 → {0:+, 1:−, 3:+}; t2 → {0:+, 1:+, 2:+}; same-sign overlap {0}
    expect(diceOverlap([3, -3, 0, 2.5], [2, 3, 4, 1], 2)).toBeCloseTo((2 * 1) / (3 + 3), 15);
    expect(diceOverlap([0, 1], [1, 0], 2)).toBeNaN();
  });

  it('a real graded effect gives high, Spearman–Brown-boosted reliability and overlap; noise gives ~0', () => {
    const units = 60;
    const effect = new Float64Array(units).map((_, u) => (u < 20 ? 1.5 * Math.sin(u / 3) : 0));
    const real = dataset(40, 40, effect, 1);
    const r = splitHalfReliability(real.m, 80, units, real.rowsA, real.rowsB, { splits: 10, seed: 3, threshold: 2 });
    expect(r.r.length).toBe(10);
    expect(r.meanR).toBeGreaterThan(0.6);
    expect(r.meanSpearmanBrown).toBeGreaterThan(r.meanR);
    for (let s = 0; s < 10; s++) expect(r.spearmanBrown[s]).toBeCloseTo(spearmanBrown(r.r[s]), 14);
    expect(r.meanDice).toBeGreaterThan(0.5);
    expect(r.halfSizes).toEqual([20, 20, 20, 20]);

    const nullData = dataset(40, 40, new Float64Array(units), 2);
    const n = splitHalfReliability(nullData.m, 80, units, nullData.rowsA, nullData.rowsB, { splits: 10, seed: 3, threshold: 2 });
    expect(Math.abs(n.meanR)).toBeLessThan(0.15);
    expect(n.meanR).toBeLessThan(r.meanR - 0.4);
  });

  it('is deterministic per seed and uses disjoint halves of odd-sized conditions', () => {
    const effect = new Float64Array(10).fill(0.5);
    const d = dataset(9, 7, effect, 5);
    const a = splitHalfReliability(d.m, 16, 10, d.rowsA, d.rowsB, { splits: 4, seed: 8, threshold: 1.5 });
    const b = splitHalfReliability(d.m, 16, 10, d.rowsA, d.rowsB, { splits: 4, seed: 8, threshold: 1.5 });
    const c = splitHalfReliability(d.m, 16, 10, d.rowsA, d.rowsB, { splits: 4, seed: 9, threshold: 1.5 });
    expect(Array.from(a.r)).toEqual(Array.from(b.r));
    expect(Array.from(a.r)).not.toEqual(Array.from(c.r));
    expect(a.halfSizes).toEqual([4, 5, 3, 4]);
  });

  it('needs 4 stimuli per condition', () => {
    const d = dataset(3, 6, new Float64Array(4), 1);
    expect(() => splitHalfReliability(d.m, 9, 4, d.rowsA, d.rowsB, { splits: 2, seed: 1, threshold: 2 })).toThrow(/at least 4/);
  });
});
