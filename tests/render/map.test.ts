import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  categoricalMapFigure,
  colorFor,
  colormapAt,
  defaultCellPx,
  mapFigure,
  NAN_COLOR,
  qualitativePalette,
  renderMapPng,
  renderMapSvg,
  sequentialColorFor,
  svgToPng,
  type MapOptions,
} from '../../src/render/index.ts';
import { count, decode, isBlack, isWhite, near, parseSvg, type Image } from './pixels.ts';

/** A 16×16 sheet: +6 in cell 0, −6 in the last, a gentle gradient elsewhere, 0 at (8, 3), NaN at (2, 9). */
function sample(extra: Partial<MapOptions> = {}): MapOptions {
  const rows = 16;
  const cols = 16;
  const values = new Float64Array(rows * cols);
  for (let i = 0; i < values.length; i++) values[i] = ((i % cols) - 7.5) * 0.1;
  values[0] = 6;
  values[rows * cols - 1] = -6;
  values[8 * cols + 3] = 0;
  values[2 * cols + 9] = NaN;
  return { values, rows, cols, title: 'faces > objects · layer4.1', subtitle: 'Welch t, 256 units', statLabel: 't', ...extra };
}

const centre = (s: { x: number; y: number; cellPx: number }, r: number, c: number): [number, number] => [s.x + c * s.cellPx + (s.cellPx >> 1), s.y + r * s.cellPx + (s.cellPx >> 1)];

/** Every pixel of cell (r, c) has colour `rgb`. */
function cellIs(img: Image, s: { x: number; y: number; cellPx: number }, r: number, c: number, rgb: number[]): boolean {
  const cp = s.cellPx;
  for (let dy = 0; dy < cp; dy++) for (let dx = 0; dx < cp; dx++) if (!img.px(s.x + c * cp + dx, s.y + r * cp + dy).every((v, i) => v === rgb[i])) return false;
  return true;
}

