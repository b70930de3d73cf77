/**
 * Per-unit two-sample t-tests from per-condition moments (Welch by default, Student pooled as option),
 * with two-sided p, log10 p, Cohen's d and Hedges' g.
 */
import { hedgesJ } from './special.ts';
import { log10TwoSidedP, twoSidedP } from './tdist.ts';

import type { TestKind } from '../domain/stats.ts';

export type { TestKind };

/** Sufficient statistics of one condition. {@link Moments} satisfies it. */
export interface GroupMoments {
  n: number;
  mean: Float64Array;
  m2: Float64Array;
  /** Optional low-order part of the mean (Moments keeps one); used for the mean difference when present. */
  meanLo?: Float64Array;
}

export interface TTestResult {
  /** t = (m_A − m_B)/SE; positive when A > B. 0 for units with zero variance in both groups. */
  t: Float64Array;
  /** Welch–Satterthwaite df, or n_A + n_B − 2 (Student; also used for zero-variance units under Welch). */
  df: Float64Array;
  /** Two-sided p; 1 for zero-variance units. May underflow to 0: see log10p. */
  p: Float64Array;
  /** log10 of the two-sided p, finite even where p underflows. */
  log10p: Float64Array;
  /** Cohen's d = (m_A − m_B)/s_pooled, s_pooled² = (M2_A + M2_B)/(n_A + n_B − 2). 0 when s_pooled = 0. */
  d: Float64Array;
  /** Hedges' g = d·J(n_A + n_B − 2), J the exact gamma-function correction. */
  g: Float64Array;
  /** Sample variances (ddof 1). */
  varA: Float64Array;
  varB: Float64Array;
  /** Number of units with zero variance in both groups (reported as t = 0, p = 1, d = 0). */
  zeroVarianceUnits: number;
  /** 1 for the units counted in zeroVarianceUnits. */
  zeroVariance: Uint8Array;
}

/**
 * Two-sample t-test for every unit.
 *
 * Welch: t = (m_A − m_B)/√(s²_A/n_A + s²_B/n_B), df = (s²_A/n_A + s²_B/n_B)² / ((s²_A/n_A)²/(n_A−1) + (s²_B/n_B)²/(n_B−1)).
 * Student: s²_p = (M2_A + M2_B)/(n_A + n_B − 2), t = (m_A − m_B)/√(s²_p(1/n_A + 1/n_B)), df = n_A + n_B − 2.
 * Units whose variance is zero in both groups get t = 0, p = 1, log10p = 0, d = g = 0 (even if the
 * two constant means differ; scipy would return NaN or ±inf there) and are counted in zeroVarianceUnits.
 * One group with zero variance is an ordinary Welch test (df = n_other − 1).
 * Hedges' g uses the exact correction J(m) = Γ(m/2) / (√(m/2)·Γ((m−1)/2)), m = n_A + n_B − 2
 * (not the 1 − 3/(4m − 1) approximation).
 * @throws Error when either group has fewer than 2 samples or the unit counts differ.
 */
