import { describe, expect, it } from 'vitest';
import { pearson, similarityMatrix, ssim, windowKernel } from '../../src/stats/compare.ts';
import { expectClose, loadReference } from './helpers.ts';

const ref = loadReference();

describe('map comparison against explicit-loop references', () => {
  for (const c of ref.compare) {
    it(`${c.name}: Pearson and SSIM (Gaussian σ=1.5, uniform 7 and 3), NaN cells ignored`, () => {
      const x = Float64Array.from(c.x as number[]);
      const y = Float64Array.from(c.y as number[]);
      expectClose(pearson(x, y), c.pearson, 1e-12, 1e-15, 'pearson');
      expectClose(ssim(x, y, c.rows, c.cols), c.ssimGaussian, 1e-11, 1e-14, 'ssim gaussian');
      expectClose(ssim(x, y, c.rows, c.cols, { window: 'uniform', size: 7 }), c.ssimUniform7, 1e-11, 1e-14, 'ssim uniform 7');
      expectClose(ssim(x, y, c.rows, c.cols, { window: 'uniform', size: 3 }), c.ssimUniform3, 1e-11, 1e-14, 'ssim uniform 3');
      expectClose(ssim(y, x, c.rows, c.cols), c.ssimGaussian, 1e-11, 1e-14, 'ssim symmetric');
    });
  }

  it('the reference pairs span similar and dissimilar maps', () => {
    const [ab, ac] = ref.compare;
    expect(ab.pearson).toBeGreaterThan(0.7);
    expect(Math.abs(ac.pearson)).toBeLessThan(0.3);
    expect(ab.ssimGaussian).toBeGreaterThan(ac.ssimGaussian);
  });
});

describe('pearson / ssim properties', () => {
  const rows = 6;
  const cols = 7;
  const a = new Float64Array(rows * cols);
  for (let i = 0; i < a.length; i++) a[i] = Math.sin(i * 0.7) * 3 + (i % 5);

  it('identical maps give 1; an affine copy has r = 1 and SSIM < 1; a negated map has r = −1', () => {
    expect(pearson(a, a)).toBe(1);
    expectClose(ssim(a, a, rows, cols), 1, 1e-14);
    const b = a.map((v) => 2 * v + 1);
    expectClose(pearson(a, b), 1, 1e-14);
    expect(ssim(a, b, rows, cols)).toBeLessThan(0.95);
    const neg = a.map((v) => -v);
    expectClose(pearson(a, neg), -1, 1e-14);
    // (SSIM of a negated map is not necessarily negative: the luminance and structure terms are both
    // negative where local means are far from 0, and their product is positive.)
    expect(ssim(a, neg, rows, cols)).toBeLessThan(0.99);
    // a checkerboard has local means near 0, so its negation is structurally opposite
    const board = a.map((_, i) => ((i % cols) + Math.floor(i / cols)) % 2 ? 1 : -1);
    expect(ssim(board, board.map((v) => -v), rows, cols)).toBeLessThan(-0.3);
  });

  it('degenerate inputs', () => {
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(pearson([1, NaN], [1, 2])).toBeNaN();
    expect(ssim(new Float64Array(4).fill(NaN), new Float64Array(4), 2, 2)).toBeNaN();
    expect(ssim(new Float64Array(4).fill(2), new Float64Array(4).fill(2), 2, 2)).toBe(1);
    expect(() => ssim(a, a, rows, cols, { window: 'uniform', size: 4 })).toThrow(/odd/);
  });

  it('window kernels sum to 1; Gaussian radius round(3.5σ)', () => {
    const g = windowKernel({ sigma: 1.5 });
    expect(g.length).toBe(11);
    expectClose(g.reduce((s, v) => s + v, 0), 1, 1e-15);
    expect(windowKernel({ window: 'uniform', size: 5 }).length).toBe(5);
  });

  it('similarityMatrix is symmetric with the pairwise values', () => {
    const b = a.map((v, i) => v + Math.cos(i));
    const c = a.map((v, i) => (i % 3) - v);
    const maps = [a, b, c];
    for (const metric of ['pearson', 'ssim'] as const) {
      const m = similarityMatrix(maps, rows, cols, metric);
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 3; j++) {
          const direct = metric === 'pearson' ? pearson(maps[i], maps[j]) : ssim(maps[i], maps[j], rows, cols);
          expectClose(m[i * 3 + j], direct, 1e-13, 1e-15);
          expect(m[i * 3 + j]).toBe(m[j * 3 + i]);
        }
      }
      expectClose(m[0], 1, 1e-14);
    }
  });
});