describe('statistic maps', () => {
  it('paints each cell crisply in its colormap colour, NaN cells grey, as vector rects on a small sheet', async () => {
    const o = sample();
    const f = mapFigure(o);
    const img = await decode(await svgToPng(f.svg));
    const { sheet } = f.layout;
    expect([img.width, img.height]).toEqual([f.width, f.height]);
    expect(f.layout.cells).toBe('rects');
    expect(sheet.cellPx).toBe(32);
    expect([sheet.width, sheet.height]).toEqual([512, 512]);
    expect(f.layout.vmax).toBe(6);
    for (let r = 0; r < 16; r++) {
      for (let c = 0; c < 16; c++) expect(cellIs(img, sheet, r, c, colorFor(o.values[r * 16 + c], 6)), `cell ${r},${c}`).toBe(true);
    }
    expect(img.px(...centre(sheet, 0, 0))[0]).toBeGreaterThan(img.px(...centre(sheet, 0, 0))[2] + 50); // red
    expect(img.px(...centre(sheet, 15, 15))[2]).toBeGreaterThan(img.px(...centre(sheet, 15, 15))[0] + 50); // blue
    expect(Math.min(...img.px(...centre(sheet, 8, 3)))).toBeGreaterThan(235); // white at 0
    expect(img.px(...centre(sheet, 2, 9))).toEqual(NAN_COLOR);
  });

  it('draws a large sheet as one pixelated embedded PNG, still crisp, and keeps the SVG small', async () => {
    const rows = 96;
    const cols = 80; // 7680 cells: above the rect limit
    const values = Float64Array.from({ length: rows * cols }, (_, i) => Math.sin(i / 7) * 3 + ((i * 7919) % 13) / 13);
    values[5 * cols + 6] = NaN;
    const f = mapFigure({ values, rows, cols, title: 'big', statLabel: 't', cellPx: 5 });
    expect(f.layout.cells).toBe('image');
    expect(f.svg).toMatch(/<image [^>]*image-rendering="optimizeSpeed" style="image-rendering:pixelated"/);
    expect(f.svg.length).toBeLessThan(40_000);
    const img = await decode(await svgToPng(f.svg));
    const { sheet } = f.layout;
    for (const [r, c] of [[0, 0], [5, 6], [40, 41], [95, 79], [17, 3]]) {
      const want = Number.isNaN(values[r * cols + c]) ? NAN_COLOR : colorFor(values[r * cols + c], f.layout.vmax);
      expect(cellIs(img, sheet, r, c, want), `cell ${r},${c}`).toBe(true);
    }
  });

  it('keeps a 1024 × 1024 sheet crisp at 1 px per cell', async () => {
    const n = 1024 * 1024;
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) values[i] = ((i * 2654435761) % 1000) / 100 - 5; // neighbours differ
    values[1000 * 1024 + 3] = NaN;
    const f = mapFigure({ values, rows: 1024, cols: 1024, title: 'max sheet', statLabel: 't', cellPx: 1 });
    expect(f.svg.length).toBeLessThan(4_500_000);
    const img = await decode(await svgToPng(f.svg));
    const { sheet } = f.layout;
    for (const [r, c] of [[0, 0], [0, 1], [1, 0], [511, 512], [1000, 3], [1023, 1023]]) {
      const v = values[r * 1024 + c];
      expect(img.px(sheet.x + c, sheet.y + r), `cell ${r},${c}`).toEqual(Number.isNaN(v) ? NAN_COLOR : colorFor(v, 5));
    }
  });

  it('has a colorbar running from the top colour to the bottom colour, with ticks', async () => {
    for (const symmetric of [true, false]) {
      const o = sample({ symmetric, ...(symmetric ? {} : { values: sample().values.map(Math.abs) }) });
      const f = mapFigure(o);
      const img = await decode(await svgToPng(f.svg));
      const bar = f.layout.colorbar;
      const bx = bar.x + (bar.width >> 1);
      const map = symmetric ? 'diverging' : 'sequential';
      expect(near(img.px(bx, bar.y), colormapAt(map, 1), 3), `${map} top`).toBe(true);
      expect(near(img.px(bx, bar.y + bar.height - 1), colormapAt(map, 0), 3), `${map} bottom`).toBe(true);
      expect(near(img.px(bx, bar.y + bar.height / 2), colormapAt(map, 0.5), 4), `${map} middle`).toBe(true);
      // Colour at a tick's height equals the map's colour of the tick value.
      const { vmin, vmax, ticks } = f.layout;
      for (const t of ticks) {
        const y = bar.y + ((vmax - t) / (vmax - vmin)) * bar.height;
        const want = symmetric ? colorFor(t, vmax) : sequentialColorFor(t, vmin, vmax);
        expect(near(img.px(bx, Math.min(bar.y + bar.height - 1, y)), want, 6), `${map} at ${t}`).toBe(true);
        expect(isWhite(img.px(bar.x + bar.width + 3, Math.min(bar.y + bar.height - 1, Math.round(y)))), `tick mark ${t}`).toBe(false);
      }
    }
    const f = mapFigure(sample());
    expect(f.layout.ticks).toEqual([-6, -4, -2, 0, 2, 4, 6]);
    expect(mapFigure(sample({ vmax: 10, cellPx: 5 })).layout.ticks).toEqual([-10, -5, 0, 5, 10]);
  });

  it('outlines supra-threshold cells and marks ±threshold on the colorbar, and nothing without a threshold', async () => {
    const base = sample();
    const values = new Float64Array(256).fill(0.5);
    values[6 * 16 + 9] = 4.2;
    values[1 * 16 + 1] = -5;
    const f = mapFigure({ ...base, values, threshold: 3 });
    const on = await decode(await svgToPng(f.svg));
    const off = await decode(await renderMapPng({ ...base, values }));
    const s = f.layout.sheet;
    const cp = s.cellPx;
    const left = s.x + 9 * cp;
    const top = s.y + 6 * cp;
    // 2 px lines straddling each edge of the supra cell, corners closed.
    for (const [x, y] of [
      [left - 1, top + 16], [left, top + 16], [left + cp - 1, top + 16], [left + cp, top + 16],
      [left + 16, top - 1], [left + 16, top], [left + 16, top + cp - 1], [left + 16, top + cp],
      [left + cp, top + cp], [left - 1, top - 1],
    ]) {
      expect(isBlack(on.px(x, y)), `outline at ${x},${y}`).toBe(true);
      expect(isBlack(off.px(x, y))).toBe(false);
    }
    // Inside the cell: its own colour, no outline.
    expect(count(on, left + 2, top + 2, left + cp - 2, top + cp - 2, (c) => !c.every((v, i) => v === colorFor(4.2, 5)[i]))).toBe(0);
    // The negative supra cell is outlined too; black appears nowhere else on the sheet.
    expect(isBlack(on.px(s.x + cp, s.y + cp + 16))).toBe(true);
    const outlined = (x: number, y: number): boolean =>
      [[9, 6], [1, 1]].some(([c, r]) => x >= s.x + c * cp - 2 && x <= s.x + (c + 1) * cp + 1 && y >= s.y + r * cp - 2 && y <= s.y + (r + 1) * cp + 1);
    let stray = 0;
    for (let y = s.y; y < s.y + s.height; y++) for (let x = s.x; x < s.x + s.width; x++) if (isBlack(on.px(x, y)) && !outlined(x, y)) stray++;
    expect(stray).toBe(0);
    expect(count(off, s.x, s.y, s.x + s.width, s.y + s.height, isBlack)).toBe(0);
    // Threshold marks across the colorbar at ±3, only with a threshold.
    const bar = f.layout.colorbar;
    for (const t of [3, -3]) {
      const y = Math.round(bar.y + ((5 - t) / 10) * bar.height);
      expect(isBlack(on.px(bar.x + 11, y)) || isBlack(on.px(bar.x + 11, y - 1)), `mark at ${t}`).toBe(true);
      expect(isBlack(off.px(bar.x + 11, y)) || isBlack(off.px(bar.x + 11, y - 1))).toBe(false);
    }
  });

  it('outlines a mask with 1 px lines inside small cells, and each cluster', async () => {
    const outlineMask = new Uint8Array(256);
    outlineMask[4 * 16 + 4] = 1;
    const f = mapFigure(sample({ cellPx: 6, outlineMask }));
    const img = await decode(await svgToPng(f.svg));
    const s = f.layout.sheet;
    const x = s.x + 4 * 6;
    const y = s.y + 4 * 6;
    expect(isBlack(img.px(x, y + 3))).toBe(true); // inside, on its left edge
    expect(isBlack(img.px(x + 5, y + 3))).toBe(true); // inside, on its right edge
    expect(isBlack(img.px(x + 3, y))).toBe(true);
    expect(isBlack(img.px(x + 3, y + 5))).toBe(true);
    expect(isBlack(img.px(x - 1, y + 3))).toBe(false); // the neighbours keep their colours
    expect(isBlack(img.px(x + 6, y + 3))).toBe(false);
    expect(isBlack(img.px(x + 3, y + 3))).toBe(false); // the cell's own centre

    const clusterLabels = new Int32Array(256);
    for (const cell of [16 * 10 + 10, 16 * 10 + 11, 16 * 11 + 10]) clusterLabels[cell] = 1;
    clusterLabels[16 * 10 + 12] = 2; // adjacent, another cluster: the boundary between them is drawn
    const g = mapFigure(sample({ clusterLabels }));
    const ci = await decode(await svgToPng(g.svg));
    const cs = g.layout.sheet;
    const cp = cs.cellPx;
    const mid = cs.y + 10 * cp + (cp >> 1);
    expect(isBlack(ci.px(cs.x + 10 * cp, mid))).toBe(true); // left of cluster 1
    expect(isBlack(ci.px(cs.x + 11 * cp, mid))).toBe(false); // inside cluster 1
    expect(isBlack(ci.px(cs.x + 12 * cp, mid))).toBe(true); // between clusters 1 and 2
    expect(isBlack(ci.px(cs.x + 13 * cp, mid))).toBe(true); // right of cluster 2
    expect(isBlack(ci.px(cs.x + 10 * cp + 16, cs.y + 11 * cp))).toBe(false); // inside cluster 1, between its rows
    expect(isBlack(ci.px(cs.x + 11 * cp + 16, cs.y + 11 * cp))).toBe(true); // under (10, 11)
  });

  it('renders text in the title band, which changes with the title and is blank without one', async () => {
    const a = mapFigure(sample({ title: 'faces > objects', subtitle: undefined }));
    const b = mapFigure(sample({ title: 'bodies > places', subtitle: undefined }));
    const none = mapFigure(sample({ title: '', subtitle: undefined }));
    const [ia, ib, inone] = await Promise.all([a, b, none].map(async (f) => decode(await svgToPng(f.svg))));
    const band = a.layout.titleBand;
    expect(band.height).toBeGreaterThan(10);
    expect(band.y + band.height).toBeLessThan(a.layout.sheet.y);
    const dark = count(ia, 0, band.y, ia.width, band.y + band.height, (c) => c[0] < 100);
    expect(dark).toBeGreaterThan(150);
    let differ = 0;
    for (let y = band.y; y < band.y + band.height; y++) for (let x = 0; x < ia.width; x++) if (ia.px(x, y)[0] !== ib.px(x, y)[0]) differ++;
    expect(differ).toBeGreaterThan(100);
    expect(none.layout.titleBand.height).toBe(0);
    expect(count(inone, 0, 0, inone.width, none.layout.sheet.y - 2, (c) => !isWhite(c))).toBe(0);
  });

  it('gives the same PNG bytes for the same input', async () => {
    const o = sample({ threshold: 2 });
    const [p, q] = await Promise.all([renderMapPng(o), renderMapPng(sample({ threshold: 2 }))]);
    expect(p.equals(q)).toBe(true);
    expect(renderMapSvg(o)).toBe(renderMapSvg(sample({ threshold: 2 })));
  });

  it('escapes hostile titles and labels, and the SVG stays well-formed', async () => {
    const hostile = `</text><script>alert("x")</script> & <b>'quotes'</b> \u0000\u0007 \ud800 ]]> <!--`;
    const svg = renderMapSvg(sample({ title: hostile, subtitle: hostile, statLabel: `<t&>` }));
    expect(svg).not.toMatch(/<script|<b>|<!--/);
    expect(svg).toContain('&lt;script&gt;');
    expect(svg).toContain('&amp;');
    expect(parseSvg(svg)).toMatchObject({ width: expect.any(Number) });
    const img = await decode(await svgToPng(svg));
    expect(count(img, 0, 16, img.width, 40, (c) => c[0] < 100)).toBeGreaterThan(100);
  });

  it('renders in bounded time for any colour limit, including vmax = 1e308 (issue 7)', () => {
    const anyDouble = fc.oneof(fc.double(), fc.constantFrom(1e308, -1e308, Infinity, -Infinity, NaN, 0, 5e-324, Number.MAX_VALUE));
    fc.assert(
      fc.property(anyDouble, anyDouble, anyDouble, fc.boolean(), fc.array(anyDouble, { minLength: 4, maxLength: 4 }), (vmax, vmin, threshold, symmetric, vals) => {
        const f = mapFigure({ values: Float64Array.from(vals), rows: 2, cols: 2, title: 't', statLabel: 't', vmax, vmin, threshold, symmetric });
        const ok = Number.isFinite(f.layout.vmin) && Number.isFinite(f.layout.vmax) && f.layout.vmax > f.layout.vmin && f.layout.ticks.every(Number.isFinite) && !/NaN|Infinity/.test(f.svg);
        expect(ok, f.svg.slice(0, 300)).toBe(true);
      }),
      { numRuns: 600 },
    );
  });

  it('sizes cells readably and rejects bad shapes', async () => {
    expect(defaultCellPx(48, 64)).toBe(8);
    expect(defaultCellPx(16, 16)).toBe(32);
    expect(defaultCellPx(1, 997)).toBe(4);
    expect(defaultCellPx(1024, 1024)).toBe(4);
    const values = Float64Array.from({ length: 48 * 64 }, (_, i) => Math.sin(i / 50) * 3);
    const f = mapFigure({ values, rows: 48, cols: 64, title: 'big', statLabel: "Cohen's d", threshold: 2 });
    expect([f.layout.sheet.width, f.layout.sheet.height]).toEqual([512, 384]);
    const img = await decode(await svgToPng(f.svg));
    expect([img.width, img.height]).toEqual([f.width, f.height]);
    const seq = mapFigure({ values: values.map(Math.abs), rows: 48, cols: 64, title: 'p', statLabel: '-log10 p', symmetric: false });
    expect(seq.layout.vmin).toBe(0);
    expect(seq.layout.vmax).toBeCloseTo(3, 2);
    expect(() => mapFigure({ values, rows: 47, cols: 64, title: '', statLabel: 't' })).toThrow(/3008/);
    expect(() => mapFigure({ values: new Float64Array(4), rows: 2, cols: 2, title: '', statLabel: 't', cellPx: 0 })).toThrow(/cellPx/);
    expect(() => mapFigure({ values: new Float64Array(2048 * 2), rows: 2, cols: 2048, title: '', statLabel: 't' })).toThrow(/1024/);
  });
});

