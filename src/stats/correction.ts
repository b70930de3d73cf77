/**
 * Multiple-comparison adjustment of p-values, matching R's `p.adjust` (stats package):
 *   bonferroni  pmin(1, m·p)
 *   holm        o = order(p);  pmin(1, cummax((m − i + 1)·p[o]))[order(o)]
 *   bh          o = order(p, decreasing);  i = m:1;  pmin(1, cummin(m/i·p[o]))[order(o)]
 *   by          as bh with the factor c(m)·m/i, c(m) = Σ_{k=1..m} 1/k
 * NaN entries stay NaN and are excluded from m (R: n = sum(!is.na(p))). The arithmetic is done in the same
 * order as R's so results agree to the last bit in ordinary cases.
 */

import type { Correction } from '../domain/stats.ts';

export type { Correction };

export const CORRECTIONS: readonly Correction[] = ['bh', 'by', 'holm', 'bonferroni', 'none'];

export function adjustP(p: Float64Array, method: Correction): Float64Array {
  const n = p.length;
  const out = new Float64Array(n);
  // Indices of the non-NaN entries.
  let m = 0;
  for (let i = 0; i < n; i++) if (!Number.isNaN(p[i])) m++;
  const idx = new Int32Array(m);
  for (let i = 0, k = 0; i < n; i++) {
    if (Number.isNaN(p[i])) out[i] = NaN;
    else idx[k++] = i;
  }
  if (m === 0) return out;

  switch (method) {
    case 'none':
      for (let k = 0; k < m; k++) out[idx[k]] = p[idx[k]];
      return out;
    case 'bonferroni':
      for (let k = 0; k < m; k++) out[idx[k]] = Math.min(1, m * p[idx[k]]);
      return out;
    case 'holm': {
      // Ascending p, ties by original index (R's order() is stable; the result does not depend on it).
      const o = sortedIndices(p, idx, true);
      let run = -Infinity;
      for (let k = 0; k < m; k++) {
        const i = k + 1;
        const v = (m - i + 1) * p[o[k]];
        if (v > run) run = v;
        out[o[k]] = Math.min(1, run);
      }
      return out;
    }
    case 'bh':
    case 'by': {
      let c = 1;
      if (method === 'by') {
        // Compensated (Neumaier) sum: R's sum() accumulates in long double.
        c = 0;
        let comp = 0;
        for (let k = 1; k <= m; k++) {
          const x = 1 / k;
          const s = c + x;
          comp += Math.abs(c) >= x ? c - s + x : x - s + c;
          c = s;
        }
        c += comp;
      }
      const o = sortedIndices(p, idx, false); // decreasing
      let run = Infinity;
      for (let k = 0; k < m; k++) {
        const i = m - k; // rank of p[o[k]] in ascending order
        const v = method === 'bh' ? (m / i) * p[o[k]] : ((c * m) / i) * p[o[k]];
        if (v < run) run = v;
        out[o[k]] = Math.min(1, run);
      }
      return out;
    }
    default:
      throw new Error(`adjustP: unknown correction '${String(method)}'`);
  }
}

/**
 * The same adjustments in log10 space, from log10 p: log10 q stays finite where q underflows (tiny p).
 * 10^result equals `adjustP(10^log10p)` up to rounding wherever that does not underflow.
 */
export function adjustLog10P(log10p: Float64Array, method: Correction): Float64Array {
  const n = log10p.length;
  const out = new Float64Array(n);
  let m = 0;
  for (let i = 0; i < n; i++) if (!Number.isNaN(log10p[i])) m++;
  const idx = new Int32Array(m);
  for (let i = 0, k = 0; i < n; i++) {
    if (Number.isNaN(log10p[i])) out[i] = NaN;
    else idx[k++] = i;
  }
  if (m === 0) return out;
  const lm = Math.log10(m);
  switch (method) {
    case 'none':
      for (let k = 0; k < m; k++) out[idx[k]] = log10p[idx[k]];
      return out;
    case 'bonferroni':
      for (let k = 0; k < m; k++) out[idx[k]] = Math.min(0, lm + log10p[idx[k]]);
      return out;
    case 'holm': {
      const o = sortedIndices(log10p, idx, true);
      let run = -Infinity;
      for (let k = 0; k < m; k++) {
        const v = Math.log10(m - k) + log10p[o[k]];
        if (v > run) run = v;
        out[o[k]] = Math.min(0, run);
      }
      return out;
    }
    case 'bh':
    case 'by': {
      let lc = 0;
      if (method === 'by') {
        let c = 0;
        for (let k = m; k >= 1; k--) c += 1 / k;
        lc = Math.log10(c);
      }
      const o = sortedIndices(log10p, idx, false);
      let run = Infinity;
      for (let k = 0; k < m; k++) {
        const i = m - k;
        const v = lc + lm - Math.log10(i) + log10p[o[k]];
        if (v < run) run = v;
        out[o[k]] = Math.min(0, run);
      }
      return out;
    }
    default:
      throw new Error(`adjustLog10P: unknown correction '${String(method)}'`);
  }
}

/** The indices in `idx` sorted by p (ascending or descending), ties by original index. */
function sortedIndices(p: Float64Array, idx: Int32Array, ascending: boolean): Int32Array {
  const o = Array.from(idx);
  if (ascending) o.sort((x, y) => p[x] - p[y] || x - y);
  else o.sort((x, y) => p[y] - p[x] || x - y);
  return Int32Array.from(o);
}
