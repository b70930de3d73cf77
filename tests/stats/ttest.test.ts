import { describe, expect, it } from 'vitest';
import { Moments } from '../../src/stats/moments.ts';
import { tStatistic, tTest, type TestKind } from '../../src/stats/ttest.ts';
import { expectClose, loadReference } from './helpers.ts';

const ref = loadReference();

function momentsOf(values: number[], rows: number, units: number): Moments {
  const m = new Moments(units);
  m.pushRows(Float32Array.from(values), rows);
  return m;
}

describe('tTest against scipy.stats.ttest_ind', () => {
  for (const c of ref.ttest) {
    for (const kind of ['welch', 'student'] as TestKind[]) {
      it(`${c.name} (${kind}, nA=${c.nA}, nB=${c.nB})`, () => {
        const a = momentsOf(c.a, c.nA, c.units);
        const b = momentsOf(c.b, c.nB, c.units);
        const r = tTest(a, b, kind);
        const e = c[kind];
        let zero = 0;
        for (let j = 0; j < c.units; j++) {
          const what = `${c.name}/${kind}/unit ${j}`;
          expect(r.zeroVariance[j], `${what} zeroVariance`).toBe(c.zeroVariance[j]);
          zero += c.zeroVariance[j];
          expectClose(r.t[j], e.t[j], 1e-9, 1e-12, `${what} t`);
          // against the exactly computed t (rational arithmetic): the compensated mean keeps ~full precision
          expectClose(r.t[j], e.tExact[j], 1e-12, 1e-14, `${what} exact t`);
          expectClose(r.df[j], e.df[j], 1e-9, 0, `${what} df`);
          if (e.p[j] > 1e-290) expectClose(r.p[j], e.p[j], 1e-9, 0, `${what} p`);
          else expect(r.p[j], `${what} p`).toBeLessThan(1e-280);
          expectClose(r.log10p[j], e.log10p[j], 1e-8, 1e-12, `${what} log10p`);
          expect(Number.isFinite(r.log10p[j])).toBe(true);
          expectClose(r.d[j], c.d[j], 1e-9, 1e-12, `${what} d`);
          expectClose(r.g[j], c.g[j], 1e-9, 1e-12, `${what} g`);
          expectClose(r.varA[j], c.varA[j], 1e-9, 1e-300, `${what} varA`);
          expectClose(r.varB[j], c.varB[j], 1e-9, 1e-300, `${what} varB`);
        }
        expect(r.zeroVarianceUnits).toBe(zero);
      });
    }
  }

  it('the reference includes p < 1e-300 (scipy p = 0) on both signs, one-group-zero-variance and dead units', () => {
    const c = ref.ttest.find((x: { name: string }) => x.name === 'special-units');
    expect(c.welch.p[2]).toBe(0);
    expect(c.welch.log10p[2]).toBeLessThan(-300);
    expect(c.welch.t[3]).toBeLessThan(0);
    expect(c.welch.log10p[3]).toBeLessThan(-300);
    expect(c.varA[1]).toBe(0);
    expect(c.varB[1]).toBeGreaterThan(0);
    expect(c.zeroVariance[0]).toBe(1);
  });
});

describe('tTest rules', () => {
  it('positive t when A > B, Welch and Student agree on t when nA = nB', () => {
    const a = momentsOf([1, 2, 3, 4, 2.5, 3.5], 3, 2);
    const b = momentsOf([0, 0, 1, 1, 0.5, 3], 3, 2);
    const w = tTest(a, b, 'welch');
    const s = tTest(a, b, 'student');
    expect(w.t[0]).toBeGreaterThan(0);
    for (let j = 0; j < 2; j++) expectClose(w.t[j], s.t[j], 1e-14);
    expect(s.df[0]).toBe(4);
    expect(w.df[0]).toBeLessThanOrEqual(4);
  });

  it('both groups constant: t = 0, p = 1 even with different constants; one constant group is a normal Welch test', () => {
    // unit 0: A ≡ 1, B ≡ 0 (both zero variance); unit 1: A ≡ 2, B varies
    const a = momentsOf([1, 2, 1, 2, 1, 2], 3, 2);
    const b = momentsOf([0, 0, 0, 1, 0, 2], 3, 2);
    const r = tTest(a, b, 'welch');
    expect([r.t[0], r.p[0], r.log10p[0], r.d[0], r.g[0]]).toEqual([0, 1, 0, 0, 0]);
    expect(r.zeroVarianceUnits).toBe(1);
    // unit 1: s²A = 0, s²B = 1, t = (2 − 1)/√(1/3), df = nB − 1 = 2
    expectClose(r.t[1], Math.sqrt(3), 1e-14);
    expectClose(r.df[1], 2, 1e-14);
  });

  it('Hedges g = d·J with the exact gamma correction', () => {
    const a = momentsOf([1, 2, 4, 3, 5], 5, 1);
    const b = momentsOf([0, 1, 0.5, 2], 4, 1);
    const r = tTest(a, b);
    // m = 7: J = Γ(3.5)/(√3.5·Γ(3)) = 3.323350970447843/(1.8708286933869707·2)
    expectClose(r.g[0] / r.d[0], 3.323350970447843 / (Math.sqrt(3.5) * 2), 1e-13);
  });

  it('throws a clear error when a group has fewer than 2 samples', () => {
    const a = momentsOf([1, 2], 1, 2);
    const b = momentsOf([0, 0, 1, 1], 2, 2);
    expect(() => tTest(a, b, 'welch')).toThrow(/at least 2 samples.*n_A = 1/);
    expect(() => tTest(b, new Moments(2), 'student')).toThrow(/n_B = 0/);
    expect(() => tTest(b, new Moments(3))).toThrow();
  });

  it('tStatistic equals tTest().t', () => {
    const c = ref.ttest[1];
    const a = momentsOf(c.a, c.nA, c.units);
    const b = momentsOf(c.b, c.nB, c.units);
    for (const kind of ['welch', 'student'] as TestKind[]) {
      const full = tTest(a, b, kind).t;
      const only = tStatistic(a, b, kind);
      for (let j = 0; j < c.units; j++) expectClose(only[j], full[j], 1e-14, 0);
    }
  });
});
