/** Streaming top-k heaps and the power-of-two histogram: against brute force, and independent of order and sharding. */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/stats/rng.ts';
import { HIST_EMIN, Pow2Histogram, sampleKey, TopKHeaps } from '../../src/stats/streaming.ts';
import { measurable, splitHalf, splitHalves } from '../../src/stats/crossval.ts';

function bruteTop(values: number[], k: number, dir: 'top' | 'bottom'): number[] {
  const idx = values.map((_, i) => i).filter((i) => !Number.isNaN(values[i]));
  idx.sort((a, b) => (dir === 'top' ? values[b] - values[a] : values[a] - values[b]) || a - b);
  return idx.slice(0, k);
}

function shuffled<T>(a: T[], seed: number): T[] {
  const rng = new Rng(seed);
  const out = a.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

describe('TopKHeaps', () => {
  const rng = new Rng(7);
  const C = 3;
  const N = 500;
  // Small integers: many ties, broken by the lower stimulus index.
  const vals = Array.from({ length: C }, () => Array.from({ length: N }, () => (rng.nextFloat() < 0.02 ? NaN : rng.nextInt(25) - 12)));

  for (const dir of ['top', 'bottom'] as const) {
    it(`keeps the ${dir} k of every channel, ties by index, NaN never`, () => {
      const h = new TopKHeaps(C, 9, dir);
      for (let i = 0; i < N; i++) for (let c = 0; c < C; c++) h.offer(c, vals[c][i], i);
      for (let c = 0; c < C; c++) {
        const s = h.sorted(c);
        expect(Array.from(s.index)).toEqual(bruteTop(vals[c], 9, dir));
        expect(Array.from(s.values)).toEqual(bruteTop(vals[c], 9, dir).map((i) => vals[c][i]));
      }
    });

    it(`${dir}: shards merged in any order give the same heaps as one pass in any order`, () => {
      const whole = new TopKHeaps(C, 9, dir);
      for (const i of shuffled([...Array(N).keys()], 3)) for (let c = 0; c < C; c++) whole.offer(c, vals[c][i], i);
      const shards = [0, 1, 2, 3].map(() => new TopKHeaps(C, 9, dir));
      for (let i = 0; i < N; i++) for (let c = 0; c < C; c++) shards[i % 4].offer(c, vals[c][i], i);
      for (const order of [[0, 1, 2, 3], [3, 1, 0, 2]]) {
        const m = new TopKHeaps(C, 9, dir);
        for (const s of order) m.merge(shards[s]);
        for (let c = 0; c < C; c++) expect(m.sorted(c)).toEqual(whole.sorted(c));
      }
    });
  }

  it('holds fewer than k when fewer values came', () => {
    const h = new TopKHeaps(1, 5, 'top');
    h.offer(0, 2, 10);
    h.offer(0, 7, 3);
    expect(Array.from(h.sorted(0).index)).toEqual([3, 10]);
  });
});

describe('Pow2Histogram', () => {
  const rng = new Rng(11);
  const values = Array.from({ length: 3000 }, () => (rng.nextFloat() < 0.3 ? 0 : Math.exp(rng.nextNormal()) - 0.2));
  values[17] = NaN;

  it('is exact on its grid: every value in its bin, between bins/2 − 1 and bins bins span the range', () => {
    const h = new Pow2Histogram(64);
    values.forEach((v, i) => h.add(v, i));
    const r = h.result();
    expect(r.n).toBe(2999);
    expect(r.nonFinite).toBe(1);
    expect(Number.isInteger(Math.log2(r.width))).toBe(true);
    expect(r.counts.length).toBeLessThanOrEqual(64);
    expect(r.counts.length).toBeGreaterThanOrEqual(31);
    const brute = new Array(r.counts.length).fill(0);
    for (const v of values) if (Number.isFinite(v)) brute[Math.floor(v / r.width) - Math.round(r.lo / r.width)]++;
    expect(r.counts).toEqual(brute);
    expect(r.lo).toBeLessThanOrEqual(r.min);
    expect(r.lo + r.counts.length * r.width).toBeGreaterThan(r.max);
    // The grid is the finest that fits: at half the width the range would span more than 64 bins.
    const w2 = r.width / 2;
    expect(Math.floor(r.max / w2) - Math.floor(r.min / w2)).toBeGreaterThanOrEqual(64);
  });

  it('gives the same bins and samples whatever the order and the sharding', () => {
    const one = new Pow2Histogram(64, 4, 99);
    values.forEach((v, i) => one.add(v, i));
    const order = shuffled([...values.keys()], 5);
    const again = new Pow2Histogram(64, 4, 99);
    for (const i of order) again.add(values[i], i);
    expect(again.result()).toEqual(one.result());
    expect(again.quantileGroups(10, 4)).toEqual(one.quantileGroups(10, 4));
    const shards = [0, 1, 2].map(() => new Pow2Histogram(64, 4, 99));
    // Shards with very different ranges, so that the merge must widen the grid.
    order.forEach((i) => shards[values[i] > 1 ? 0 : values[i] === 0 ? 1 : 2].add(values[i], i));
    for (const o of [[0, 1, 2], [2, 0, 1]]) {
      const m = new Pow2Histogram(64, 4, 99);
      for (const s of o) m.merge(shards[s]);
      expect(m.result()).toEqual(one.result());
      expect(m.quantileGroups(10, 4)).toEqual(one.quantileGroups(10, 4));
    }
  });

  it('draws quantile examples uniformly: the m smallest sampling keys of each group', () => {
    const m = 4;
    const h = new Pow2Histogram(64, m, 3);
    values.forEach((v, i) => h.add(v, i));
    const r = h.result();
    const groups = h.quantileGroups(5, m);
    let total = 0;
    for (const g of groups) {
      total += g.count;
      // Members by bin: the values inside the group's bins.
      const members = values.map((v, i) => ({ v, i })).filter(({ v }) => Number.isFinite(v) && v >= g.lo && v <= g.hi && (v < g.hi || g.hi === r.max));
      expect(members.length).toBe(g.count);
      const expected = members
        .map(({ i, v }) => ({ i, v, key: sampleKey(3, i) }))
        .sort((a, b) => a.key - b.key || a.i - b.i)
        .slice(0, m)
        .sort((a, b) => b.v - a.v || a.i - b.i)
        .map((e) => e.i);
      expect(g.examples.map((e) => e.index)).toEqual(expected);
    }
    expect(total).toBe(r.n);
    // The point mass at 0 (30 % of the values) makes its own group; groups are ordered and contiguous.
    for (let j = 1; j < groups.length; j++) expect(groups[j].fromQuantile).toBeCloseTo(groups[j - 1].toQuantile, 12);
  });

  it('handles a constant stream and huge values', () => {
    const h = new Pow2Histogram(16);
    for (let i = 0; i < 10; i++) h.add(3.25, i);
    const r = h.result();
    expect(r.counts).toEqual([10]);
    expect(r.width).toBe(2 ** HIST_EMIN);
    const big = new Pow2Histogram(16);
    big.add(-3e38, 0);
    big.add(3e38, 1);
    big.add(0, 2);
    expect(big.result().counts.reduce((s, c) => s + c, 0)).toBe(3);
  });
});

describe('split-halves', () => {
  const groups = [Int32Array.from([0, 1, 2, 3, 4]), Int32Array.from([5, 6, 7, 8, 9, 10])];
  it('split each group, disjoint, covering, reproducible and prefix-stable', () => {
    const s = splitHalf(groups, new Rng(1));
    const def = new Set(s.definition);
    expect(s.definition.length).toBe(2 + 3);
    for (const i of s.measurement) expect(def.has(i)).toBe(false);
    expect([...s.definition, ...s.measurement].sort((a, b) => a - b)).toEqual([...Array(11).keys()]);
    const k5 = splitHalves(groups, 5, 7);
    expect(splitHalves(groups, 5, 7)).toEqual(k5);
    expect(splitHalves(groups, 3, 7)).toEqual(k5.slice(0, 3));
    expect(new Set(k5.map((x) => x.definition.join(','))).size).toBeGreaterThan(1);
  });
  it('measurable leaves out definition stimuli and any stimulus with the same item', () => {
    const items = ['a', 'b', 'c', 'a', 'd'];
    expect(Array.from(measurable([0, 1, 2, 3, 4], [0], (i) => items[i]))).toEqual([1, 2, 4]);
    expect(Array.from(measurable([1, 2, 4], [], (i) => items[i], ['d']))).toEqual([1, 2]);
  });
});
