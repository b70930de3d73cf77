/**
 * Spatial and random lesion controls: never overlapping the lesion, spatial patches contiguous on the
 * sheet and of the lesion's component sizes, the same seed giving the same units; and the control test.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveLayout } from '../../src/sheet/layout.ts';
import { controlTest, damage, deriveSeed, emptyPartial, foldValues, measuresOf, mergePartial } from '../../src/stats/lesion.ts';
import { matchedRandomMask } from '../../src/stats/masks.ts';
import { growPatch, PatchError, sheetNeighbours, spatialControl, unitComponents } from '../../src/stats/patches.ts';
import { Rng } from '../../src/stats/rng.ts';

const grid = (rows: number, cols: number) => resolveLayout({ type: 'grid', rows, cols }, rows * cols);

/** Sizes of the 4-connected pieces of a unit set. */
function pieces4(units: ArrayLike<number>, sheet: ReturnType<typeof grid>): number[] {
  return unitComponents(units, sheet, 4).map((c) => c.length);
}

describe('unitComponents', () => {
  it('splits a unit set into its connected pieces on the sheet (4 or 8 neighbours), largest first', () => {
    const s = grid(4, 5);
    // Cells (0,0),(0,1),(1,1) | (2,3),(3,4) touch diagonally | (3,0)
    const units = [0, 1, 6, 13, 19, 15];
    expect(unitComponents(units, s, 8).map((c) => Array.from(c))).toEqual([[0, 1, 6], [13, 19], [15]]);
    expect(unitComponents(units, s, 4).map((c) => Array.from(c))).toEqual([[0, 1, 6], [13], [15], [19]]);
    expect(sheetNeighbours(s, 0, 4).sort((a, b) => a - b)).toEqual([1, 5]);
    expect(sheetNeighbours(s, 6, 8)).toHaveLength(8);
  });
});

describe('spatialControl', () => {
  const s = grid(16, 32);

  it('places one compact, 4-connected patch per piece of the lesion, of its size, outside it', () => {
    // A 5×5 blob and a 3-unit bar.
    const lesion: number[] = [];
    for (let r = 2; r < 7; r++) for (let c = 3; c < 8; c++) lesion.push(r * 32 + c);
    lesion.push(14 * 32 + 20, 14 * 32 + 21, 14 * 32 + 22);
    const ctl = spatialControl(s, lesion, 42);
    expect(ctl.length).toBe(lesion.length);
    const inLesion = new Set(lesion);
    for (const u of ctl) expect(inLesion.has(u)).toBe(false);
    const parts = pieces4(ctl, s);
    // The two patches may touch each other, never the lesion: the pieces are the patches or their union.
    expect(parts.sort((a, b) => b - a)).toSatisfy((p: number[]) => JSON.stringify(p) === JSON.stringify([25, 3]) || JSON.stringify(p) === JSON.stringify([28]));
    // Compact: the 25-unit patch spans at most a 7 × 7 box.
    const big = unitComponents(ctl, s, 4)[0];
    const rows = Array.from(big, (u) => Math.floor(u / 32));
    const cols = Array.from(big, (u) => u % 32);
    expect(Math.max(...rows) - Math.min(...rows)).toBeLessThanOrEqual(6);
    expect(Math.max(...cols) - Math.min(...cols)).toBeLessThanOrEqual(6);
  });

  it('is deterministic: the same seed gives the same patch, other seeds other patches', () => {
    const lesion = [100, 101, 102, 132, 133, 134];
    expect(Array.from(spatialControl(s, lesion, 7))).toEqual(Array.from(spatialControl(s, lesion, 7)));
    const distinct = new Set(Array.from({ length: 10 }, (_, i) => spatialControl(s, lesion, i).join(',')));
    expect(distinct.size).toBeGreaterThan(5);
  });

  it('property: any lesion and seed → disjoint from the lesion, same size, every piece contiguous and of a lesion piece size (or a union of them)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 16 * 32 - 1 }), { minLength: 1, maxLength: 60 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), (lesion, seed) => {
        const ctl = spatialControl(s, lesion, seed);
        const inLesion = new Set(lesion);
        if (ctl.length !== lesion.length) return false;
        if (new Set(ctl).size !== ctl.length) return false;
        if (Array.from(ctl).some((u) => inLesion.has(u))) return false;
        // Each grown patch is 4-connected: the 4-pieces of the control are sums of lesion piece sizes.
        const lesionSizes = unitComponents(lesion, s, 8).map((c) => c.length);
        const total = lesionSizes.reduce((a, b) => a + b, 0);
        return pieces4(ctl, s).every((n) => n <= total) && pieces4(ctl, s).length <= lesionSizes.length;
      }),
      { numRuns: 150, seed: 3 },
    );
  });

  it('grows patches around holes (coordinates layouts with empty cells) and refuses when there is no room', () => {
    const sparse = resolveLayout({ type: 'coordinates', x: [0, 1, 2, 0, 2, 0, 1, 2], y: [0, 0, 0, 1, 1, 2, 2, 2], cellSize: 1 }, 8);
    const ring = spatialControl(sparse, [0], 5);
    expect(ring.length).toBe(1);
    const patch = growPatch(sparse, 1, 7, new Uint8Array(8).fill(1), new Rng(1));
    expect(patch && patch.length).toBe(7);
    expect(() => spatialControl(grid(2, 2), [0, 3], 1)).toThrow(PatchError);
    const blocked = new Uint8Array(8).fill(1);
    blocked[1] = 0;
    blocked[3] = 0;
    expect(growPatch(sparse, 0, 2, blocked, new Rng(1))).toBeNull();
  });
});

