import { describe, expect, it } from 'vitest';
import { LayoutError, fromSheet, medianNearestNeighbourDistance, resolveLayout, toSheet, topolossGrid, type SheetLayout } from '../../src/sheet/layout.ts';
import type { Layout } from '../../src/domain/manifest.ts';

/** Deterministic uniform [0, 1) generator (LCG) for test data. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function expectLayoutError(fn: () => unknown, field: string, ...fragments: string[]): LayoutError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(LayoutError);
  const err = caught as LayoutError;
  expect(err.field).toBe(field);
  expect(err.name).toBe('LayoutError');
  for (const f of fragments) expect(err.message).toContain(f);
  return err;
}

/** Invariants every resolved layout must satisfy. */
function checkConsistent(l: SheetLayout, n: number): void {
  expect(l.cellOfUnit.length).toBe(n);
  expect(l.unitOfCell.length).toBe(l.rows * l.cols);
  expect(l.x.length).toBe(n);
  expect(l.y.length).toBe(n);
  let occupied = 0;
  for (let c = 0; c < l.unitOfCell.length; c++) {
    const u = l.unitOfCell[c];
    if (u === -1) continue;
    occupied++;
    expect(l.cellOfUnit[u]).toBe(c);
  }
  expect(occupied).toBe(n);
}

describe('topolossGrid', () => {
  it.each([
    [64, 8, 8],
    [128, 8, 16],
    [256, 16, 16],
    [512, 16, 32],
    [768, 24, 32],
    [3072, 48, 64],
    [1000, 25, 40],
    [784, 28, 28],
    [1, 1, 1],
    [2, 1, 2],
    [97, 1, 97],
    [7919, 1, 7919],
    [10, 2, 5],
  ])('%i units → %i×%i', (n, rows, cols) => {
    expect(topolossGrid(n)).toEqual({ rows, cols });
  });

  it('rejects non-positive or fractional unit counts', () => {
    expectLayoutError(() => topolossGrid(0), 'nUnits', 'positive integer', '0');
    expectLayoutError(() => topolossGrid(12.5), 'nUnits', '12.5');
  });
});

describe('resolveLayout: grids', () => {
  it('defaults to the TopoLoss grid, row-major', () => {
    const l = resolveLayout(undefined, 128);
    expect(l.type).toBe('grid');
    expect([l.rows, l.cols]).toEqual([8, 16]);
    checkConsistent(l, 128);
    // unit 37 → (37 // 16, 37 % 16) = (2, 5)
    expect(l.cellOfUnit[37]).toBe(37);
    expect(l.x[37]).toBe(5);
    expect(l.y[37]).toBe(2);
    expect(resolveLayout({ type: 'grid' }, 128).cols).toBe(16);
  });

  it('accepts rows and/or cols that fit', () => {
    expect(resolveLayout({ type: 'grid', rows: 4, cols: 32 }, 128)).toMatchObject({ rows: 4, cols: 32 });
    expect(resolveLayout({ type: 'grid', rows: 4 }, 128)).toMatchObject({ rows: 4, cols: 32 });
    expect(resolveLayout({ type: 'grid', cols: 64 }, 128)).toMatchObject({ rows: 2, cols: 64 });
  });

  it('rejects grids that do not hold the units', () => {
    expectLayoutError(() => resolveLayout({ type: 'grid', rows: 10, cols: 10 }, 128), 'rows', '128', '10×10 = 100');
    expectLayoutError(() => resolveLayout({ type: 'grid', rows: 12, cols: 12 }, 128), 'rows', '128', '144');
    expectLayoutError(() => resolveLayout({ type: 'grid', rows: 3 }, 128), 'rows', 'divide', 'rows = 3');
    expectLayoutError(() => resolveLayout({ type: 'grid', cols: 7 }, 128), 'cols', 'divide', 'cols = 7');
    expectLayoutError(() => resolveLayout({ type: 'grid', rows: 0, cols: 128 }, 128), 'rows', 'positive integer');
    expectLayoutError(() => resolveLayout({ type: 'grid', rows: 2.5 } as Layout, 128), 'rows', '2.5');
    expectLayoutError(() => resolveLayout(undefined, 0), 'nUnits');
    expectLayoutError(() => resolveLayout({ type: 'hexagons' } as unknown as Layout, 4), 'type', 'hexagons');
  });

  it('places units by permutation and round-trips values through the sheet', () => {
    // TopoLM-style: 100 units randomly placed on a 12×12 grid (44 empty cells).
    const rand = lcg(7);
    const cells = Array.from({ length: 144 }, (_, i) => i);
    for (let i = cells.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [cells[i], cells[j]] = [cells[j], cells[i]];
    }
    const permutation = cells.slice(0, 100);
    const l = resolveLayout({ type: 'grid', rows: 12, cols: 12, permutation }, 100);
    checkConsistent(l, 100);
    expect(l.cellOfUnit[3]).toBe(permutation[3]);
    expect(l.x[3]).toBe(permutation[3] % 12);
    expect(l.y[3]).toBe(Math.floor(permutation[3] / 12));

    const values = Float64Array.from({ length: 100 }, (_, i) => i * 1.5 - 20);
    const sheet = toSheet(values, l);
    expect(sheet.length).toBe(144);
    expect(sheet[permutation[42]]).toBe(values[42]);
    const empty = cells.slice(100);
    for (const c of empty) expect(sheet[c]).toBeNaN();
    expect(Array.from(fromSheet(sheet, l))).toEqual(Array.from(values));
  });

  it('accepts a permutation of an exactly full grid without rows/cols (default grid)', () => {
    const permutation = Array.from({ length: 64 }, (_, i) => 63 - i);
    const l = resolveLayout({ type: 'grid', permutation }, 64);
    expect([l.rows, l.cols]).toEqual([8, 8]);
    expect(l.unitOfCell[0]).toBe(63);
  });

  it('rejects bad permutations', () => {
    const ok = Array.from({ length: 16 }, (_, i) => i);
    expectLayoutError(() => resolveLayout({ type: 'grid', rows: 4, cols: 4, permutation: ok.slice(1) }, 16), 'permutation', 'length 16', 'length 15');
    expectLayoutError(() => resolveLayout({ type: 'grid', rows: 4, cols: 4, permutation: [...ok.slice(0, 15), 16] }, 16), 'permutation', 'permutation[15]', '[0, 15]', '16');
    expectLayoutError(() => resolveLayout({ type: 'grid', rows: 4, cols: 4, permutation: [...ok.slice(0, 15), -1] }, 16), 'permutation', '-1');
    expectLayoutError(() => resolveLayout({ type: 'grid', rows: 4, cols: 4, permutation: [...ok.slice(0, 15), 3] }, 16), 'permutation', 'units 3 and 15', 'cell 3');
    expectLayoutError(() => resolveLayout({ type: 'grid', rows: 3, cols: 5, permutation: ok }, 16), 'rows', 'at least', '15');
    expectLayoutError(() => resolveLayout({ type: 'grid', rows: 5, permutation: ok }, 16), 'rows', 'divide');
  });
});

