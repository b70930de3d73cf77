import { describe, expect, it } from 'vitest';
import { adjustP, type Correction } from '../../src/stats/correction.ts';
import { Rng } from '../../src/stats/rng.ts';
import { expectClose, loadReference } from './helpers.ts';

const ref = loadReference();
const METHODS: Correction[] = ['bh', 'by', 'holm', 'bonferroni', 'none'];

describe('adjustP matches R p.adjust', () => {
  for (const c of ref.padjust) {
    it(`${c.name} (m = ${c.p.length})`, () => {
      const p = Float64Array.from(c.p as number[]);
      for (const m of METHODS) {
        const q = adjustP(p, m);
        for (let i = 0; i < p.length; i++) expectClose(q[i], c[m][i], 1e-14, 0, `${c.name}/${m}[${i}]`);
      }
    });
  }

  it('textbook values (R: p.adjust(c(.01,.02,.03,.04,.05), m))', () => {
    const p = Float64Array.from([0.01, 0.02, 0.03, 0.04, 0.05]);
    const bh = adjustP(p, 'bh');
    const holm = adjustP(p, 'holm');
    const by = adjustP(p, 'by');
    const bonf = adjustP(p, 'bonferroni');
    for (let i = 0; i < 5; i++) expectClose(bh[i], 0.05, 1e-15);
    [0.05, 0.08, 0.09, 0.09, 0.09].forEach((v, i) => expectClose(holm[i], v, 1e-15));
    const c = 1 + 1 / 2 + 1 / 3 + 1 / 4 + 1 / 5;
    for (let i = 0; i < 5; i++) expectClose(by[i], 0.05 * c, 1e-15);
    [0.05, 0.1, 0.15, 0.2, 0.25].forEach((v, i) => expectClose(bonf[i], v, 1e-15));
  });

  it('NaN stays NaN and does not count in m; results are capped at 1 and keep the input order', () => {
    const p = Float64Array.from([0.04, NaN, 0.01, 0.9]);
    expect(Array.from(adjustP(p, 'bonferroni'))).toEqual([0.12, NaN, 0.03, 1]);
    const bh = adjustP(p, 'bh');
    expect(bh[1]).toBeNaN();
    expectClose(bh[0], 0.06, 1e-15); // 3/2·0.04
    expectClose(bh[2], 0.03, 1e-15); // 3/1·0.01
    expectClose(bh[3], 0.9, 1e-15);
    expect(adjustP(new Float64Array(0), 'holm').length).toBe(0);
  });

  it('properties on random input: q ≥ p, monotone in p, BY ≥ BH, Holm ≤ Bonferroni', () => {
    const rng = new Rng(3);
    const p = new Float64Array(300);
    for (let i = 0; i < p.length; i++) p[i] = rng.nextFloat() ** 3;
    const q = Object.fromEntries(METHODS.map((m) => [m, adjustP(p, m)])) as Record<Correction, Float64Array>;
    const order = Array.from(p.keys()).sort((a, b) => p[a] - p[b]);
    for (const m of METHODS) {
      for (let k = 0; k < p.length; k++) {
        expect(q[m][k]).toBeGreaterThanOrEqual(p[k]);
        expect(q[m][k]).toBeLessThanOrEqual(1);
        if (k > 0) expect(q[m][order[k]]).toBeGreaterThanOrEqual(q[m][order[k - 1]]);
      }
    }
    for (let k = 0; k < p.length; k++) {
      expect(q.by[k]).toBeGreaterThanOrEqual(q.bh[k]);
      expect(q.holm[k]).toBeLessThanOrEqual(q.bonferroni[k]);
      expect(q.bh[k]).toBeLessThanOrEqual(q.holm[k]);
    }
  });

  it('rejects unknown methods', () => {
    expect(() => adjustP(Float64Array.from([0.1]), 'fdr' as Correction)).toThrow(/unknown correction/);
  });
});