describe('random controls', () => {
  it('never overlap the lesion and keep its size; the same seed gives the same units', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 120 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), (lesion, seed) => {
        const sel = Int32Array.from(lesion);
        const a = matchedRandomMask(sel, 256, seed);
        const b = matchedRandomMask(sel, 256, seed);
        const inL = new Set(lesion);
        return a.length === lesion.length && Array.from(a).every((u) => !inL.has(u)) && a.join() === b.join();
      }),
      { numRuns: 200, seed: 11 },
    );
  });
});

describe('the control test', () => {
  it('mean, sd (n − 1), z and the empirical p = (1 + #{control ≥ effect}) / (1 + n)', () => {
    const t = controlTest(0.5, [0.1, 0.2, 0.6, null, 0.3]);
    expect(t.n).toBe(4);
    expect(t.mean).toBeCloseTo(0.3, 12);
    const sd = Math.sqrt(((0.1 - 0.3) ** 2 + (0.2 - 0.3) ** 2 + (0.6 - 0.3) ** 2 + 0) / 3);
    expect(t.sd).toBeCloseTo(sd, 12);
    expect(t.z).toBeCloseTo(0.2 / sd, 12);
    expect(t.p).toBe(2 / 5);
    expect(controlTest(0.5, [0.5, 0.5]).p).toBe(1);
    expect(controlTest(0.5, [0.5, 0.5]).z).toBeNull();
    expect(controlTest(0.5, []).p).toBeNull();
    expect(controlTest(null, [1, 2]).p).toBeNull();
  });

  it('orients every Δ as damage', () => {
    expect(damage('ce', 4, 4.5)).toBe(0.5);
    expect(damage('accuracy', 0.8, 0.6)).toBeCloseTo(0.2, 12);
    expect(damage('logp', -1, -2)).toBe(1);
    expect(damage('kl', 0, 0.1)).toBe(0.1);
    expect(damage('accuracy', null, 0.5)).toBeNull();
  });

  it('partials merge to the same measures in any split (sums and counts)', () => {
    const vals = { ceSum: Float64Array.from([3, 5, 2, 7]), tokens: Float64Array.from([2, 4, 1, 5]) };
    const whole = emptyPartial();
    foldValues([whole], vals, [0, 0, 0, 0], 0, 4);
    const a = emptyPartial();
    const b = emptyPartial();
    foldValues([a], { ceSum: vals.ceSum.subarray(0, 1), tokens: vals.tokens.subarray(0, 1) }, [0], 0, 1);
    foldValues([b], { ceSum: vals.ceSum.subarray(1), tokens: vals.tokens.subarray(1) }, [0, 0, 0], 0, 3);
    expect(measuresOf(mergePartial(a, b), 'lm')).toEqual(measuresOf(whole, 'lm'));
    expect(measuresOf(whole, 'lm').ce).toBe(17 / 12);
  });

  it('derives distinct, reproducible seeds per draw', () => {
    expect(deriveSeed(1, 1, 0, 0)).toBe(deriveSeed(1, 1, 0, 0));
    const seen = new Set<number>();
    for (let k = 1; k <= 2; k++) for (let d = 0; d < 4; d++) for (let i = 0; i < 50; i++) seen.add(deriveSeed(1, k, d, i));
    expect(seen.size).toBe(400);
    expect(deriveSeed(1, 1, 2)).not.toBe(deriveSeed(1, 2, 1));
  });
});
