import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatTick, formatValue, logTicks, MAX_TICKS, niceTicks } from '../../src/render/index.ts';
import { linearAxis } from '../../src/render/layout.ts';

const MAX = Number.MAX_VALUE;
const anyDouble = fc.oneof(
  fc.double(),
  fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, 5e-324, -5e-324, 1e308, -1e308, MAX, -MAX, 2.2250738585072014e-308, 1, 1 + Number.EPSILON),
);
const anyCount = fc.oneof(fc.integer({ min: -5, max: 80 }), fc.double());

/** The interval niceTicks is documented to use for (lo, hi). */
function effectiveRange(lo: number, hi: number): [number, number] | undefined {
  if (Number.isNaN(lo)) lo = hi;
  if (Number.isNaN(hi)) hi = lo;
  if (Number.isNaN(lo)) return undefined;
  const c = (v: number): number => Math.max(-MAX, Math.min(MAX, v));
  return [Math.min(c(lo), c(hi)), Math.max(c(lo), c(hi))];
}

/** What is wrong with niceTicks' answer for (lo, hi), or null. */
function tickProblem(lo: number, hi: number, ticks: number[], step: number): string | null {
  if (!(step > 0 && step < Infinity)) return `step ${step}`;
  if (ticks.length > MAX_TICKS) return `${ticks.length} ticks`;
  const r = effectiveRange(lo, hi);
  if (!r) return ticks.length === 0 ? null : 'ticks for NaN bounds';
  if (ticks.length < 1) return 'no ticks';
  const tol = step * 1e-6 + 1e-11 * Math.max(Math.abs(r[0]), Math.abs(r[1]));
  for (let i = 0; i < ticks.length; i++) {
    const t = ticks[i];
    if (!Number.isFinite(t)) return `tick ${t}`;
    if (i > 0 && !(t > ticks[i - 1])) return `not increasing at ${i}`;
    if (t < r[0] - tol || t > r[1] + tol) return `tick ${t} outside [${r[0]}, ${r[1]}]`;
    const label = formatTick(t, step);
    if (label.length > 24 || /NaN|Infinity|∞/.test(label)) return `label ${label}`;
  }
  return null;
}

describe('niceTicks on any input', () => {
  it('returns a finite, strictly increasing, bounded list inside the range, with a finite positive step', () => {
    fc.assert(
      fc.property(anyDouble, anyDouble, anyCount, anyCount, anyCount, (lo, hi, a, b, p) => {
        const { ticks, step } = niceTicks(lo, hi, a, b, p);
        expect(tickProblem(lo, hi, ticks, step)).toBeNull();
      }),
      { numRuns: 5000 },
    );
  });

  it('with the default counts gives 3 to 21 ticks with distinct labels whenever the span is resolvable', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e300, max: 1e300, noNaN: true }), fc.double({ min: 1e-6, max: 1e6, noNaN: true }), (lo, rel) => {
        const span = Math.max(Math.abs(lo), 1e-300) * rel;
        const hi = lo + span;
        fc.pre(hi > lo && Number.isFinite(hi) && span / Math.max(Math.abs(lo), Math.abs(hi)) > 1e-9);
        const { ticks, step } = niceTicks(lo, hi);
        const labels = ticks.map((t) => formatTick(t, step));
        expect(ticks.length >= 3 && ticks.length <= 21 && new Set(labels).size === labels.length, labels.join(' ')).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('ends at once on the inputs that used to loop (issue 7: vmax = 1e308)', () => {
    for (const v of [1e308, MAX, Infinity, 5e-324, 1e-308]) {
      const { ticks, step } = niceTicks(-v, v, 5, 11, 7);
      expect(ticks.length).toBeGreaterThanOrEqual(2);
      expect(ticks.every(Number.isFinite) && Number.isFinite(step)).toBe(true);
    }
    expect(niceTicks(-1e308, 1e308).ticks).toEqual([-1e308, -5e307, 0, 5e307, 1e308]);
  });

  it('picks nice ticks on ordinary ranges', () => {
    for (const vmax of [0.013, 0.9, 1, 2.9, 3.3, 6, 7.3, 11.2, 48, 1234]) {
      const { ticks, step } = niceTicks(-vmax, vmax, 5, 11, 7);
      expect(ticks.length, `vmax ${vmax}`).toBeGreaterThanOrEqual(5);
      expect(ticks.length).toBeLessThanOrEqual(11);
      expect(ticks).toContain(0);
      expect(ticks[0]).toBeCloseTo(-ticks[ticks.length - 1], 12);
      const m = step / 10 ** Math.floor(Math.log10(step));
      expect([1, 2, 2.5, 5].some((k) => Math.abs(m - k) < 1e-9)).toBe(true);
    }
    expect(niceTicks(-10, 10).ticks).toEqual([-10, -5, 0, 5, 10]);
    expect(niceTicks(-7.3, 7.3).ticks).toEqual([-6, -4, -2, 0, 2, 4, 6]);
    expect(niceTicks(0, 5.5).ticks).toEqual([0, 1, 2, 3, 4, 5]);
    // Only 5–6 ticks allowed but no nice step gives 5 in ±3.99996: more ticks rather than odd numbers.
    expect(niceTicks(-3.99996, 3.99996, 5, 6, 7).ticks).toEqual([-3, -2, -1, 0, 1, 2, 3]);
    expect(niceTicks(10, -10).ticks).toEqual([-10, -5, 0, 5, 10]);
    expect(niceTicks(3, 3)).toEqual({ ticks: [3], step: 3 });
    expect(niceTicks(NaN, NaN).ticks).toEqual([]);
    expect(niceTicks(NaN, 4).ticks).toEqual([4]);
    // A span below the precision of the bounds: the bounds and their midpoint.
    expect(niceTicks(1, 1 + 4 * Number.EPSILON).ticks).toEqual([1, 1 + 2 * Number.EPSILON, 1 + 4 * Number.EPSILON]);
  });
});

