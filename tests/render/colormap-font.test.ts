import { describe, expect, it } from 'vitest';
import { FONT_CHARACTERS, GLYPH_HEIGHT, drawText, drawTextVertical, glyph, hasGlyph, textHeight, textWidth } from '../../src/render/font.ts';
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

describe('bitmap font', () => {
  const printable = Array.from({ length: 0x7e - 0x20 + 1 }, (_, i) => String.fromCharCode(0x20 + i));

  it('covers printable ASCII with distinct glyphs', () => {
    const seen = new Map<string, string>();
    for (const ch of printable) {
      expect(hasGlyph(ch), `glyph for ${JSON.stringify(ch)}`).toBe(true);
      const bm = glyph(ch);
      const ink = bm.reduce((a, b) => a + b, 0);
      if (ch === ' ') expect(ink).toBe(0);
      else expect(ink, `ink of ${JSON.stringify(ch)}`).toBeGreaterThan(0);
      const key = bm.join('');
      expect(seen.get(key), `${JSON.stringify(ch)} looks like ${JSON.stringify(seen.get(key))}`).toBeUndefined();
      seen.set(key, ch);
    }
    expect(FONT_CHARACTERS.length).toBeGreaterThanOrEqual(printable.length);
    // Unknown characters draw as a box rather than nothing.
    expect(glyph('\u4e2d').reduce((a, b) => a + b, 0)).toBeGreaterThan(10);
  });

  it('uses descenders only for letters that have them', () => {
    const descends = (ch: string): boolean => glyph(ch).slice(7 * 5).some((v) => v === 1);
    for (const ch of 'gjpqy,;_') expect(descends(ch), ch).toBe(true);
    for (const ch of 'abcdefhiklmnorstuvwxzABCXYZ0123456789') expect(descends(ch), ch).toBe(false);
  });

  it('draws text inside its measured box, scaled, and clips at the edges', () => {
    const W = 160;
    const H = 40;
    const rgba = new Uint8Array(W * H * 4);
    const text = "Cohen's d = -0.8 (q<5%)";
    const scale = 1;
    const w = drawText(rgba, W, H, 3, 4, text, [255, 0, 0], scale);
    expect(w).toBe(textWidth(text, scale));
    expect(textWidth(text, 2)).toBe(2 * textWidth(text, 1));
    expect(textHeight('a', 3)).toBe(GLYPH_HEIGHT * 3);
    let minX = W, maxX = -1, minY = H, maxY = -1, count = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        if (rgba[(y * W + x) * 4] === 255) {
          count++;
          minX = Math.min(minX, x);
          maxX = Math.max(maxX, x);
          minY = Math.min(minY, y);
          maxY = Math.max(maxY, y);
        }
      }
    }
    expect(count).toBeGreaterThan(50);
    expect(minX).toBeGreaterThanOrEqual(3);
    expect(maxX).toBeLessThan(3 + w);
    expect(minY).toBeGreaterThanOrEqual(4);
    expect(maxY).toBeLessThan(4 + textHeight(text, scale));
    // Scale 2 puts exactly 4× the ink down.
    const big = new Uint8Array(400 * 60 * 4);
    drawText(big, 400, 60, 0, 0, text, [255, 0, 0], 2);
    expect(big.filter((_, i) => i % 4 === 0 && big[i] === 255).length).toBe(4 * count);
    // Out of bounds: no throw, nothing drawn outside.
    const small = new Uint8Array(10 * 10 * 4);
    expect(() => drawText(small, 10, 10, -20, -3, 'clipped text', [9, 9, 9], 3)).not.toThrow();
    expect(() => drawTextVertical(small, 10, 10, 5, 5, 'vertical', [9, 9, 9], 2)).not.toThrow();
  });

  it('draws vertical text as the rotation of horizontal text', () => {
    const text = 'mean |dt|';
    const tw = textWidth(text, 1);
    const th = textHeight(text, 1);
    const h = new Uint8Array(tw * th * 4);
    drawText(h, tw, th, 0, 0, text, [255, 255, 255], 1);
    const v = new Uint8Array(th * tw * 4);
    drawTextVertical(v, th, tw, 0, 0, text, [255, 255, 255], 1);
    // Rotating CCW: horizontal (x, y) → vertical (y, tw − 1 − x).
    for (let y = 0; y < th; y++) {
      for (let x = 0; x < tw; x++) expect(v[((tw - 1 - x) * th + y) * 4]).toBe(h[(y * tw + x) * 4]);
    }
  });
});
