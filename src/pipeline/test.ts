/**
 * Stage 4, test: per-set moments → per-unit statistics for one contrast on every layer: t, df, p and
 * log10 p, the multiple-comparison correction (per layer or across layers, also in log10 space),
 * Cohen's d and Hedges' g, and the layer summary.
 */
import { UnprocessableError } from '../domain/errors.ts';
import type { LayerOutcome, LayerSummary } from '../domain/records.ts';
import type { SheetLayout } from '../domain/sheet.ts';
import type { Correction, CorrectionScope, TestKind } from '../domain/stats.ts';
import { adjustLog10P, adjustP } from '../stats/correction.ts';
import { tTest, type GroupMoments } from '../stats/ttest.ts';
import type { Fold } from './fold.ts';
import type { ContrastSpec } from './plan.ts';

export interface TestOptions {
  test: TestKind;
  correction: Correction;
  correctionScope: CorrectionScope;
  alpha: number;
}

/** q and log10 q for each layer's p, corrected within each layer or across all of them together. */
export function correct(ps: { p: Float64Array; log10p: Float64Array }[], method: Correction, scope: CorrectionScope): { q: Float64Array; log10q: Float64Array }[] {
  if (scope === 'layer' || ps.length === 1) return ps.map((l) => ({ q: adjustP(l.p, method), log10q: adjustLog10P(l.log10p, method) }));
  const total = ps.reduce((s, l) => s + l.p.length, 0);
  const p = new Float64Array(total);
  const lp = new Float64Array(total);
  let o = 0;
  for (const l of ps) {
    p.set(l.p, o);
    lp.set(l.log10p, o);
    o += l.p.length;
  }
  const q = adjustP(p, method);
  const lq = adjustLog10P(lp, method);
  o = 0;
  return ps.map((l) => {
    const r = { q: q.slice(o, o + l.p.length), log10q: lq.slice(o, o + l.p.length) };
    o += l.p.length;
    return r;
  });
}

export function summarise(
  l: { units: number; t: Float64Array; p: Float64Array; q: Float64Array; d: Float64Array; nA: number; nB: number },
  sheet: SheetLayout,
  opts: { alpha: number; correction: Correction; pooling: string; zeroVarianceUnits: number },
): LayerSummary {
  let sig = 0;
  let pos = 0;
  let neg = 0;
  let peak = -1;
  let maxT = -Infinity;
  let minT = Infinity;
  for (let u = 0; u < l.units; u++) {
    const t = l.t[u];
    if (l.q[u] <= opts.alpha) {
      sig++;
      if (t > 0) pos++;
      else if (t < 0) neg++;
    }
    if (t > maxT) maxT = t;
    if (t < minT) minT = t;
    if (peak < 0 || Math.abs(t) > Math.abs(l.t[peak])) peak = u;
  }
  const cell = peak >= 0 ? sheet.cellOfUnit[peak] : -1;
  return {
    units: l.units,
    rows: sheet.rows,
    cols: sheet.cols,
    nA: l.nA,
    nB: l.nB,
    pooling: opts.pooling,
    significant: sig,
    significantPositive: pos,
    significantNegative: neg,
    alpha: opts.alpha,
    correction: opts.correction,
    peak: peak >= 0 ? { unit: peak, row: Math.floor(cell / sheet.cols), col: cell % sheet.cols, t: l.t[peak], p: l.p[peak], q: l.q[peak], d: l.d[peak] } : null,
    maxT,
    minT,
    zeroVarianceUnits: opts.zeroVarianceUnits,
  };
}

/** The moments of the two conditions of one layer: what testing it needs (sent to an analysis worker). */
export interface LayerMoments {
  a: GroupMoments;
  b: GroupMoments;
}

/** The per-unit statistics of one layer, before the correction. */
export interface TestedLayer {
  nA: number;
  nB: number;
  t: Float64Array;
  df: Float64Array;
  p: Float64Array;
  log10p: Float64Array;
  d: Float64Array;
  g: Float64Array;
  meanA: Float64Array;
  meanB: Float64Array;
  varA: Float64Array;
  varB: Float64Array;
  zeroVarianceUnits: number;
}

/** The merged moments of the contrast's A and B sets on one layer; 422 when a condition has fewer than 2 samples. */
export function layerMoments(fold: Fold, layer: number, spec: ContrastSpec): LayerMoments {
  const a = fold.merged(layer, spec.a);
  const b = fold.merged(layer, spec.b);
  if (a.n < 2 || b.n < 2) throw new UnprocessableError(`layer '${fold.layers[layer].name}': a t-test needs at least 2 samples per condition (a has ${a.n}, b has ${b.n})`);
  return { a: { n: a.n, mean: a.mean, m2: a.m2, meanLo: a.meanLo }, b: { n: b.n, mean: b.mean, m2: b.m2, meanLo: b.meanLo } };
}

export function testLayer(m: LayerMoments, test: TestKind): TestedLayer {
  const r = tTest(m.a, m.b, test);
  return {
    nA: m.a.n,
    nB: m.b.n,
    t: r.t,
    df: r.df,
    p: r.p,
    log10p: r.log10p,
    d: r.d,
    g: r.g,
    meanA: Float64Array.from(m.a.mean),
    meanB: Float64Array.from(m.b.mean),
    varA: r.varA,
    varB: r.varB,
    zeroVarianceUnits: r.zeroVarianceUnits,
  };
}

/** A layer's outcome from its test and its correction (analysis and activations not yet attached). */
export function layerOutcome(
  layer: { name: string; units: number; pooling: string },
  sheet: SheetLayout,
  x: TestedLayer,
  corrected: { q: Float64Array; log10q: Float64Array },
  opts: TestOptions,
): LayerOutcome {
  const { q, log10q } = corrected;
  const summary = summarise({ units: layer.units, t: x.t, p: x.p, q, d: x.d, nA: x.nA, nB: x.nB }, sheet, {
    alpha: opts.alpha,
    correction: opts.correction,
    pooling: layer.pooling,
    zeroVarianceUnits: x.zeroVarianceUnits,
  });
  return {
    name: layer.name,
    units: layer.units,
    rows: sheet.rows,
    cols: sheet.cols,
    cellOfUnit: sheet.cellOfUnit,
    sheet,
    nA: x.nA,
    nB: x.nB,
    t: x.t,
    df: x.df,
    p: x.p,
    log10p: x.log10p,
    q,
    log10q,
    d: x.d,
    g: x.g,
    meanA: x.meanA,
    meanB: x.meanB,
    varA: x.varA,
    varB: x.varB,
    summary,
    analysis: null,
    activations: null,
  };
}