export function tTest(a: GroupMoments, b: GroupMoments, test: TestKind = 'welch'): TTestResult {
  const na = a.n;
  const nb = b.n;
  if (!(na >= 2) || !(nb >= 2)) {
    throw new Error(`tTest: each condition needs at least 2 samples (got n_A = ${na}, n_B = ${nb})`);
  }
  if (test !== 'welch' && test !== 'student') throw new Error(`tTest: unknown test kind '${String(test)}'`);
  const units = a.mean.length;
  if (b.mean.length !== units || a.m2.length !== units || b.m2.length !== units) {
    throw new Error(`tTest: unit count mismatch (A has ${a.mean.length}, B has ${b.mean.length})`);
  }
  const t = new Float64Array(units);
  const df = new Float64Array(units);
  const p = new Float64Array(units);
  const log10p = new Float64Array(units);
  const d = new Float64Array(units);
  const g = new Float64Array(units);
  const varA = new Float64Array(units);
  const varB = new Float64Array(units);
  const zeroVariance = new Uint8Array(units);
  let zeroVarianceUnits = 0;

  const dfPooled = na + nb - 2;
  const J = hedgesJ(dfPooled);
  const invA = 1 / (na - 1);
  const invB = 1 / (nb - 1);
  const poolFactor = 1 / na + 1 / nb;
  const welch = test === 'welch';
  const loA = a.meanLo && a.meanLo.length === units ? a.meanLo : undefined;
  const loB = b.meanLo && b.meanLo.length === units ? b.meanLo : undefined;

  for (let j = 0; j < units; j++) {
    const m2a = a.m2[j];
    const m2b = b.m2[j];
    const va = m2a * invA;
    const vb = m2b * invB;
    varA[j] = va;
    varB[j] = vb;
    const diff = a.mean[j] - b.mean[j] + ((loA ? loA[j] : 0) - (loB ? loB[j] : 0));
    const sp2 = (m2a + m2b) / dfPooled;
    if (m2a === 0 && m2b === 0) {
      zeroVariance[j] = 1;
      zeroVarianceUnits++;
      t[j] = 0;
      df[j] = dfPooled;
      p[j] = 1;
      log10p[j] = 0;
      d[j] = 0;
      g[j] = 0;
      continue;
    }
    let tj: number;
    let dfj: number;
    if (welch) {
      const sa = va / na;
      const sb = vb / nb;
      const se2 = sa + sb;
      tj = diff / Math.sqrt(se2);
      dfj = (se2 * se2) / (sa * sa * invA + sb * sb * invB);
    } else {
      tj = diff / Math.sqrt(sp2 * poolFactor);
      dfj = dfPooled;
    }
    t[j] = tj;
    df[j] = dfj;
    const pj = twoSidedP(tj, dfj);
    p[j] = pj;
    log10p[j] = log10TwoSidedP(tj, dfj, pj);
    const dj = diff / Math.sqrt(sp2);
    d[j] = dj;
    g[j] = dj * J;
  }
  return { t, df, p, log10p, d, g, varA, varB, zeroVarianceUnits, zeroVariance };
}

/**
 * Only the t statistic of {@link tTest} (same rules, including t = 0 for zero variance in both groups),
 * without p-values: for repeated use (split halves, permutations). Writes into out when given.
 */
export function tStatistic(a: GroupMoments, b: GroupMoments, test: TestKind = 'welch', out?: Float64Array): Float64Array {
  const na = a.n;
  const nb = b.n;
  if (!(na >= 2) || !(nb >= 2)) {
    throw new Error(`tStatistic: each condition needs at least 2 samples (got n_A = ${na}, n_B = ${nb})`);
  }
  const units = a.mean.length;
  if (b.mean.length !== units) throw new Error(`tStatistic: unit count mismatch (A has ${units}, B has ${b.mean.length})`);
  const t = out ?? new Float64Array(units);
  if (t.length !== units) throw new Error(`tStatistic: out has length ${t.length}, expected ${units}`);
  const welch = test === 'welch';
  const ca = 1 / ((na - 1) * na);
  const cb = 1 / ((nb - 1) * nb);
  const cp = (1 / na + 1 / nb) / (na + nb - 2);
  const loA = a.meanLo && a.meanLo.length === units ? a.meanLo : undefined;
  const loB = b.meanLo && b.meanLo.length === units ? b.meanLo : undefined;
  for (let j = 0; j < units; j++) {
    const m2a = a.m2[j];
    const m2b = b.m2[j];
    if (m2a === 0 && m2b === 0) {
      t[j] = 0;
      continue;
    }
    const se2 = welch ? m2a * ca + m2b * cb : (m2a + m2b) * cp;
    t[j] = (a.mean[j] - b.mean[j] + ((loA ? loA[j] : 0) - (loB ? loB[j] : 0))) / Math.sqrt(se2);
  }
  return t;
}
