/**
 * Small special functions the stats kernels need and that are not direct dependencies:
 * log-gamma, the half-step gamma ratio, and the log of the normal upper tail.
 * Written from the standard definitions / asymptotic series.
 */

const HALF_LN_2PI = 0.5 * Math.log(2 * Math.PI);

/**
 * ln Γ(x) for x > 0. Shifts the argument up to x ≥ 15 with the recurrence Γ(x+1) = xΓ(x), then uses
 * the Stirling series up to the x^-13 term (truncation error < 1e-17 relative at x = 15).
 */
export function lnGamma(x: number): number {
  if (!(x > 0)) return x === 0 ? Infinity : NaN;
  if (x === Infinity) return Infinity;
  let shift = 0;
  if (x < 15) {
    // ln(x (x+1) ... (x+k-1)); the product stays well within double range for x < 15.
    let prod = 1;
    while (x < 15) {
      prod *= x;
      x += 1;
    }
    shift = Math.log(prod);
  }
  const r = 1 / x;
  const r2 = r * r;
  // Bernoulli-number coefficients B_{2k} / (2k (2k-1)).
  const series =
    r *
    (1 / 12 +
      r2 *
        (-1 / 360 +
          r2 * (1 / 1260 + r2 * (-1 / 1680 + r2 * (1 / 1188 + r2 * (-691 / 360360 + r2 * (1 / 156)))))));
  return (x - 0.5) * Math.log(x) - x + HALF_LN_2PI + series - shift;
}

/**
 * ln(Γ(x + 1/2) / Γ(x)) for x > 0, accurate also for large x where the difference of two lnGamma
 * values would cancel. For x ≥ 50 uses the asymptotic expansion
 * Γ(x+½)/Γ(x) = √x (1 − 1/(8x) + 1/(128x²) + 5/(1024x³) − 21/(32768x⁴) − 399/(262144x⁵) + 869/(4194304x⁶) …)
 * (error < 2e-15 at x = 50, checked against mpmath).
 */
export function lnGammaRatioHalf(x: number): number {
  if (!(x > 0)) return NaN;
  if (x < 50) return lnGamma(x + 0.5) - lnGamma(x);
  const r = 1 / x;
  const s =
    1 +
    r *
      (-1 / 8 +
        r * (1 / 128 + r * (5 / 1024 + r * (-21 / 32768 + r * (-399 / 262144 + r * (869 / 4194304))))));
  return 0.5 * Math.log(x) + Math.log(s);
}

/** ln B(a, 1/2) = ln Γ(a) + ln Γ(1/2) − ln Γ(a + 1/2). */
export function lnBetaHalf(a: number): number {
  return 0.5 * Math.log(Math.PI) - lnGammaRatioHalf(a);
}

/**
 * Hedges' exact small-sample correction J(m) = Γ(m/2) / (√(m/2) Γ((m−1)/2)) for m > 1 degrees of freedom.
 */
export function hedgesJ(m: number): number {
  if (!(m > 1)) return NaN;
  // Γ(m/2)/Γ((m-1)/2) = Γ(x + ½)/Γ(x) with x = (m-1)/2.
  const x = (m - 1) / 2;
  return Math.exp(lnGammaRatioHalf(x) - 0.5 * Math.log(m / 2));
}

/**
 * Mills ratio R(z) = Q(z)/φ(z) for z ≥ 3 (Q the standard normal upper tail), by the continued fraction
 * R(z) = 1/(z + 1/(z + 2/(z + 3/(z + …)))), evaluated with the modified Lentz method.
 */
export function millsRatio(z: number): number {
  const tiny = 1e-300;
  // f = b0 + a1/(b1 + a2/(b2 + ...)) with b0 = z, a_k = k, b_k = z; R = 1/f.
  let f = z;
  let C = f;
  let D = 0;
  for (let k = 1; k < 500; k++) {
    D = z + k * D;
    if (Math.abs(D) < tiny) D = tiny;
    C = z + k / C;
    if (Math.abs(C) < tiny) C = tiny;
    D = 1 / D;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return 1 / f;
}

/** Standard normal density φ(z). */
export function normalPdf(z: number): number {
  return Math.exp(-0.5 * z * z - HALF_LN_2PI);
}

/**
 * erf(x) for 0 ≤ x ≤ ~3 by the all-positive series erf(x) = (2/√π) e^{−x²} Σ 2ⁿ x^{2n+1} / (1·3·…·(2n+1)),
 * which has no cancellation.
 */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
}

/** Below this z the upper tail is 1 − Φ from the erf series, above it φ(z)·R(z) (Mills ratio). */
const TAIL_SWITCH_Z = 3;

/** Q(z) = 1 − Φ(z), the standard normal upper tail, precise in relative terms for z ≥ 0. */
export function normalUpperTail(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z < 0) return 1 - normalUpperTail(-z);
  if (z < TAIL_SWITCH_Z) return 0.5 - 0.5 * erfSeries(z / Math.SQRT2);
  return normalPdf(z) * millsRatio(z);
}

/** ln Q(z) for z ≥ 0, finite far beyond the underflow of Q itself. */
export function lnNormalUpperTail(z: number): number {
  if (z < TAIL_SWITCH_Z) return Math.log(normalUpperTail(z));
  return -0.5 * z * z - HALF_LN_2PI + Math.log(millsRatio(z));
}

/**
 * The z ≥ 0 with ln Q(z) = lnq, for lnq ≤ ln(1/2). Newton's method on the log tail: ln Q is concave and
 * decreasing, so after the first step the iterates approach the root monotonically from above.
 * start: an initial guess (≥ 0); when omitted the asymptotic inverse of Q(z) ≈ φ(z)/z is used.
 */
export function normalUpperQuantileFromLn(lnq: number, start?: number): number {
  if (Number.isNaN(lnq)) return NaN;
  if (lnq >= -Math.LN2) return 0;
  if (lnq === -Infinity) return Infinity;
  let z: number;
  if (start !== undefined && start > 0 && Number.isFinite(start)) z = start;
  else {
    const u = -2 * lnq;
    z = u > 4 ? Math.sqrt(u - Math.log(u) - Math.log(2 * Math.PI)) : Math.sqrt(u) * 0.8;
  }
  for (let i = 0; i < 100; i++) {
    // d/dz ln Q(z) = −φ(z)/Q(z).
    const lnQ = lnNormalUpperTail(z);
    const ratio = Math.exp(lnQ - (-0.5 * z * z - HALF_LN_2PI)); // Q/φ
    const step = (lnQ - lnq) * ratio;
    z += step;
    if (z < 0) z = 0;
    if (Math.abs(step) <= 4e-16 * Math.max(1, z)) break;
  }
  return z;
}
