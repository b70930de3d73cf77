import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { barChartFigure, effectVsControlFigure, histogramFigure, linePlotFigure, svgToPng, type RGB } from '../../src/render/index.ts';
import { project } from '../../src/render/layout.ts';
import { count, decode, near, parseSvg } from './pixels.ts';

const RED: RGB = [178, 24, 43];
const GREY: RGB = [90, 90, 90];
const BLUE: RGB = [0, 114, 178];
const same = (a: RGB, b: RGB): boolean => near(a, b, 0);
/** `c` at `alpha` over white. */
const over = (c: RGB, alpha: number): RGB => c.map((v) => Math.round(alpha * v + (1 - alpha) * 255)) as RGB;

describe('line plots', () => {
  const x = Float64Array.from({ length: 10 }, (_, i) => i + 1);
  const curve = x.map((d) => 3 - 2 * Math.exp(-d / 3));

  it('draws curves with markers at their points, dashed lines, shaded bands and a legend', async () => {
    const f = linePlotFigure({
      title: 'Smoothness: mean |dt| by sheet distance',
      xLabel: 'distance (cells)',
      yLabel: 'mean |dt|',
      series: [
        { name: 'observed', x, y: curve, color: RED },
        { name: 'shuffled positions', x, y: x.map(() => 2.9), color: GREY, dashed: true, markers: false },
        { name: 'control band', x, lo: x.map(() => 0.6), hi: x.map(() => 1.0), color: BLUE },
      ],
    });
    const img = await decode(await svgToPng(f.svg));
    const { plot, x: X, y: Y } = f.layout;
    expect([img.width, img.height]).toEqual([640, 440]);
    expect(X.lo).toBeLessThanOrEqual(1);
    expect(X.hi).toBeGreaterThanOrEqual(10);
    expect(Y.lo).toBeLessThanOrEqual(0.6);
    const px = (v: number): number => project(X, v, plot.x, plot.x + plot.width);
    const py = (v: number): number => project(Y, v, plot.y + plot.height, plot.y);
    for (let i = 0; i < 10; i++) expect(same(img.px(px(x[i]), py(curve[i])), RED), `point ${i}`).toBe(true);
    // The band: blue at 22% over white between lo and hi (off the grid lines), and nothing above it.
    expect(near(img.px(px(5.5), py(0.7)), over(BLUE, 0.22), 2)).toBe(true);
    expect(near(img.px(px(5.5), py(1.1)), [255, 255, 255], 30)).toBe(true);
    // The dashed line: grey pixels along y = 2.9 with gaps between them.
    const row = Math.round(py(2.9));
    let on = 0;
    let off = 0;
    for (let xx = Math.round(px(6)); xx < Math.round(px(10)); xx++) {
      if (count(img, xx, row - 1, xx + 1, row + 2, (c) => same(c, GREY)) > 0) on++;
      else off++;
    }
    expect(on).toBeGreaterThan(50);
    expect(off).toBeGreaterThan(20);
    // The legend and the axis labels put ink above and left of the plot.
    expect(count(img, 0, plot.y - 30, img.width, plot.y - 4, (c) => same(c, RED))).toBeGreaterThan(20);
    expect(count(img, 0, plot.y, plot.x - 6, plot.y + plot.height, (c) => c[0] < 100)).toBeGreaterThan(100);
  });

  it('puts points on a log x axis at log positions and leaves out x ≤ 0', async () => {
    const ks = [0, 1, 10, 100, 1000];
    const f = linePlotFigure({ title: 'dose-response', xLabel: 'k', yLabel: 'effect', xLog: true, yZero: true, series: [{ name: 'lesion', x: ks, y: [5, 0.1, 0.2, 0.3, 0.4], color: RED }] });
    const { plot, x: X, y: Y } = f.layout;
    expect(X.log).toBe(true);
    expect(X.ticks).toEqual([1, 10, 100, 1000]);
    expect(Y.lo).toBe(0);
    expect(Y.hi).toBeLessThan(1); // the point at x = 0 was left out
    const img = await decode(await svgToPng(f.svg));
    const x10 = plot.x + plot.width / 3;
    expect(same(img.px(x10, project(Y, 0.2, plot.y + plot.height, plot.y)), RED)).toBe(true);
  });
});