describe('logTicks', () => {
  it('is finite, positive, increasing and bounded for any input', () => {
    fc.assert(
      fc.property(anyDouble, anyDouble, fc.integer({ min: -3, max: 100 }), (lo, hi, n) => {
        const t = logTicks(lo, hi, n);
        const ok = t.length >= 1 && t.length <= MAX_TICKS && t.every((v, i) => v > 0 && v < Infinity && (i === 0 || v > t[i - 1]));
        expect(ok, String(t)).toBe(true);
      }),
      { numRuns: 3000 },
    );
    expect(logTicks(1, 100)).toEqual([1, 2, 5, 10, 20, 50, 100]);
    expect(logTicks(1, 512)).toEqual([1, 10, 100]);
    expect(logTicks(1e-3, 1e6, 5)).toEqual([1e-2, 1, 100, 1e4, 1e6]);
  });
});

describe('number labels', () => {
  it('writes ticks with the decimals the step needs, a typographic minus and no −0', () => {
    expect(formatTick(-0.30000000000000004, 0.1)).toBe('\u22120.3');
    expect(formatTick(-0, 1)).toBe('0');
    expect(formatTick(2.5, 2.5)).toBe('2.5');
    expect(formatTick(5, 2.5)).toBe('5.0');
    expect(formatTick(-0.00001, 1)).toBe('0');
    expect(formatTick(1.25e-4, 2.5e-5)).toBe('1.25e\u22124');
    expect(formatTick(2e7, 5e6)).toBe('2e7');
    expect(formatTick(-1e308, 5e307)).toBe('\u22121e308');
    expect(formatTick(5e-324, 5e-324)).toBe('5e\u2212324');
  });

  it('writes free values with 3 significant digits and names non-finite ones', () => {
    expect(formatValue(6)).toBe('6');
    expect(formatValue(-4.2345)).toBe('\u22124.23');
    expect(formatValue(1e308)).toBe('1e308');
    expect(formatValue(1.5e-7)).toBe('1.5e\u22127');
    expect(formatValue(NaN)).toBe('NaN');
    expect(formatValue(-Infinity)).toBe('\u2212\u221e');
    fc.assert(
      fc.property(anyDouble, (v) => {
        expect(formatValue(v).length <= 12).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('axis ranges', () => {
  it('are finite, cover the data and have at least two ticks, for any data', () => {
    fc.assert(
      fc.property(fc.array(anyDouble, { maxLength: 8 }), fc.boolean(), (values, zero) => {
        const ax = linearAxis(values, zero);
        const ok =
          Number.isFinite(ax.lo) &&
          Number.isFinite(ax.hi) &&
          ax.hi > ax.lo &&
          ax.ticks.length >= 2 &&
          ax.ticks.length <= MAX_TICKS &&
          ax.labels.length === ax.ticks.length &&
          values.every((v) => !Number.isFinite(v) || (v >= ax.lo && v <= ax.hi));
        expect(ok, JSON.stringify(ax)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('end on narrow ranges of huge values, where k + 1 === k (found looping by the property above)', () => {
    // In a child process with a deadline: a loop here would otherwise hang the whole test run.
    const code = `import { linearAxis } from './src/render/layout.ts';
      for (const [a, b] of [[1e17, 1e17 + 16], [-1e17 - 16, -1e17], [9.1e15, 9.1e15 + 2], [1e300, 1e300 * (1 + 8e-16)]]) {
        const ax = linearAxis([a, b]);
        if (!(ax.ticks.length >= 2 && ax.ticks.length <= 50 && ax.hi > ax.lo)) throw new Error(JSON.stringify(ax));
      }`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: process.cwd(), timeout: 60_000, encoding: 'utf8' });
    expect(r.signal, 'linearAxis did not return within 60 s').toBeNull();
    expect(r.status, r.stderr).toBe(0);
  });
});
