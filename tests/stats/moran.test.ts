import { describe, expect, it } from 'vitest';
import { contiguityGraph, moranI, moranPermutation, shuffleTable } from '../../src/stats/moran.ts';
import { Rng } from '../../src/stats/rng.ts';
import { expectClose, loadReference } from './helpers.ts';

const ref = loadReference();

function noiseMap(rows: number, cols: number, rng: Rng): Float64Array {
  const m = new Float64Array(rows * cols);
  for (let i = 0; i < m.length; i++) m[i] = rng.nextNormal();
  return m;
}

describe("Moran's I", () => {
  it('matches a dense-weight-matrix numpy implementation (queen and rook, with NaN holes)', () => {
    for (const c of ref.moran) {
      const map = Float64Array.from(c.map as number[]);
      expectClose(moranI(map, c.rows, c.cols, { contiguity: 'queen' }), c.queen, 1e-12, 1e-15, `${c.name} queen`);
      expectClose(moranI(map, c.rows, c.cols, { contiguity: 'rook' }), c.rook, 1e-12, 1e-15, `${c.name} rook`);
    }
  });

  it('fully occupied grids (interior cells summed at fixed offsets) equal a brute-force double sum', () => {
    const rng = new Rng(31);
    for (const [rows, cols] of [
      [3, 3],
      [4, 7],
      [9, 5],
      [48, 64],
    ]) {
      const m = noiseMap(rows, cols, rng);
      for (const contiguity of ['queen', 'rook'] as const) {
        const n = rows * cols;
        let mean = 0;
        for (const v of m) mean += v / n;
        let cross = 0;
        let W = 0;
        let ss = 0;
        for (let i = 0; i < n; i++) {
          ss += (m[i] - mean) ** 2;
          for (let j = 0; j < n; j++) {
            const dr = Math.abs(Math.floor(i / cols) - Math.floor(j / cols));
            const dc = Math.abs((i % cols) - (j % cols));
            const nb = i !== j && dr <= 1 && dc <= 1 && (contiguity === 'queen' || dr + dc === 1);
            if (!nb) continue;
            W++;
            cross += (m[i] - mean) * (m[j] - mean);
          }
        }
        expectClose(moranI(m, rows, cols, { contiguity }), ((n / W) * cross) / ss, 1e-11, 1e-14, `${rows}×${cols} ${contiguity}`);
      }
    }
  });

  it('checkerboard with rook contiguity is exactly −1', () => {
    for (const [rows, cols] of [
      [8, 8],
      [6, 10],
    ]) {
      const m = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) m[r * cols + c] = (r + c) % 2;
      expectClose(moranI(m, rows, cols, { contiguity: 'rook' }), -1, 1e-14);
      // with queen contiguity the same-colour diagonals pull it towards 0
      expect(moranI(m, rows, cols, { contiguity: 'queen' })).toBeGreaterThan(-0.5);
    }
  });

  it('a smooth gradient is near +1 under either contiguity', () => {
    const rows = 24;
    const cols = 24;
    const m = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) m[r * cols + c] = r + 0.5 * c;
    expect(moranI(m, rows, cols, { contiguity: 'rook' })).toBeGreaterThan(0.9);
    expect(moranI(m, rows, cols, { contiguity: 'queen' })).toBeGreaterThan(0.9);
  });

  it('iid noise averages near −1/(n−1)', () => {
    const rng = new Rng(17);
    const rows = 16;
    const cols = 16;
    const n = rows * cols;
    for (const contiguity of ['queen', 'rook'] as const) {
      let s = 0;
      const reps = 60;
      for (let k = 0; k < reps; k++) s += moranI(noiseMap(rows, cols, rng), rows, cols, { contiguity });
      expect(Math.abs(s / reps - -1 / (n - 1))).toBeLessThan(0.015);
    }
  });

  it('degenerate maps give NaN; contiguity graph counts ordered pairs', () => {
    expect(moranI(new Float64Array(9).fill(2), 3, 3, { contiguity: 'queen' })).toBeNaN();
    expect(moranI(Float64Array.from([1, NaN, NaN, 2]), 2, 2, { contiguity: 'rook' })).toBeNaN(); // no rook pairs
    const g = contiguityGraph(new Float64Array(9), 3, 3, 'queen');
    expect(g.W).toBe(40); // 4 corners·3 + 4 edges·5 + centre·8
    expect(contiguityGraph(new Float64Array(9), 3, 3, 'rook').W).toBe(24);
  });
});

describe('moranPermutation', () => {
  it('gradient: observed I beats every permutation; same seed → same null', () => {
    const rows = 12;
    const cols = 12;
    const m = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) m[r * cols + c] = Math.sin(r / 4) + c / 6;
    const a = moranPermutation(m, rows, cols, { contiguity: 'queen', permutations: 199, seed: 5 });
    const b = moranPermutation(m, rows, cols, { contiguity: 'queen', permutations: 199, seed: 5 });
    expect(a).toEqual(b);
    expect(a.p).toBe(1 / 200);
    expect(a.I).toBeCloseTo(moranI(m, rows, cols, { contiguity: 'queen' }), 14);
    expect(a.expected).toBeCloseTo(-1 / 143, 15);
    expect(Math.abs(a.nullMean - a.expected)).toBeLessThan(3 * a.nullSd / Math.sqrt(199) + 0.01);
    expect(a.zScore).toBeGreaterThan(5);
    const c = moranPermutation(m, rows, cols, { contiguity: 'queen', permutations: 199, seed: 6 });
    expect(c.nullMean).not.toBe(a.nullMean);
  });

  it('is a valid test on noise: P(p ≤ 0.05) within the binomial bound, NaN cells kept in place', () => {
    const rng = new Rng(99);
    const rows = 8;
    const cols = 8;
    const maps = 200;
    let rejections = 0;
    for (let k = 0; k < maps; k++) {
      const m = noiseMap(rows, cols, rng);
      m[9] = NaN;
      const r = moranPermutation(m, rows, cols, { contiguity: 'queen', permutations: 99, seed: k });
      expect(r.n).toBe(63);
      if (r.p <= 0.05) rejections++;
    }
    // Binomial(200, 0.05): mean 10, P(X ≥ 21) < 0.001
    expect(rejections).toBeLessThanOrEqual(20);
    expect(rejections).toBeGreaterThanOrEqual(2);
  });

  it('with a shuffle table (shared by the layers of a job) gives the same result to the last bit; refuses a table of another seed or size', () => {
    const rng = new Rng(3);
    for (const [rows, cols, holes] of [
      [12, 16, 0],
      [9, 7, 5],
    ]) {
      const table = shuffleTable(11, rows * cols - holes, 99);
      for (let layer = 0; layer < 3; layer++) {
        const m = noiseMap(rows, cols, rng);
        for (let h = 0; h < holes; h++) m[(h * 13) % m.length] = NaN;
        const plain = moranPermutation(m, rows, cols, { contiguity: 'queen', permutations: 99, seed: 11 });
        const shared = moranPermutation(m, rows, cols, { contiguity: 'queen', permutations: 99, seed: 11, table: () => table });
        expect(shared).toEqual(plain);
      }
    }
    const m = noiseMap(4, 4, rng);
    expect(() => moranPermutation(m, 4, 4, { contiguity: 'rook', permutations: 9, seed: 1, table: () => shuffleTable(2, 16, 9) })).toThrow(/shuffle table is for seed 2/);
    expect(() => moranPermutation(m, 4, 4, { contiguity: 'rook', permutations: 9, seed: 1, table: () => shuffleTable(1, 15, 9) })).toThrow(/15 cells/);
  });
});