describe('bar charts', () => {
  it('draws bars proportional to their values from a zero base, grouped, with error bars', async () => {
    const values = [2, 1, 0.5, -1];
    const f = barChartFigure({
      title: 'response profile',
      yLabel: 'mean response',
      categories: ['faces', 'bodies', 'places', 'objects'],
      groups: [
        { name: 'fROI', values, lo: values.map((v) => v - 0.3), hi: values.map((v) => v + 0.3), color: BLUE },
        { name: 'control', values: [0.5, 0.5, 0.5, NaN], color: RED },
      ],
    });
    const img = await decode(await svgToPng(f.svg));
    const { bars, plot, y: Y } = f.layout;
    expect(bars.length).toBe(7); // the NaN bar is not drawn
    const unit = bars[0].height / 2;
    for (const b of bars) {
      const v = b.group === 0 ? values[b.category] : 0.5;
      expect(b.height).toBeCloseTo(Math.abs(v) * unit, 6);
      expect(b.y < b.base).toBe(v > 0);
      // In the PNG: the bar's colour from its base to its end, ±1 px, and not beyond.
      const cx = b.x + 3; // off the error bar
      const colour = b.group === 0 ? BLUE : RED;
      const top = Math.round(b.y);
      const bottom = Math.round(b.y + b.height);
      expect(count(img, cx, top + 1, cx + 1, bottom - 1, (c) => !same(c, colour)), `bar ${b.group}/${b.category}`).toBe(0);
      const outside = v > 0 ? top - 3 : bottom + 2;
      if (b.group === 1) expect(same(img.px(cx, outside), colour)).toBe(false);
    }
    // Error bars: dark ink at the CI ends of the first bar.
    const b0 = bars[0];
    const hiY = project(Y, 2.3, plot.y + plot.height, plot.y);
    expect(count(img, b0.x + b0.width / 2 - 3, hiY - 1, b0.x + b0.width / 2 + 3, hiY + 2, (c) => c[0] < 60 && c[2] < 60)).toBeGreaterThan(2);
    // Category labels under the plot.
    expect(count(img, plot.x, plot.y + plot.height + 6, plot.x + plot.width, plot.y + plot.height + 24, (c) => c[0] < 100)).toBeGreaterThan(50);
  });

  it('rotates long category labels and still fits them', async () => {
    const cats = Array.from({ length: 12 }, (_, i) => `a rather long category name ${i}`);
    const f = barChartFigure({ title: 't', yLabel: 'y', categories: cats, groups: [{ name: 'g', values: cats.map((_, i) => i) }] });
    expect(f.svg).toContain('rotate(-35');
    expect(f.layout.plot.y + f.layout.plot.height).toBeLessThan(f.height - 60);
    parseSvg(f.svg);
  });
});

describe('effect against its control distribution', () => {
  it('marks the effect on each row and shows the controls as dots or a histogram', async () => {
    const controls = Array.from({ length: 100 }, (_, i) => Math.sin(i * 12.9898) * 0.03);
    const many = Array.from({ length: 1000 }, (_, i) => Math.cos(i * 3.3) * 0.04);
    const f = effectVsControlFigure({
      title: 'fROI lesion vs 100 random lesions',
      xLabel: 'drop in accuracy',
      sets: [
        { name: 'faces', control: controls, effect: 0.21, note: 'p < 0.01' },
        { name: 'objects', control: many, effect: -0.01, note: 'p = 0.6' },
        { name: 'nothing', control: [], effect: NaN },
      ],
    });
    const img = await decode(await svgToPng(f.svg));
    const [faces, objects, nothing] = f.layout.rows;
    const ORANGE: RGB = [213, 94, 0];
    for (const r of [faces, objects]) expect(near(img.px(r.effectX, r.y + r.height * 0.2), ORANGE, 2)).toBe(true);
    expect(faces.effectX).toBeCloseTo(project(f.layout.x, 0.21, f.layout.plot.x, f.layout.plot.x + f.layout.plot.width), 6);
    expect(Number.isNaN(nothing.effectX)).toBe(true);
    const grey = (c: RGB): boolean => Math.abs(c[0] - c[1]) < 8 && Math.abs(c[1] - c[2]) < 8 && c[0] > 90 && c[0] < 215;
    const x0 = project(f.layout.x, -0.035, f.layout.plot.x, f.layout.plot.x + f.layout.plot.width);
    const x1 = project(f.layout.x, 0.035, f.layout.plot.x, f.layout.plot.x + f.layout.plot.width);
    expect(count(img, x0, faces.y + 4, x1, faces.y + faces.height - 4, grey)).toBeGreaterThan(300); // dots
    expect(count(img, x0, objects.y + 4, x1, objects.y + objects.height - 4, grey)).toBeGreaterThan(1000); // histogram
    expect(count(img, x0, nothing.y + 4, x1, nothing.y + nothing.height - 4, grey)).toBeLessThan(20);
    expect(f.svg).toContain('p &lt; 0.01');
  });
});