describe('resolveLayout: coordinates', () => {
  it('recovers a regular lattice exactly', () => {
    const rows = 6;
    const cols = 9;
    const x: number[] = [];
    const y: number[] = [];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        x.push(3 + c * 0.1); // 0.1 steps are not exact in binary floating point
        y.push(-1 + r * 0.1);
      }
    }
    const l = resolveLayout({ type: 'coordinates', x, y }, rows * cols);
    expect(l.type).toBe('coordinates');
    expect([l.rows, l.cols]).toEqual([rows, cols]);
    expect(l.cellSize).toBeCloseTo(0.1, 12);
    for (let i = 0; i < rows * cols; i++) expect(l.cellOfUnit[i]).toBe(i);
    expect(l.x[10]).toBe(x[10]);
    expect(l.y[10]).toBe(y[10]);
  });

  it('gives every scattered unit its own cell near its coordinates and round-trips values', () => {
    const rand = lcg(11);
    const n = 300;
    const x: number[] = [];
    const y: number[] = [];
    // Jittered 15×20 lattice with spacing 2 (TDANN-like).
    for (let i = 0; i < n; i++) {
      x.push((i % 20) * 2 + (rand() - 0.5) * 1.2);
      y.push(Math.floor(i / 20) * 2 + (rand() - 0.5) * 1.2);
    }
    const l = resolveLayout({ type: 'coordinates', x, y }, n);
    checkConsistent(l, n);
    const cs = l.cellSize!;
    expect(cs).toBeGreaterThan(0);
    expect(l.rows).toBeLessThanOrEqual(1024);
    expect(l.cols).toBeLessThanOrEqual(1024);
    const minX = Math.min(...x);
    const minY = Math.min(...y);
    for (let i = 0; i < n; i++) {
      const c = l.cellOfUnit[i] % l.cols;
      const r = Math.floor(l.cellOfUnit[i] / l.cols);
      expect(Math.abs(minX + c * cs - x[i])).toBeLessThanOrEqual(cs / 2 + 1e-9);
      expect(Math.abs(minY + r * cs - y[i])).toBeLessThanOrEqual(cs / 2 + 1e-9);
    }
    // Default cell size starts at the median nearest-neighbour distance and only shrinks.
    expect(cs).toBeLessThanOrEqual(medianNearestNeighbourDistance(x, y) + 1e-12);

    const values = Float64Array.from({ length: n }, () => rand() * 10 - 5);
    const sheet = toSheet(values, l);
    expect(sheet.filter((v) => !Number.isNaN(v)).length).toBe(n);
    expect(Array.from(fromSheet(sheet, l))).toEqual(Array.from(values));
  });

  it('shrinks the cell size from the median nearest-neighbour distance only as far as needed', () => {
    // Nearest-neighbour distances 1, 0.45, 0.45, 1, 1 → median 1. At cell size 1, units 1 and 2 (x = 1
    // and 1.45) share a cell; 10 % smaller separates them.
    const l = resolveLayout({ type: 'coordinates', x: [0, 1, 1.45, 3, 4], y: [0, 0, 0, 0, 0] }, 5);
    expect(l.cellSize).toBeCloseTo(0.9, 12);
    expect([l.rows, l.cols]).toEqual([1, 5]);
    expect(Array.from(l.cellOfUnit)).toEqual([0, 1, 2, 3, 4]);
    // No shrinking needed: the median distance itself.
    expect(resolveLayout({ type: 'coordinates', x: [0, 1, 2, 3.2], y: [5, 5, 5, 5] }, 4).cellSize).toBe(1);
  });

  it('uses a given cellSize', () => {
    const l = resolveLayout({ type: 'coordinates', x: [0, 1, 2, 0.1], y: [0, 0, 0, 1], cellSize: 1 }, 4);
    expect([l.rows, l.cols]).toEqual([2, 3]);
    expect(Array.from(l.cellOfUnit)).toEqual([0, 1, 2, 3]);
    expect(l.cellSize).toBe(1);
  });

  it('handles a single unit', () => {
    const l = resolveLayout({ type: 'coordinates', x: [5], y: [7] }, 1);
    expect([l.rows, l.cols]).toEqual([1, 1]);
    expect(l.cellOfUnit[0]).toBe(0);
  });

  it('rejects bad coordinates', () => {
    expectLayoutError(() => resolveLayout({ type: 'coordinates', x: [0, 1], y: [0, 1, 2] }, 3), 'x', 'length 3', 'length 2');
    expectLayoutError(() => resolveLayout({ type: 'coordinates', x: [0, 1, 2], y: [0, 1] }, 3), 'y', 'length 3', 'length 2');
    expectLayoutError(() => resolveLayout({ type: 'coordinates', x: [0, NaN, 2], y: [0, 1, 2] }, 3), 'x', 'finite', 'x[1] = NaN');
    expectLayoutError(() => resolveLayout({ type: 'coordinates', x: [0, 1, 2], y: [0, Infinity, 2] }, 3), 'y', 'y[1] = Infinity');
    expectLayoutError(() => resolveLayout({ type: 'coordinates', x: [0, 1, 0], y: [0, 1, 0] }, 3), 'x', 'units 0 and 2');
    expectLayoutError(() => resolveLayout({ type: 'coordinates', x: [0, 0.4, 2], y: [0, 0, 0], cellSize: 1 }, 3), 'cellSize', 'own cell');
    expectLayoutError(() => resolveLayout({ type: 'coordinates', x: [0, 5000], y: [0, 0], cellSize: 1 }, 2), 'cellSize', '1024');
    expectLayoutError(() => resolveLayout({ type: 'coordinates', x: [0, 1], y: [0, 0], cellSize: -1 }, 2), 'cellSize', '-1');
    // Two units 1e-4 apart in an extent of 10: separating them needs > 1024 cells on a side.
    expectLayoutError(() => resolveLayout({ type: 'coordinates', x: [0, 1e-4, 10], y: [0, 0, 0] }, 3), 'x', '1024');
  });
});

describe('toSheet / fromSheet', () => {
  it('check lengths', () => {
    const l = resolveLayout(undefined, 6);
    expectLayoutError(() => toSheet([1, 2, 3], l), 'values', '6', '3');
    expectLayoutError(() => fromSheet(new Float64Array(5), l), 'sheet', '6', '5');
  });
});

describe('medianNearestNeighbourDistance', () => {
  it('matches brute force', () => {
    const rand = lcg(3);
    for (const n of [2, 3, 50, 401]) {
      const x = Array.from({ length: n }, () => rand() * 30);
      const y = Array.from({ length: n }, () => rand() * (n === 50 ? 0.01 : 7)); // one thin strip
      const nn = x.map((xi, i) => Math.min(...x.map((xj, j) => (j === i ? Infinity : Math.hypot(xj - xi, y[j] - y[i])))));
      nn.sort((a, b) => a - b);
      const med = n % 2 ? nn[(n - 1) / 2] : (nn[n / 2 - 1] + nn[n / 2]) / 2;
      expect(medianNearestNeighbourDistance(x, y)).toBeCloseTo(med, 12);
    }
  });
});
