/**
 * Unit selection (fROI) helpers: top-k% units by value and a matched random control mask.
 */
import { Rng } from './rng.ts';

/** k = max(1, round(n·percent/100)), n the number of non-NaN values (never more than n). */
export function topKCount(n: number, percent: number): number {
  if (n === 0) return 0;
  return Math.min(n, Math.max(1, Math.round((n * percent) / 100)));
}

/**
 * Indices of the top `percent`% of the values (largest first; ties by lower index). NaN values are never
 * selected and do not count in n. k = max(1, round(n·percent/100)) (see {@link topKCount}); llm-localization's
 * "top 1%" of 3072 units is then 31 units. Select on t for A > B, on −t for B > A, or on |t|.
 */
export function topKPercent(values: ArrayLike<number>, percent: number): Int32Array {
  if (!(percent > 0 && percent <= 100)) throw new Error(`topKPercent: percent must be in (0, 100] (got ${percent})`);
  const ok: number[] = [];
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i])) ok.push(i);
  const k = topKCount(ok.length, percent);
  ok.sort((a, b) => values[b] - values[a] || a - b);
  return Int32Array.from(ok.slice(0, k));
}

/**
 * A random mask of the same size as `selected`, drawn uniformly without replacement from the units
 * 0 … nUnits−1 that are not in `selected`. Seeded; returned in ascending order.
 * @throws Error when fewer than |selected| units are outside the selection.
 */
export function matchedRandomMask(selected: Int32Array, nUnits: number, seed: number): Int32Array {
  if (!Number.isInteger(nUnits) || nUnits < 0) throw new Error(`matchedRandomMask: nUnits must be a non-negative integer`);
  const inSel = new Uint8Array(nUnits);
  for (let k = 0; k < selected.length; k++) {
    const u = selected[k];
    if (u < 0 || u >= nUnits) throw new Error(`matchedRandomMask: selected unit ${u} is outside 0…${nUnits - 1}`);
    inSel[u] = 1;
  }
  let distinct = 0;
  for (let u = 0; u < nUnits; u++) distinct += inSel[u];
  const count = selected.length;
  const pool = new Int32Array(nUnits - distinct);
  for (let u = 0, k = 0; u < nUnits; u++) if (!inSel[u]) pool[k++] = u;
  if (pool.length < count) {
    throw new Error(`matchedRandomMask: only ${pool.length} units outside a selection of ${count}`);
  }
  const rng = new Rng(seed);
  for (let i = 0; i < count; i++) {
    const j = i + rng.nextInt(pool.length - i);
    const tmp = pool[i];
    pool[i] = pool[j];
    pool[j] = tmp;
  }
  return pool.slice(0, count).sort();
}
