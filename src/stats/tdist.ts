/**
 * Student t tail probabilities, their log10 far in the tail, and the matching normal z.
 */
import tCdf from '@stdlib/stats-base-dists-t-cdf';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import { lnBetaHalf, normalUpperQuantileFromLn } from './special.ts';

const LN10 = Math.LN10;
/** Below this the directly computed p is replaced by the log-space continued fraction. */
const LOG_SWITCH_P = 1e-280;

/**
 * Two-sided p = 2·F_t(−|t|; df), computed from the lower tail so small p keep full relative precision.
 * Underflows to 0 below ~1e-308: use {@link log10TwoSidedP} there. NaN for NaN input or df ≤ 0.
 */
export function twoSidedP(t: number, df: number): number {
  if (Number.isNaN(t) || Number.isNaN(df) || !(df > 0)) return NaN;
  if (t === 0) return 1;
  const p = 2 * tCdf(-Math.abs(t), df);
  return p > 1 ? 1 : p;
}

/**
 * ln I_x(a, 1/2) with x = df/(df + t²), a = df/2, which equals ln(two-sided p).
 * I_x(a,b) = x^a (1−x)^b / (a B(a,b)) · 1/(1 + d1/(1 + d2/(1 + …))) with
 * d_{2m+1} = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1)), d_{2m} = m(b−m)x / ((a+2m−1)(a+2m)),
 * evaluated with the modified Lentz method. The fraction converges quickly for x < (a+1)/(a+b+2),
 * which always holds where p is tiny. ln x and ln(1−x) are formed from logs so |t| up to 1e308 is fine.
 * Returns NaN when the fraction is not applicable (x too large) or did not converge.
 */
export function lnTwoSidedPTail(t: number, df: number): number {
  const at = Math.abs(t);
  const a = df / 2;
  const b = 0.5;
  // L = ln(df + t²), without overflowing t².
  const L = at * at > df ? 2 * Math.log(at) + Math.log1p(df / (at * at)) : Math.log(df) + Math.log1p((at * at) / df);
  const lnx = Math.log(df) - L;
  const ln1mx = 2 * Math.log(at) - L;
  const x = Math.exp(lnx);
  if (!(x < (a + 1) / (a + b + 2))) return NaN;
  const tiny = 1e-300;
  // Lentz on f = 1/(1 + d1/(1 + d2/(1 + ...))): evaluate g = 1 + d1/(1 + d2/(...)), result 1/g.
  let f = 1;
  let C = 1;
  let D = 0;
  let converged = false;
  for (let k = 1; k <= 100000; k++) {
    let dk: number;
    if (k & 1) {
      const m = (k - 1) / 2;
      dk = (-(a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    } else {
      const m = k / 2;
      dk = (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m));
    }
    D = 1 + dk * D;
    if (Math.abs(D) < tiny) D = tiny;
    C = 1 + dk / C;
    if (Math.abs(C) < tiny) C = tiny;
    D = 1 / D;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-15) {
      converged = true;
      break;
    }
  }
  if (!converged || !(f > 0)) return NaN;
  return a * lnx + b * ln1mx - Math.log(a) - lnBetaHalf(a) - Math.log(f);
}

/**
 * log10 of the two-sided p. Equals log10(twoSidedP) where p is comfortably representable and switches to
 * the log-space continued fraction (see {@link lnTwoSidedPTail}) below 1e-280, so it stays finite and
 * accurate for any finite t (e.g. t = 1e4, df = 100 → −694.0). 0 for t = 0, −Infinity for |t| = ∞.
 * `p`: twoSidedP(t, df) when the caller has it already.
 */
export function log10TwoSidedP(t: number, df: number, p = twoSidedP(t, df)): number {
  if (Number.isNaN(t) || Number.isNaN(df) || !(df > 0)) return NaN;
  if (t === 0) return 0;
  if (!Number.isFinite(t)) return -Infinity;
  if (p >= LOG_SWITCH_P) return Math.log10(p);
  const ln = lnTwoSidedPTail(t, df);
  if (Number.isNaN(ln)) return p > 0 ? Math.log10(p) : -Infinity;
  return ln / LN10;
}

/**
 * Signed z for a two-sided p: z = sign · Φ⁻¹(1 − p/2), i.e. the z with Q(|z|) = p/2 (Q the normal upper
 * tail), solved in log space so it keeps full precision for small p. (stdlib's normal quantile goes
 * through erfinv(2p − 1), which loses all precision below p ≈ 1e-16, so it is only used as a start.)
 * Pass log10p (from {@link log10TwoSidedP}) to stay finite where p underflows to 0.
 * sign: the sign of the statistic (0 → 0). p ≥ 1 → 0.
 */
export function zFromP(p: number, sign: number, log10p?: number): number {
  if (Number.isNaN(p) || Number.isNaN(sign)) return NaN;
  if (sign === 0 || p >= 1) return 0;
  if (p >= 1e-300) return zFromLnHalfP(Math.log(p / 2), sign > 0 ? 1 : -1);
  const l = log10p !== undefined && Number.isFinite(log10p) ? log10p : p > 0 ? Math.log10(p) : -Infinity;
  return zFromLog10P(l, sign);
}

/** Signed z from log10 of a two-sided p (see {@link zFromP}). */
export function zFromLog10P(log10p: number, sign: number): number {
  if (Number.isNaN(log10p) || Number.isNaN(sign)) return NaN;
  if (sign === 0 || log10p >= 0) return 0;
  const s = sign > 0 ? 1 : -1;
  if (log10p === -Infinity) return s * Infinity;
  return zFromLnHalfP(log10p * LN10 - Math.LN2, s);
}

function zFromLnHalfP(lnq: number, s: 1 | -1): number {
  let start: number | undefined;
  if (lnq > -23 && lnq < -Math.LN2) start = -normalQuantile(Math.exp(lnq), 0, 1);
  return s * normalUpperQuantileFromLn(lnq, start);
}
