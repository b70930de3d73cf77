/**
 * Tick positions and number labels. Every function here accepts any number (±Infinity, NaN, ±1e308,
 * denormals) and returns finite, bounded output after a bounded amount of work.
 */

export interface Ticks {
  /** Strictly increasing finite values. */
  ticks: number[];
  /** Their spacing (> 0, finite); for labels, see `formatTick`. */
  step: number;
}

const MAX = Number.MAX_VALUE;
/** Upper bound on any tick count asked for. */
export const MAX_TICKS = 50;
const MANTISSAS = [1, 2, 2.5, 5];

const clampFinite = (v: number): number => (v > MAX ? MAX : v < -MAX ? -MAX : v);

function clampCount(v: number, lo: number, hi: number, fallback: number): number {
  return Number.isFinite(v) ? Math.max(lo, Math.min(hi, Math.round(v))) : fallback;
}

/** 12 significant digits, and no −0. */
function clean(v: number): number {
  const r = Number(v.toPrecision(12));
  return r === 0 ? 0 : r;
}

/**
 * "Nice" ticks (1, 2, 2.5 or 5 × 10^k apart) inside [lo, hi]: between minCount and maxCount of them,
 * as close to `prefer` as possible. Infinite bounds are clamped to ±Number.MAX_VALUE, NaN bounds take
 * the other bound, reversed bounds are swapped, and lo == hi gives one tick. When no nice step fits
 * (for instance a span below the precision of the bounds), the bounds themselves (and their midpoint) are
 * the ticks.
 */
export function niceTicks(lo: number, hi: number, minCount = 5, maxCount = 11, prefer = 7): Ticks {
  const minC = clampCount(minCount, 1, MAX_TICKS, 5);
  const maxC = clampCount(maxCount, minC, MAX_TICKS, Math.max(minC, 11));
  const want = clampCount(prefer, minC, maxC, minC);
  if (Number.isNaN(lo)) lo = hi;
  if (Number.isNaN(hi)) hi = lo;
  if (Number.isNaN(lo)) return { ticks: [], step: 1 };
  lo = clampFinite(lo);
  hi = clampFinite(hi);
  if (lo > hi) [lo, hi] = [hi, lo];
  if (lo === hi) return { ticks: [clean(lo)], step: Math.abs(lo) || 1 };

  const half = hi / 2 - lo / 2; // the span without overflow
  if (half > 1e-300) {
    const e0 = Math.floor(Math.log10(half) + Math.LOG10E * Math.LN2 - Math.log10(Math.max(1, want - 1)));
    // Allow more ticks rather than print odd numbers when no nice step gives a count in range.
    for (let cap = maxC; cap <= Math.max(maxC, Math.min(MAX_TICKS, 4 * Math.max(minC, 2) + 1)); cap += 2) {
      let best: { step: number; first: number; count: number; score: number } | undefined;
      for (let e = e0 - 2; e <= e0 + 2; e++) {
        for (const m of MANTISSAS) {
          const step = m * Math.pow(10, e);
          if (!(step > 0 && step < Infinity)) continue;
          const first = Math.ceil(lo / step - 1e-9);
          const count = Math.floor(hi / step + 1e-9) - first + 1;
          if (!(count >= minC && count <= cap)) continue;
          const score = Math.abs(count - want) + (m === 2.5 ? 1.5 : 0);
          if (!best || score < best.score) best = { step, first, count, score };
        }
      }
      if (best) {
        const ticks: number[] = [];
        for (let i = 0; i < best.count; i++) {
          const t = clean((best.first + i) * best.step);
          if (Number.isFinite(t) && (ticks.length === 0 || t > ticks[ticks.length - 1])) ticks.push(t);
        }
        if (ticks.length >= Math.min(2, minC)) return { ticks, step: best.step };
        break;
      }
    }
  }
  const mid = lo + half;
  const ticks = maxC >= 3 && mid > lo && mid < hi ? [lo, mid, hi] : maxC >= 2 ? [lo, hi] : [lo];
  return { ticks, step: half > 0 ? half : Math.abs(hi) || 1 };
}

/**
 * Ticks for a log10 axis over [lo, hi] (both clamped into [Number.MIN_VALUE, MAX]): 1-2-5 × 10^k when
 * at most maxCount of them fall inside, else whole powers of ten, thinned to at most maxCount.
 */
export function logTicks(lo: number, hi: number, maxCount = 8): number[] {
  const cap = clampCount(maxCount, 2, MAX_TICKS, 8);
  const pos = (v: number): number => (Number.isNaN(v) ? 1 : Math.max(Number.MIN_VALUE, Math.min(MAX, v)));
  let a = pos(lo);
  let b = pos(hi);
  if (a > b) [a, b] = [b, a];
  const e0 = Math.floor(Math.log10(a));
  const e1 = Math.ceil(Math.log10(b));
  const out: number[] = [];
  const push = (v: number): void => {
    if (v >= a * (1 - 1e-12) && v <= b * (1 + 1e-12) && Number.isFinite(v) && v > 0 && (out.length === 0 || v > out[out.length - 1])) out.push(v);
  };
  if (e1 - e0 <= cap) {
    for (let e = e0; e <= e1; e++) for (const m of [1, 2, 5]) push(clean(m * Math.pow(10, e)));
    if (out.length <= cap && out.length >= 2) return out;
    out.length = 0;
  }
  const stride = Math.max(1, Math.ceil((e1 - e0 + 1) / cap));
  for (let e = Math.ceil(e0 / stride) * stride; e <= e1; e += stride) push(clean(Math.pow(10, e)));
  if (out.length < 2) return a === b ? [a] : [a, b];
  return out;
}

/** Decimals needed to write multiples of `step` exactly (at most 12). */
function decimalsFor(step: number): number {
  if (!(step > 0 && step < Infinity)) return 0;
  let d = 0;
  while (d < 12 && Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) > 1e-9 * 10 ** d) d++;
  return d;
}

const minus = (s: string): string => s.replace(/-/g, '\u2212');

/**
 * A tick label at spacing `step`: fixed decimals as the step needs, or an exponent form (1.5e−5) for
 * very large or very small values; a typographic minus; never "−0".
 */
export function formatTick(v: number, step: number): string {
  if (!Number.isFinite(v)) return formatValue(v);
  if (v === 0) return (0).toFixed(Math.abs(step) < 1e-4 ? 0 : decimalsFor(Math.abs(step)));
  const s = Math.abs(step) > 0 && Math.abs(step) < Infinity ? Math.abs(step) : Math.abs(v);
  const a = Math.abs(v);
  if (a >= 1e6 || s < 1e-4) {
    const es = Math.floor(Math.log10(s));
    const digits = Math.floor(Math.log10(a)) - es + decimalsFor(s / Math.pow(10, es));
    const [mant, exp] = v.toExponential(Math.max(0, Math.min(15, digits))).split('e');
    const m = mant.includes('.') ? mant.replace(/\.?0+$/, '') : mant;
    return minus(`${m}e${exp.replace('+', '')}`);
  }
  const out = v.toFixed(decimalsFor(s));
  return /^-0(\.0*)?$/.test(out) ? out.slice(1) : minus(out);
}

/** A free-standing value (colorbar ends, thresholds): 3 significant digits, typographic minus. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '\u221e' : '\u2212\u221e';
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return minus(v.toExponential(2).replace(/\.?0+e/, 'e').replace('e+', 'e'));
  const r = Number(v.toPrecision(3));
  return r === 0 ? '0' : minus(String(r));
}
