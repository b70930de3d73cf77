import { describe, expect, it } from 'vitest';
import { NAN_COLOR, colorFor, sequentialColorFor } from '../../src/render/colormap.ts';

/** Relative luminance-ish lightness proxy (Rec. 709 weights on sRGB values). */
const luma = ([r, g, b]: number[]): number => 0.2126 * r + 0.7152 * g + 0.0722 * b;

describe('diverging colormap', () => {
  it('is blue below 0, white at 0, red above', () => {
    const [r0, g0, b0] = colorFor(0, 4);
    expect(Math.min(r0, g0, b0)).toBeGreaterThanOrEqual(240);
    expect(Math.max(r0, g0, b0) - Math.min(r0, g0, b0)).toBeLessThanOrEqual(3);
    const red = colorFor(4, 4);
    const blue = colorFor(-4, 4);
    expect(red[0]).toBeGreaterThan(red[2] + 40);
    expect(red[0]).toBeGreaterThan(red[1] + 40);
    expect(blue[2]).toBeGreaterThan(blue[0] + 40);
    expect(luma(red)).toBeLessThan(80);
    expect(luma(blue)).toBeLessThan(80);
  });

  it('saturates beyond ±vmax and gets darker monotonically away from 0, the same on both sides', () => {
    expect(colorFor(10, 4)).toEqual(colorFor(4, 4));
    expect(colorFor(-10, 4)).toEqual(colorFor(-4, 4));
    expect(colorFor(2, 4)).toEqual(colorFor(1, 2)); // only v / vmax matters
    let prevPos = Infinity;
    let prevNeg = Infinity;
    for (let k = 0; k <= 20; k++) {
      const v = (k / 20) * 3;
      const lp = luma(colorFor(v, 3));
      const ln = luma(colorFor(-v, 3));
      expect(lp).toBeLessThanOrEqual(prevPos + 0.5);
      expect(ln).toBeLessThanOrEqual(prevNeg + 0.5);
      expect(Math.abs(lp - ln)).toBeLessThan(25); // lightness is balanced between the signs
      prevPos = lp;
      prevNeg = ln;
    }
  });

  it('maps NaN to light grey and degenerate vmax to the sign', () => {
    expect(colorFor(NaN, 3)).toEqual(NAN_COLOR);
    expect(NAN_COLOR[0]).toBe(NAN_COLOR[1]);
    expect(NAN_COLOR[0]).toBeGreaterThan(150);
    expect(NAN_COLOR[0]).toBeLessThan(235);
    expect(colorFor(2, 0)).toEqual(colorFor(1, 1));
    expect(colorFor(-2, 0)).toEqual(colorFor(-1, 1));
    expect(colorFor(0, 0)).toEqual(colorFor(0, 1));
  });

  it('has a sequential companion from near-white to dark', () => {
    const lo = sequentialColorFor(0, 0, 5);
    const hi = sequentialColorFor(5, 0, 5);
    expect(luma(lo)).toBeGreaterThan(235);
    expect(luma(hi)).toBeLessThan(60);
    let prev = Infinity;
    for (let k = 0; k <= 20; k++) {
      const l = luma(sequentialColorFor(k / 4, 0, 5));
      expect(l).toBeLessThanOrEqual(prev + 0.5);
      prev = l;
    }
    expect(sequentialColorFor(NaN, 0, 5)).toEqual(NAN_COLOR);
  });
});