describe('histograms', () => {
  it('counts values into bins and draws bars of those heights, with markers', async () => {
    const a = Array.from({ length: 1000 }, (_, i) => (i % 10) + 0.5); // 100 per unit bin over [0.5, 9.5]
    const b = [NaN, Infinity, ...Array.from({ length: 300 }, () => 2)];
    const f = histogramFigure({ title: 'activations', xLabel: 'activation', bins: 9, series: [{ name: 'A', values: a, color: BLUE }, { name: 'B', values: b, color: RED }], markers: [{ x: 5, name: 'threshold' }] });
    const { edges, heights, plot, x: X, y: Y } = f.layout;
    expect(edges.length).toBe(10);
    expect(edges[0]).toBe(0.5);
    expect(edges[9]).toBe(9.5);
    expect(heights[0]).toEqual([100, 100, 100, 100, 100, 100, 100, 100, 200]); // the top edge is in the last bin
    expect(heights[1].reduce((s, v) => s + v, 0)).toBe(300);
    const img = await decode(await svgToPng(f.svg));
    const px = (v: number): number => project(X, v, plot.x, plot.x + plot.width);
    const py = (v: number): number => project(Y, v, plot.y + plot.height, plot.y);
    // Inside bin 3 (A only), below its top (off the grid lines): A's translucent fill; above it: no fill.
    expect(Y.ticks).not.toContain(70);
    expect(near(img.px(px(4.3), py(70)), over(BLUE, 0.35), 3)).toBe(true);
    expect(near(img.px(px(4.3), py(130)), [255, 255, 255], 30)).toBe(true);
    // The marker: a dashed black line at x = 5.
    expect(count(img, px(5) - 1, plot.y, px(5) + 2, plot.y + plot.height, (c) => c[0] < 40 && c[1] < 40)).toBeGreaterThan(60);
  });

  it('normalises per series', () => {
    const f = histogramFigure({ title: 'h', xLabel: 'x', bins: 4, normalize: true, series: [{ name: 'a', values: [0, 1, 2, 3] }, { name: 'b', values: [0, 0, 3, 3, 3, 3] }] });
    expect(f.layout.heights).toEqual([[0.25, 0.25, 0.25, 0.25], [2 / 6, 0, 0, 4 / 6]]);
    expect(f.svg).toContain('>proportion<');
  });
});

describe('every plot', () => {
  const hostile = `<script>alert(1)</script> & "x" \u0001`;
  const kinds = {
    line: (t: string, v: number[]) => linePlotFigure({ title: t, xLabel: t, yLabel: t, series: [{ name: t, x: v.map((_, i) => i), y: v, lo: v.map((w) => w - 1), hi: v }] }),
    bars: (t: string, v: number[]) => barChartFigure({ title: t, yLabel: t, xLabel: t, categories: v.map(() => t), groups: [{ name: t, values: v, lo: v, hi: v.map((w) => w * 2) }] }),
    effect: (t: string, v: number[]) => effectVsControlFigure({ title: t, xLabel: t, sets: [{ name: t, control: v, effect: v[0], note: t }] }),
    hist: (t: string, v: number[]) => histogramFigure({ title: t, xLabel: t, series: [{ name: t, values: v }], markers: [{ x: v[0], name: t }] }),
  };

  it('keeps hostile text escaped and well-formed, and is deterministic', async () => {
    for (const [kind, make] of Object.entries(kinds)) {
      const f = make(hostile, [1, 2, 3]);
      expect(f.svg, kind).not.toMatch(/<script/);
      parseSvg(f.svg);
      const [p, q] = await Promise.all([svgToPng(f.svg), svgToPng(make(hostile, [1, 2, 3]).svg)]);
      expect(p.equals(q), kind).toBe(true);
    }
  });

  it('draws any data, however extreme, without a non-finite coordinate', () => {
    const anyDouble = fc.oneof(fc.double(), fc.constantFrom(1e308, -1e308, Infinity, -Infinity, NaN, 0, 5e-324));
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(kinds)), fc.array(anyDouble, { minLength: 1, maxLength: 6 }), (kind, v) => {
        const svg = kinds[kind as keyof typeof kinds]('t', v).svg;
        expect(/NaN|Infinity/.test(svg), svg.slice(0, 400)).toBe(false);
      }),
      { numRuns: 600 },
    );
  });
});
