import { describe, expect, it } from 'vitest';
import { findClusters, maxClusterStats, ClusterScratch, type ClusterOptions } from '../../src/stats/clusters.ts';
import { Rng } from '../../src/stats/rng.ts';

/** Parse a whitespace grid; '.' is NaN. */
function grid(s: string): { map: Float64Array; rows: number; cols: number } {
  const lines = s.trim().split('\n').map((l) => l.trim().split(/\s+/));
  const rows = lines.length;
  const cols = lines[0].length;
  const map = new Float64Array(rows * cols);
  lines.forEach((l, r) => l.forEach((v, c) => (map[r * cols + c] = v === '.' ? NaN : Number(v))));
  return { map, rows, cols };
}

const G = grid(`
   3  3  0  0 -3
   3  0  0 -3 -3
   0  0  4  0  0
   .  0  0 2.5 0
  -2  0  0  0  5
`);

function summary(res: ReturnType<typeof findClusters>) {
  return res.clusters.map((c) => [c.id, c.sign, c.size, c.mass]);
}

describe('findClusters', () => {
  it('4-connectivity: diagonal cells are separate components', () => {
    const res = findClusters(G.map, G.rows, G.cols, { threshold: 2, scale: 'abs-t', connectivity: 4 });
    // by mass desc; ties → larger size, then earlier first cell
    expect(summary(res)).toEqual([
      [1, 1, 3, 9],
      [2, -1, 3, 9],
      [3, 1, 1, 5],
      [4, 1, 1, 4],
      [5, 1, 1, 2.5],
      [6, -1, 1, 2],
    ]);
    expect(Array.from(res.labels)).toEqual([
      1, 1, 0, 0, 2,
      1, 0, 0, 2, 2,
      0, 0, 4, 0, 0,
      0, 0, 0, 5, 0,
      6, 0, 0, 0, 3,
    ]);
  });

  it('8-connectivity joins the diagonal chain but never across signs', () => {
    const res = findClusters(G.map, G.rows, G.cols, { threshold: 2, scale: 'abs-t', connectivity: 8 });
    expect(summary(res)).toEqual([
      [1, 1, 3, 11.5],
      [2, 1, 3, 9],
      [3, -1, 3, 9],
      [4, -1, 1, 2],
    ]);
    const chain = res.clusters[0];
    expect(chain.peakT).toBe(5);
    expect([chain.peakRow, chain.peakCol, chain.peakIndex]).toEqual([4, 4, 24]);
    expect([chain.centroidRow, chain.centroidCol]).toEqual([3, 3]);
    const neg = res.clusters[2];
    expect(neg.peakT).toBe(-3); // tie of |t| → lowest cell index (0,4)
    expect(neg.peakIndex).toBe(4);
    expect(neg.centroidRow).toBeCloseTo(2 / 3, 14);
    expect(neg.centroidCol).toBeCloseTo(11 / 3, 14);
    // (2,2) touches the negative (1,3) diagonally but stays in the positive chain
    expect(res.labels[2 * 5 + 2]).toBe(1);
    expect(res.labels[1 * 5 + 3]).toBe(3);
  });

  it('threshold is inclusive (|t| ≥ threshold) and minSize drops small clusters', () => {
    const atThree = findClusters(G.map, G.rows, G.cols, { threshold: 3, scale: 'abs-t', connectivity: 4 });
    expect(atThree.clusters.map((c) => c.size)).toEqual([3, 3, 1, 1]);
    const big = findClusters(G.map, G.rows, G.cols, { threshold: 2, scale: 'abs-t', connectivity: 8, minSize: 2 });
    expect(summary(big)).toEqual([
      [1, 1, 3, 11.5],
      [2, 1, 3, 9],
      [3, -1, 3, 9],
    ]);
    expect(big.labels[20]).toBe(0); // the dropped singleton (4,0)
  });

  it("scale 'p': supra where p ≤ threshold, sign from t", () => {
    const t = Float64Array.from([2.1, -2.2, 0.3, 1.9, NaN, -4]);
    const p = Float64Array.from([0.04, 0.03, 0.7, 0.06, NaN, 0.0001]);
    // 2×3:  [2.1 -2.2 0.3 / 1.9 . -4]
    const res = findClusters(t, 2, 3, { threshold: 0.05, scale: 'p', pMap: p, connectivity: 8 });
    expect(res.clusters.map((c) => [c.sign, c.size, c.mass])).toEqual([
      [-1, 2, 6.2],
      [1, 1, 2.1],
    ]);
    expect(Array.from(res.labels)).toEqual([2, 1, 0, 0, 0, 1]);
    expect(() => findClusters(t, 2, 3, { threshold: 0.05, scale: 'p', connectivity: 8 })).toThrow(/pMap/);
  });

  it('NaN cells (no unit) break clusters', () => {
    const g = grid(`
      3 3 3
      . . .
      3 3 3
    `);
    const res = findClusters(g.map, g.rows, g.cols, { threshold: 1, scale: 'abs-t', connectivity: 8 });
    expect(res.clusters.map((c) => c.size)).toEqual([3, 3]);
  });

  it('validates its input', () => {
    expect(() => findClusters(G.map, 4, 5, { threshold: 2, scale: 'abs-t', connectivity: 4 })).toThrow(/cells/);
    expect(() => findClusters(G.map, 5, 5, { threshold: 0, scale: 'abs-t', connectivity: 4 })).toThrow(/> 0/);
    expect(() => findClusters(G.map, 5, 5, { threshold: 2, scale: 'abs-t', connectivity: 6 as 4 })).toThrow(/connectivity/);
  });
});

describe('maxClusterStats', () => {
  it('equals the largest mass and size of findClusters on random maps (reused scratch)', () => {
    const rng = new Rng(21);
    const rows = 13;
    const cols = 17;
    const scratch = new ClusterScratch(rows * cols);
    const out = { maxMass: -1, maxSize: -1 };
    for (let trial = 0; trial < 60; trial++) {
      const map = new Float64Array(rows * cols);
      for (let i = 0; i < map.length; i++) map[i] = rng.nextFloat() < 0.05 ? NaN : 2 * rng.nextNormal();
      const opts: ClusterOptions = {
        threshold: 0.5 + rng.nextFloat() * 2.5,
        scale: 'abs-t',
        connectivity: trial % 2 ? 4 : 8,
        minSize: 1 + (trial % 3),
      };
      const full = findClusters(map, rows, cols, opts);
      const m = maxClusterStats(map, rows, cols, opts, scratch, out);
      expect(m).toBe(out);
      const maxMass = full.clusters.reduce((a, c) => Math.max(a, c.mass), 0);
      const maxSize = full.clusters.reduce((a, c) => Math.max(a, c.size), 0);
      expect(m.maxSize).toBe(maxSize);
      expect(m.maxMass).toBeCloseTo(maxMass, 10);
    }
  });

  it('is 0 when nothing passes the threshold', () => {
    const r = maxClusterStats(new Float64Array(9).fill(1), 3, 3, { threshold: 2, scale: 'abs-t', connectivity: 4 });
    expect(r).toEqual({ maxMass: 0, maxSize: 0 });
  });
});
