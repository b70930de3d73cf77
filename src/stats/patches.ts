/**
 * Spatial controls for lesions on a cortical sheet: contiguous patches of units, of the same sizes as
 * the lesion's own connected pieces, placed at random positions outside the lesion (the topographic
 * control: "another region of the same size" rather than "the same number of scattered units").
 *
 * - The lesion's units on a layer are split into connected components on the sheet (8-connected, as the
 *   cluster tables are by default), largest first.
 * - For each component a patch of exactly its size is grown from a seed unit drawn uniformly among the
 *   units still free (outside the lesion and the patches already placed): the patch repeatedly takes the
 *   free 4-neighbour (edge-sharing cell) nearest to the seed cell in Euclidean sheet distance, ties by a
 *   random key drawn when the cell first touches the patch. So a patch is 4-connected (contiguous in the
 *   strictest sense) and compact (disk-like); its shape class is "compact blob".
 * - A seed whose free neighbourhood is too small for the patch is redrawn (up to `attempts` times).
 * Deterministic for a given seed (xoshiro128** in rng.ts).
 */
import type { SheetLayout } from '../domain/sheet.ts';
import { Rng } from './rng.ts';

export class PatchError extends Error {}

type Sheet = Pick<SheetLayout, 'rows' | 'cols' | 'cellOfUnit' | 'unitOfCell'>;

/** The units whose cells share an edge (4) or an edge or corner (8) with the unit's cell. */
export function sheetNeighbours(sheet: Sheet, unit: number, connectivity: 4 | 8): number[] {
  const { rows, cols } = sheet;
  const cell = sheet.cellOfUnit[unit];
  const r = Math.floor(cell / cols);
  const c = cell % cols;
  const out: number[] = [];
  for (let dr = -1; dr <= 1; dr++) {
    for (let dc = -1; dc <= 1; dc++) {
      if ((dr === 0 && dc === 0) || (connectivity === 4 && dr !== 0 && dc !== 0)) continue;
      const rr = r + dr;
      const cc = c + dc;
      if (rr < 0 || rr >= rows || cc < 0 || cc >= cols) continue;
      const u = sheet.unitOfCell[rr * cols + cc];
      if (u >= 0) out.push(u);
    }
  }
  return out;
}

/** Connected components of a set of units on the sheet; each sorted ascending; largest first (ties: lowest unit). */
export function unitComponents(units: ArrayLike<number>, sheet: Sheet, connectivity: 4 | 8 = 8): Int32Array[] {
  const n = sheet.cellOfUnit.length;
  const inSet = new Uint8Array(n);
  for (let k = 0; k < units.length; k++) inSet[units[k]] = 1;
  const seen = new Uint8Array(n);
  const comps: Int32Array[] = [];
  const sorted = Array.from(units).sort((a, b) => a - b);
  for (const start of sorted) {
    if (seen[start]) continue;
    const comp: number[] = [];
    const stack = [start];
    seen[start] = 1;
    while (stack.length) {
      const u = stack.pop()!;
      comp.push(u);
      for (const v of sheetNeighbours(sheet, u, connectivity)) {
        if (inSet[v] && !seen[v]) {
          seen[v] = 1;
          stack.push(v);
        }
      }
    }
    comps.push(Int32Array.from(comp.sort((a, b) => a - b)));
  }
  return comps.sort((a, b) => b.length - a.length || a[0] - b[0]);
}

/**
 * Grows a 4-connected patch of exactly `size` free units from `seedUnit` (free[u] = 1: may be taken).
 * Returns the units in the order taken, or null when the free region around the seed is smaller.
 */
export function growPatch(sheet: Sheet, seedUnit: number, size: number, free: Uint8Array, rng: Rng): Int32Array | null {
  if (!free[seedUnit]) return null;
  const { cols } = sheet;
  const cell0 = sheet.cellOfUnit[seedUnit];
  const r0 = Math.floor(cell0 / cols);
  const c0 = cell0 % cols;
  const dist = (u: number) => {
    const cell = sheet.cellOfUnit[u];
    const dr = Math.floor(cell / cols) - r0;
    const dc = (cell % cols) - c0;
    return dr * dr + dc * dc;
  };
  const taken = new Set<number>([seedUnit]);
  const out: number[] = [seedUnit];
  const frontier: { u: number; d: number; key: number }[] = [];
  const inFrontier = new Set<number>();
  const push = (u: number) => {
    for (const v of sheetNeighbours(sheet, u, 4)) {
      if (!free[v] || taken.has(v) || inFrontier.has(v)) continue;
      inFrontier.add(v);
      frontier.push({ u: v, d: dist(v), key: rng.nextFloat() });
    }
  };
  push(seedUnit);
  while (out.length < size) {
    if (frontier.length === 0) return null;
    let best = 0;
    for (let i = 1; i < frontier.length; i++) {
      const a = frontier[i];
      const b = frontier[best];
      if (a.d < b.d || (a.d === b.d && a.key < b.key)) best = i;
    }
    const next = frontier[best];
    frontier[best] = frontier[frontier.length - 1];
    frontier.pop();
    inFrontier.delete(next.u);
    taken.add(next.u);
    out.push(next.u);
    push(next.u);
  }
  return Int32Array.from(out);
}

/**
 * A spatial control of `lesion` on one layer's sheet: one compact patch per connected component of the
 * lesion (same sizes), disjoint from the lesion and from each other. Sorted ascending.
 * @throws PatchError when a patch finds no room after `attempts` seeds.
 */
export function spatialControl(sheet: Sheet, lesion: ArrayLike<number>, seed: number, opts: { connectivity?: 4 | 8; attempts?: number } = {}): Int32Array {
  const n = sheet.cellOfUnit.length;
  const free = new Uint8Array(n).fill(1);
  for (let k = 0; k < lesion.length; k++) {
    const u = lesion[k];
    if (!(u >= 0 && u < n)) throw new PatchError(`unit ${u} is outside the sheet's ${n} units`);
    free[u] = 0;
  }
  const rng = new Rng(seed);
  const attempts = opts.attempts ?? 200;
  const out: number[] = [];
  for (const comp of unitComponents(lesion, sheet, opts.connectivity ?? 8)) {
    let patch: Int32Array | null = null;
    for (let a = 0; a < attempts && !patch; a++) {
      const candidates: number[] = [];
      for (let u = 0; u < n; u++) if (free[u]) candidates.push(u);
      if (candidates.length < comp.length) break;
      patch = growPatch(sheet, candidates[rng.nextInt(candidates.length)], comp.length, free, rng);
    }
    if (!patch) throw new PatchError(`no room on the sheet for a contiguous patch of ${comp.length} units outside the lesion (${lesion.length} units) and the patches already placed`);
    for (const u of patch) {
      free[u] = 0;
      out.push(u);
    }
  }
  return Int32Array.from(out.sort((a, b) => a - b));
}
