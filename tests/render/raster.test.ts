import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { colorFor } from '../../src/render/colormap.ts';
import { defaultCellPx, formatTick, niceTicks, renderLinePlotPng, renderLinePlotRgba, renderMapPng, renderMapRgba, type MapPngOptions } from '../../src/render/raster.ts';

interface Decoded {
  width: number;
  height: number;
  px: (x: number, y: number) => [number, number, number];
}

async function decode(png: Buffer): Promise<Decoded> {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const ch = info.channels;
  return {
    width: info.width,
    height: info.height,
    px: (x, y) => {
      const o = (y * info.width + x) * ch;
      return [data[o], data[o + 1], data[o + 2]];
    },
  };
}

const isBlack = (c: number[]): boolean => c[0] < 30 && c[1] < 30 && c[2] < 30;
const isDark = (c: number[]): boolean => c[0] < 60 && c[1] < 60 && c[2] < 60;
const isWhite = (c: number[]): boolean => c[0] === 255 && c[1] === 255 && c[2] === 255;

/** A 16×16 sheet: +vmax in cell 0, −vmax in the last cell, a gentle gradient elsewhere, 0 at (8, 3). */
function sampleOpts(extra: Partial<MapPngOptions> = {}): MapPngOptions {
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

describe('renderMapPng', () => {
  it('decodes to the expected size with cells painted in their colormap colour', async () => {
    const opts = sampleOpts();
    const geo = renderMapRgba(opts);
    const img = await decode(await renderMapPng(opts));
    expect([img.width, img.height]).toEqual([geo.width, geo.height]);
    expect(geo.sheet.cellPx).toBe(32);
    expect(geo.sheet.width).toBe(512);
    expect(geo.vmax).toBe(6);
    const centre = (r: number, c: number): [number, number] => [
      geo.sheet.x + c * geo.sheet.cellPx + (geo.sheet.cellPx >> 1),
      geo.sheet.y + r * geo.sheet.cellPx + (geo.sheet.cellPx >> 1),
    ];
    const first = img.px(...centre(0, 0));
    const last = img.px(...centre(15, 15));
    const zero = img.px(...centre(8, 3));
    expect(first).toEqual(colorFor(6, 6));
    expect(last).toEqual(colorFor(-6, 6));
    expect(zero).toEqual(colorFor(0, 6));
    expect(first[0]).toBeGreaterThan(first[2] + 50); // red
    expect(last[2]).toBeGreaterThan(last[0] + 50); // blue
    expect(Math.min(...zero)).toBeGreaterThan(235); // white-ish
    expect(img.px(...centre(5, 12))).toEqual(colorFor(values(opts, 5, 12), 6));
    expect(img.px(...centre(2, 9))).toEqual([200, 200, 200]); // NaN cell: light grey
    // Crisp nearest-neighbour cells: every pixel of a cell has the same colour.
    const [x0, y0] = [geo.sheet.x + 12 * 32, geo.sheet.y + 5 * 32];
    for (const [dx, dy] of [[0, 0], [31, 0], [0, 31], [31, 31], [17, 4]]) expect(img.px(x0 + dx, y0 + dy)).toEqual(colorFor(values(opts, 5, 12), 6));
  });

  it('outlines supra-threshold cells, and nothing without a threshold', async () => {
    const base = sampleOpts();
    const values = new Float64Array(base.values.length).fill(0.5);
    values[6 * 16 + 9] = 4.2; // one supra-threshold cell, far from the border
    values[1 * 16 + 1] = -5; // and a negative one
    const withThr = { ...base, values, threshold: 3 };
    const geo = renderMapRgba(withThr);
    const on = await decode(await renderMapPng(withThr));
    const off = await decode(await renderMapPng({ ...base, values }));
    const cp = geo.sheet.cellPx;
    const left = geo.sheet.x + 9 * cp;
    const top = geo.sheet.y + 6 * cp;
    const midY = top + (cp >> 1);
    const midX = left + (cp >> 1);
    // All four sides of the supra-threshold cell, 2 px each straddling the edge.
    for (const [x, y] of [
      [left - 1, midY], [left, midY], // left edge
      [left + cp - 1, midY], [left + cp, midY], // right edge
      [midX, top - 1], [midX, top], // top edge
      [midX, top + cp - 1], [midX, top + cp], // bottom edge
      [left + cp, top + cp], // corner closed
    ]) {
      expect(isBlack(on.px(x, y)), `outline at ${x},${y}`).toBe(true);
      expect(isBlack(off.px(x, y)), `no outline at ${x},${y}`).toBe(false);
    }
    expect(on.px(midX, midY)).toEqual(colorFor(4.2, 5));
    // Negative supra-threshold cells are outlined too (|v| ≥ threshold).
    expect(isBlack(on.px(geo.sheet.x + cp, geo.sheet.y + cp + (cp >> 1)))).toBe(true);
    // Sub-threshold neighbours are not outlined away from the supra cell.
    const farX = geo.sheet.x + 3 * cp;
    expect(isBlack(on.px(farX, geo.sheet.y + 12 * cp + (cp >> 1)))).toBe(false);
    // No black anywhere inside the sheet without a threshold.
    let black = 0;
    for (let y = geo.sheet.y; y < geo.sheet.y + geo.sheet.height; y += 3) {
      for (let x = geo.sheet.x; x < geo.sheet.x + geo.sheet.width; x += 3) if (isBlack(off.px(x, y))) black++;
    }
    expect(black).toBe(0);
  });

  it('outlines a given mask and cluster labels', async () => {
    const base = sampleOpts({ cellPx: 6 }); // small cells: 1 px outlines drawn inside the masked cell
    const outlineMask = new Uint8Array(256);
    outlineMask[4 * 16 + 4] = 1;
    const geo = renderMapRgba({ ...base, outlineMask });
    expect(geo.sheet.cellPx).toBe(6);
    const img = await decode(await renderMapPng({ ...base, outlineMask }));
    const x = geo.sheet.x + 4 * 6;
    const y = geo.sheet.y + 4 * 6;
    expect(isBlack(img.px(x, y + 3))).toBe(true); // inside, on its left edge
    expect(isBlack(img.px(x - 1, y + 3))).toBe(false); // the neighbour keeps its colour
    expect(isBlack(img.px(x + 5, y + 3))).toBe(true);
    expect(isBlack(img.px(x + 3, y + 3))).toBe(false); // the cell's own centre

    const clusterLabels = new Int32Array(256);
    for (const cell of [16 * 10 + 10, 16 * 10 + 11, 16 * 11 + 10]) clusterLabels[cell] = 1;
    clusterLabels[16 * 10 + 12] = 2; // adjacent, different cluster: boundary between them drawn
    const cg = renderMapRgba({ ...sampleOpts(), clusterLabels });
    const ci = await decode(await renderMapPng({ ...sampleOpts(), clusterLabels }));
    const cp = cg.sheet.cellPx;
    const rowMid = cg.sheet.y + 10 * cp + (cp >> 1);
    expect(isBlack(ci.px(cg.sheet.x + 10 * cp, rowMid))).toBe(true); // left of cluster 1
    expect(isBlack(ci.px(cg.sheet.x + 11 * cp, rowMid))).toBe(false); // inside cluster 1
    expect(isBlack(ci.px(cg.sheet.x + 12 * cp, rowMid))).toBe(true); // between clusters 1 and 2
    expect(isBlack(ci.px(cg.sheet.x + 13 * cp, rowMid))).toBe(true); // right of cluster 2
  });

  it('has a title band with text and a colorbar with ticks and threshold marks', async () => {
    const opts = sampleOpts({ threshold: 3 });
    const geo = renderMapRgba(opts);
    const img = await decode(await renderMapPng(opts));
    // Title: dark pixels in the band's first line (the title at scale 2 is 18 px tall), the subtitle below
    // it in grey; the band is above the sheet.
    let ink = 0;
    let subInk = 0;
    for (let y = geo.titleBand.y; y < geo.titleBand.y + geo.titleBand.height; y++) {
      for (let x = 0; x < img.width; x++) {
        const c = img.px(x, y);
        if (y < geo.titleBand.y + 18 && isDark(c)) ink++;
        if (y >= geo.titleBand.y + 18 && !isWhite(c)) subInk++;
      }
    }
    expect(ink).toBeGreaterThan(200);
    expect(subInk).toBeGreaterThan(100);
    expect(geo.titleBand.y + geo.titleBand.height).toBeLessThan(geo.sheet.y);
    // Without title text the band is blank.
    const blank = renderMapRgba({ ...opts, title: '', subtitle: undefined });
    let blankInk = 0;
    for (let y = 0; y < blank.sheet.y - 2; y++) {
      for (let x = 0; x < blank.sheet.x + blank.sheet.width; x++) if (blank.rgba[(y * blank.width + x) * 4] !== 255) blankInk++;
    }
    expect(blankInk).toBe(0);

    // Colorbar: red at the top, blue at the bottom, white in the middle.
    const bar = geo.colorbar;
    const bx = bar.x + (bar.width >> 1);
    expect(img.px(bx, bar.y)).toEqual(colorFor(6 - (0.5 / bar.height) * 12, 6));
    expect(img.px(bx, bar.y + bar.height - 1)).toEqual(colorFor(-6 + (0.5 / bar.height) * 12, 6));
    expect(Math.min(...img.px(bx, bar.y + (bar.height >> 1)))).toBeGreaterThan(235);
    // At least five tick labels, including 0 and both signs.
    expect(geo.ticks.length).toBeGreaterThanOrEqual(5);
    expect(geo.ticks).toContain(0);
    expect(Math.min(...geo.ticks)).toBeLessThan(0);
    expect(Math.max(...geo.ticks)).toBeGreaterThan(0);
    // Tick marks to the right of the bar at the tick positions.
    for (const t of geo.ticks) {
      const y = Math.round(Math.min(bar.y + bar.height - 1, bar.y + ((6 - t) / 12) * bar.height));
      expect(isWhite(img.px(bar.x + bar.width + 3, y)), `tick ${t}`).toBe(false);
    }
    // Threshold ±3 drawn across the bar in black.
    for (const t of [3, -3]) {
      const y = Math.round(bar.y + ((6 - t) / 12) * bar.height);
      expect(isBlack(img.px(bx, y)) || isBlack(img.px(bx, y - 1)), `threshold mark at ${t}`).toBe(true);
    }
    // Without a threshold: no black across the bar.
    const plain = renderMapRgba(sampleOpts());
    const y3 = Math.round(plain.colorbar.y + ((6 - 3) / 12) * plain.colorbar.height);
    const o = (y3 * plain.width + plain.colorbar.x + (plain.colorbar.width >> 1)) * 4;
    expect(plain.rgba[o] + plain.rgba[o + 1] + plain.rgba[o + 2]).toBeGreaterThan(200);
  });

  it('sizes the sheet readably for a 48×64 map and honours cellPx / vmax / non-symmetric scales', async () => {
    expect(defaultCellPx(48, 64)).toBe(8);
    expect(defaultCellPx(16, 16)).toBe(32);
    expect(defaultCellPx(25, 40)).toBe(13);
    expect(defaultCellPx(1, 997)).toBe(4);
    for (const [r, c] of [[8, 8], [16, 32], [25, 40], [48, 64], [28, 28]]) {
      const long = Math.max(r, c) * defaultCellPx(r, c);
      expect(long).toBeGreaterThanOrEqual(384);
      expect(long).toBeLessThanOrEqual(640);
    }
    const values = Float64Array.from({ length: 48 * 64 }, (_, i) => Math.sin(i / 50) * 3);
    const big = { values, rows: 48, cols: 64, title: 'big', statLabel: "Cohen's d", threshold: 2 };
    const geo = renderMapRgba(big);
    const img = await decode(await renderMapPng(big));
    expect([img.width, img.height]).toEqual([geo.width, geo.height]);
    expect([geo.sheet.width, geo.sheet.height]).toEqual([512, 384]);

    const fixed = renderMapRgba({ ...big, cellPx: 5, vmax: 10 });
    expect(fixed.sheet.width).toBe(320);
    expect(fixed.vmax).toBe(10);
    expect(fixed.ticks).toEqual([-10, -5, 0, 5, 10]);

    const seq = renderMapRgba({ ...big, values: values.map(Math.abs), symmetric: false, statLabel: '-log10 p' });
    expect(seq.vmin).toBe(0);
    expect(seq.vmax).toBeCloseTo(3, 2);
    expect(seq.ticks[0]).toBeGreaterThanOrEqual(0);

    expect(() => renderMapRgba({ ...big, rows: 47 })).toThrow(/3008 values/);
  });
});

function values(opts: MapPngOptions, r: number, c: number): number {
  return opts.values[r * opts.cols + c];
}

describe('ticks and labels', () => {
  it('picks 5+ nice ticks symmetric about 0', () => {
    for (const vmax of [0.013, 0.9, 1, 2.9, 3.3, 6, 7.3, 11.2, 48, 1234]) {
      const { ticks, step } = niceTicks(-vmax, vmax, 5, 11, 7);
      expect(ticks.length, `vmax ${vmax}`).toBeGreaterThanOrEqual(5);
      expect(ticks.length).toBeLessThanOrEqual(11);
      expect(ticks).toContain(0);
      expect(ticks[0]).toBeCloseTo(-ticks[ticks.length - 1], 12);
      const m = step / 10 ** Math.floor(Math.log10(step));
      expect([1, 2, 2.5, 5].some((k) => Math.abs(m - k) < 1e-9)).toBe(true);
      for (const t of ticks) expect(Math.abs(t)).toBeLessThanOrEqual(vmax + 1e-12);
    }
    expect(niceTicks(-10, 10).ticks).toEqual([-10, -5, 0, 5, 10]);
    expect(niceTicks(-7.3, 7.3).ticks).toEqual([-6, -4, -2, 0, 2, 4, 6]);
    expect(niceTicks(0, 5.5, 5, 11, 7).ticks).toEqual([0, 1, 2, 3, 4, 5]);
    // Only 5–6 ticks allowed but no nice step gives 5 in ±3.99996: take more ticks, not odd numbers.
    expect(niceTicks(-3.99996, 3.99996, 5, 6, 7).ticks).toEqual([-3, -2, -1, 0, 1, 2, 3]);
    const flat = renderMapRgba({ values: Float64Array.from({ length: 97 }, (_, i) => Math.sin(i / 8) * 4), rows: 1, cols: 97, title: 'prime', statLabel: 't' });
    expect(flat.ticks.length).toBeGreaterThanOrEqual(5);
    for (const t of flat.ticks) expect(Number.isInteger(t)).toBe(true);
    expect(flat.colorbar.height).toBeGreaterThanOrEqual(200);
    expect(formatTick(-0.30000000000000004, 0.1)).toBe('-0.3');
    expect(formatTick(-0, 1)).toBe('0');
    expect(formatTick(2.5, 2.5)).toBe('2.5');
    expect(formatTick(5, 2.5)).toBe('5.0');
  });
});

describe('renderLinePlotPng', () => {
  it('draws a readable smoothness curve', async () => {
    const x = Float64Array.from({ length: 10 }, (_, i) => i + 1);
    const opts = {
      title: 'Smoothness: mean |dt| by sheet distance',
      xLabel: 'distance (cells)',
      yLabel: 'mean |dt|',
      series: [
        { name: 'model', x, y: x.map((d) => 3 - 2 * Math.exp(-d / 3)), color: [200, 30, 30] as [number, number, number] },
        { name: 'shuffled', x, y: x.map(() => 2.9), color: [90, 90, 90] as [number, number, number], dashed: true },
      ],
    };
    const geo = renderLinePlotRgba(opts);
    const img = await decode(await renderLinePlotPng(opts));
    expect([img.width, img.height]).toEqual([640, 440]);
    expect(geo.xRange[0]).toBeLessThanOrEqual(1);
    expect(geo.xRange[1]).toBeGreaterThanOrEqual(10);
    expect(geo.yRange[0]).toBeLessThanOrEqual(3 - 2 * Math.exp(-1 / 3));
    // The first data point of the model series is drawn in its colour.
    const px = geo.plot.x + ((1 - geo.xRange[0]) / (geo.xRange[1] - geo.xRange[0])) * (geo.plot.width - 1);
    const py = geo.plot.y + geo.plot.height - 1 - ((3 - 2 * Math.exp(-1 / 3) - geo.yRange[0]) / (geo.yRange[1] - geo.yRange[0])) * (geo.plot.height - 1);
    expect(img.px(Math.round(px), Math.round(py))).toEqual([200, 30, 30]);
    // The line between the first two points passes through their midpoint (±1 px).
    const px2 = geo.plot.x + ((2 - geo.xRange[0]) / (geo.xRange[1] - geo.xRange[0])) * (geo.plot.width - 1);
    const py2 = geo.plot.y + geo.plot.height - 1 - ((3 - 2 * Math.exp(-2 / 3) - geo.yRange[0]) / (geo.yRange[1] - geo.yRange[0])) * (geo.plot.height - 1);
    const [mx, my] = [Math.round((px + px2) / 2), Math.round((py + py2) / 2)];
    let onLine = false;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) if (img.px(mx + dx, my + dy)[1] === 30) onLine = true;
    expect(onLine).toBe(true);
    // Red and grey pixels both appear (two series + legend), and text appears left of and below the axes.
    let red = 0;
    let grey = 0;
    for (let y = 0; y < img.height; y++) {
      for (let xx = 0; xx < img.width; xx++) {
        const c = img.px(xx, y);
        if (c[0] === 200 && c[1] === 30) red++;
        if (c[0] === 90 && c[1] === 90 && c[2] === 90) grey++;
      }
    }
    expect(red).toBeGreaterThan(100);
    expect(grey).toBeGreaterThan(100);
    let leftInk = 0;
    for (let y = geo.plot.y; y < geo.plot.y + geo.plot.height; y++) for (let xx = 0; xx < geo.plot.x - 6; xx++) if (!isWhite(img.px(xx, y))) leftInk++;
    expect(leftInk).toBeGreaterThan(100);
  });
});