describe('categorical maps', () => {
  it('paints each cell in its category colour, none grey, with a legend of k colours', async () => {
    const rows = 12;
    const cols = 20;
    const categories = Int32Array.from({ length: rows * cols }, (_, i) => (i % 17 === 0 ? -1 : Math.floor((i % cols) / 4)));
    const labels = ['faces', 'bodies', 'places', 'characters', 'objects'];
    const outlineMask = new Uint8Array(rows * cols);
    outlineMask[3 * cols + 5] = 1;
    const f = categoricalMapFigure({ categories, rows, cols, labels, title: 'preferred category', noneLabel: 'not selective', outlineMask });
    const img = await decode(await svgToPng(f.svg));
    const palette = qualitativePalette(5);
    const s = f.layout.sheet;
    expect(s.cellPx).toBe(26);
    for (const [r, c] of [[0, 0], [0, 1], [2, 7], [11, 19], [6, 13]]) {
      const k = categories[r * cols + c];
      expect(img.px(...centre(s, r, c)), `cell ${r},${c}`).toEqual(k < 0 ? NAN_COLOR : palette[k]);
    }
    expect(f.layout.swatches.length).toBe(6);
    f.layout.swatches.forEach((sw, i) => expect(img.px(sw.x + sw.width / 2, sw.y + sw.height / 2)).toEqual(i < 5 ? palette[i] : NAN_COLOR));
    expect(isBlack(img.px(s.x + 5 * 26, s.y + 3 * 26 + 13))).toBe(true);
    // Legend labels are drawn to the right of the swatches.
    const sw = f.layout.swatches[0];
    expect(count(img, sw.x + sw.width + 4, sw.y, sw.x + sw.width + 60, sw.y + sw.height, (c) => c[0] < 100)).toBeGreaterThan(10);
    expect(() => categoricalMapFigure({ categories: new Int32Array(4).fill(5), rows: 2, cols: 2, labels, title: '' })).toThrow(/category 5/);
  });

  it('draws a binary mask map', async () => {
    const categories = Int32Array.from({ length: 64 }, (_, i) => (i < 4 ? -1 : i % 9 === 0 ? 1 : 0));
    const outlineMask = Uint8Array.from(categories, (k) => (k === 1 ? 1 : 0));
    const f = categoricalMapFigure({ categories, rows: 8, cols: 8, labels: ['not in mask', 'in mask'], colors: [[235, 235, 235], [213, 94, 0]], title: 'mask m1 / conv4: 6 units', outlineMask });
    const img = await decode(await svgToPng(f.svg));
    const s = f.layout.sheet;
    expect(img.px(...centre(s, 1, 1))).toEqual([213, 94, 0]); // cell 9
    expect(img.px(...centre(s, 1, 2))).toEqual([235, 235, 235]);
    expect(img.px(...centre(s, 0, 0))).toEqual(NAN_COLOR);
  });
});
