/**
 * Statistics on the sheet, as the server computes them for map.png (src/analysis/layer-maps.ts):
 * p-like statistics are drawn signed by t, sign(t)·(−log10 value), and the colour scale is symmetric
 * about 0 with vmax = max |value| unless given.
 */
import type { LayerResult, Stat } from './types.ts';

export interface StatInfo {
  label: string;
  /** What the threshold slider compares against, e.g. "|t|". */
  scale: string;
  /** Default outline threshold on that scale. */
  defaultThreshold: number;
  /** For −log10 scales: the name of the underlying p-value, to state the threshold as p ≤ 10^−x. */
  pName?: string;
}

export const STATS: Record<Stat, StatInfo> = {
  t: { label: 't', scale: '|t|', defaultThreshold: 3 },
  d: { label: "Cohen's d", scale: '|d|', defaultThreshold: 0.8 },
  log10p: { label: 'signed −log10 p', scale: '−log10 p', defaultThreshold: 3, pName: 'p' },
  q: { label: 'signed −log10 q', scale: '−log10 q', defaultThreshold: 1.3, pName: 'q' },
  pfwe: { label: 'signed −log10 p(FWE)', scale: '−log10 p(FWE)', defaultThreshold: 1.3, pName: 'p(FWE)' },
  tfce: { label: 'TFCE', scale: '|TFCE|', defaultThreshold: 1 },
};

export const STAT_ORDER: Stat[] = ['t', 'd', 'log10p', 'q', 'pfwe', 'tfce'];

export function availableStats(l: LayerResult): Stat[] {
  return STAT_ORDER.filter((s) => (s === 'pfwe' ? l.pFWE !== null : s === 'tfce' ? l.tfce !== null : true));
}

const num = (v: number | null | undefined): number => (v === null || v === undefined ? NaN : v);

/** Per-unit values of `stat` (NaN where the API sent null). */
export function statValues(l: LayerResult, stat: Stat): Float64Array {
  const out = new Float64Array(l.units);
  for (let u = 0; u < l.units; u++) {
    const t = num(l.t[u]);
    const s = t > 0 ? 1 : t < 0 ? -1 : 0;
    switch (stat) {
      case 't':
        out[u] = t;
        break;
      case 'd':
        out[u] = num(l.d[u]);
        break;
      case 'log10p': {
        const lp = l.log10p[u];
        out[u] = lp === null ? (l.p[u] === 0 ? s * 325 : NaN) : s * -lp;
        break;
      }
      case 'q': {
        const q = num(l.q[u]);
        out[u] = s * (q > 0 ? -Math.log10(q) : 325);
        break;
      }
      case 'pfwe':
        out[u] = l.pFWE ? s * -Math.log10(num(l.pFWE[u])) : NaN;
        break;
      case 'tfce':
        out[u] = l.tfce ? num(l.tfce[u]) : NaN;
        break;
    }
  }
  return out;
}

/** Unit values laid out on the rows×cols sheet (row-major), NaN in empty cells. */
export function onSheet(l: LayerResult, unitValues: Float64Array): Float64Array {
  const sheet = new Float64Array(l.rows * l.cols).fill(NaN);
  for (let u = 0; u < l.units; u++) sheet[l.cellOfUnit[u]] = unitValues[u];
  return sheet;
}

/** The unit sitting in each cell, −1 where none. */
export function unitOfCell(l: LayerResult): Int32Array {
  const out = new Int32Array(l.rows * l.cols).fill(-1);
  for (let u = 0; u < l.units; u++) out[l.cellOfUnit[u]] = u;
  return out;
}

export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const v = Math.abs(values[i]);
    if (Number.isFinite(v) && v > m) m = v;
  }
  return m;
}

/** The colour-scale limit the server uses by default: max |value|, or 1 for an all-zero map. */
export function defaultVmax(values: ArrayLike<number>): number {
  const m = maxAbs(values);
  return m > 0 ? m : 1;
}

export interface Regions {
  /** Per cell: 0, or the 1-based region id. */
  labels: Int32Array;
  positive: number;
  negative: number;
  /** Cells at or beyond the threshold. */
  cells: number;
}

/**
 * Connected regions of cells with |value| ≥ threshold, positive and negative apart (like the
 * server's clusters), 4- or 8-connected.
 */
export function regions(sheet: Float64Array, rows: number, cols: number, threshold: number, connectivity: 4 | 8): Regions {
  const n = rows * cols;
  const labels = new Int32Array(n);
  const sign = new Int8Array(n);
  let cells = 0;
  for (let i = 0; i < n; i++) {
    const v = sheet[i];
    if (Number.isFinite(v) && Math.abs(v) >= threshold && v !== 0) {
      sign[i] = v > 0 ? 1 : -1;
      cells++;
    }
  }
  let next = 0;
  let positive = 0;
  let negative = 0;
  const stack: number[] = [];
  for (let i = 0; i < n; i++) {
    if (!sign[i] || labels[i]) continue;
    const s = sign[i];
    labels[i] = ++next;
    if (s > 0) positive++;
    else negative++;
    stack.push(i);
    while (stack.length) {
      const c = stack.pop()!;
      const r = Math.floor(c / cols);
      const k = c % cols;
      for (let dr = -1; dr <= 1; dr++) {
        for (let dc = -1; dc <= 1; dc++) {
          if ((dr === 0 && dc === 0) || (connectivity === 4 && dr !== 0 && dc !== 0)) continue;
          const rr = r + dr;
          const cc = k + dc;
          if (rr < 0 || rr >= rows || cc < 0 || cc >= cols) continue;
          const j = rr * cols + cc;
          if (sign[j] === s && !labels[j]) {
            labels[j] = next;
            stack.push(j);
          }
        }
      }
    }
  }
  return { labels, positive, negative, cells };
}

/** Slider range and step for a statistic: 0 … a round number just above max |value|. */
export function thresholdRange(values: ArrayLike<number>): { max: number; step: number } {
  const m = maxAbs(values);
  if (!(m > 0)) return { max: 1, step: 0.01 };
  const mag = Math.pow(10, Math.floor(Math.log10(m)) - 2);
  const step = mag >= 1 ? 1 : Number(mag.toPrecision(1));
  return { max: Math.ceil(m / step) * step, step };
}
