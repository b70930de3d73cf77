import { describe, expect, it } from 'vitest';
import { tfce } from '../../src/stats/tfce.ts';
import { Rng } from '../../src/stats/rng.ts';

describe('tfce', () => {
  it('an isolated cell: Σ h²·dh over h = dh … v (E = 0.5, H = 2)', () => {
    const map = new Float64Array(9);
    map[4] = 2;
    const out = tfce(map, 3, 3, { connectivity: 8, dh: 0.5 });
    expect(out[4]).toBeCloseTo(0.5 * (0.25 + 1 + 2.25 + 4), 12);
    expect(out[0]).toBe(0);
  });

  it('extent enters as size^E: a 2×2 block of 1s with dh = 0.25', () => {
    const map = Float64Array.from([1, 1, 0, 1, 1, 0]);
    const out = tfce(map, 2, 3, { connectivity: 4, dh: 0.25 });
    const s = 0.25 * (0.0625 + 0.25 + 0.5625 + 1);
    for (const i of [0, 1, 3, 4]) expect(out[i]).toBeCloseTo(2 * s, 12);
    expect(out[2]).toBe(0);
  });

  it('connectivity decides whether diagonal cells share extent', () => {
    const map = Float64Array.from([1, 0, 0, 1]);
    const s = 0.25 * (0.0625 + 0.25 + 0.5625 + 1);
    expect(tfce(map, 2, 2, { connectivity: 4, dh: 0.25 })[0]).toBeCloseTo(s, 12);
    expect(tfce(map, 2, 2, { connectivity: 8, dh: 0.25 })[0]).toBeCloseTo(Math.SQRT2 * s, 12);
  });

  it('a peak keeps enhancing above its shoulder', () => {
    const out = tfce(Float64Array.from([2, 1]), 1, 2, { connectivity: 4, dh: 0.5 });
    const shared = Math.SQRT2 * 0.5 * (0.25 + 1);
    expect(out[1]).toBeCloseTo(shared, 12);
    expect(out[0]).toBeCloseTo(shared + 0.5 * (2.25 + 4), 12);
  });

  it('negative values are enhanced separately and signed; NaN stays NaN; custom E and H', () => {
    const rng = new Rng(2);
    const map = new Float64Array(64);
    for (let i = 0; i < 64; i++) map[i] = rng.nextNormal() * 2;
    map[10] = NaN;
    const pos = tfce(map, 8, 8, { connectivity: 8, dh: 0.1 });
    const neg = tfce(map.map((v) => -v), 8, 8, { connectivity: 8, dh: 0.1 });
    for (let i = 0; i < 64; i++) {
      if (i === 10) {
        expect(pos[i]).toBeNaN();
        continue;
      }
      expect(pos[i]).toBeCloseTo(-neg[i], 10);
      if (map[i] >= 0.1) expect(pos[i]).toBeGreaterThan(0);
      if (map[i] <= -0.1) expect(pos[i]).toBeLessThan(0);
      if (Math.abs(map[i]) < 0.1) expect(pos[i]).toBe(0); // below the first step
    }
    const single = new Float64Array(4);
    single[0] = 1;
    // E = 1, H = 1, dh = 0.5: 1·(0.5 + 1)·0.5
    expect(tfce(single, 2, 2, { connectivity: 4, dh: 0.5, E: 1, H: 1 })[0]).toBeCloseTo(0.75, 12);
  });

  it('default steps: 100 steps up to the maximum', () => {
    const map = new Float64Array(4);
    map[0] = 3;
    // Σ_{k=1..100} (0.03k)²·0.03 = 0.03³·Σk² = 0.03³·338350
    expect(tfce(map, 2, 2, { connectivity: 4 })[0]).toBeCloseTo(0.03 ** 3 * 338350, 9);
  });
});
