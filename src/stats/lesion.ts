/**
 * Lesion statistics: per-stimulus values → per-set partial sums (mergeable: shards of disjoint stimuli
 * add up; merge them in a fixed order for a result independent of scheduling) → set measures → the
 * lesion's effect Δ against its controls (mean, sd, z, empirical p) and the specificity Δ_A − Δ_B.
 *
 * Every Δ is oriented as damage: positive means the configuration does worse than the intact model
 * (cross-entropy, perplexity and KL up; accuracy, log-probability and agreement down). The empirical p
 * is one-sided: p = (1 + #{controls with Δ ≥ Δ_lesion}) / (1 + n).
 */
import type { OutputKind } from '../domain/manifest.ts';

/** Sums over the stimuli of one set under one configuration. */
export interface SetPartial {
  /** Stimuli. */
  n: number;
  /** lm: predicted tokens and Σ −log p over them. */
  tokens: number;
  ceSum: number;
  /** classifier: labelled stimuli, correct ones among them, Σ log p(true), Σ agreement, Σ KL. */
  labelled: number;
  correct: number;
  logpSum: number;
  agree: number;
  klSum: number;
}

export function emptyPartial(): SetPartial {
  return { n: 0, tokens: 0, ceSum: 0, labelled: 0, correct: 0, logpSum: 0, agree: 0, klSum: 0 };
}

/** a += b (field by field). */
export function mergePartial(a: SetPartial, b: SetPartial): SetPartial {
  a.n += b.n;
  a.tokens += b.tokens;
  a.ceSum += b.ceSum;
  a.labelled += b.labelled;
  a.correct += b.correct;
  a.logpSum += b.logpSum;
  a.agree += b.agree;
  a.klSum += b.klSum;
  return a;
}

/**
 * Adds one configuration's per-stimulus values of stimuli [start, start + count) to the partials of
 * their sets (`setOf[i]`: set index of stimulus start + i), in stimulus order.
 */
export function foldValues(partials: SetPartial[], values: Record<string, Float64Array>, setOf: ArrayLike<number>, start: number, count: number): void {
  const { ceSum, tokens, correct, logp, agree, kl } = values;
  for (let i = 0; i < count; i++) {
    const p = partials[setOf[start + i]];
    p.n++;
    if (ceSum) {
      p.ceSum += ceSum[i];
      p.tokens += tokens[i];
    }
    if (logp) {
      if (!Number.isNaN(correct[i])) {
        p.labelled++;
        p.correct += correct[i];
      }
      p.logpSum += logp[i];
      p.agree += agree[i];
      p.klSum += kl[i];
    }
  }
}

export type Measures = Record<string, number | null>;

/** The set measures of a partial: lm {ce, ppl}; classifier {accuracy, logp, agreement, kl}. Null where undefined. */
export function measuresOf(p: SetPartial, kind: OutputKind): Measures {
  if (kind === 'lm') {
    const ce = p.tokens > 0 ? p.ceSum / p.tokens : null;
    return { ce, ppl: ce === null ? null : Math.exp(ce) };
  }
  return {
    accuracy: p.labelled > 0 ? p.correct / p.labelled : null,
    logp: p.n > 0 ? p.logpSum / p.n : null,
    agreement: p.n > 0 ? p.agree / p.n : null,
    kl: p.n > 0 ? p.klSum / p.n : null,
  };
}

const WORSE_DOWN = new Set(['accuracy', 'logp', 'agreement']);

/** Δ of one measure, oriented as damage (positive = worse than intact); null when either is null. */
export function damage(measure: string, intact: number | null, x: number | null): number | null {
  if (intact === null || x === null) return null;
  return WORSE_DOWN.has(measure) ? intact - x : x - intact;
}

export function damages(intact: Measures, x: Measures): Measures {
  const out: Measures = {};
  for (const k of Object.keys(intact)) out[k] = damage(k, intact[k], x[k] ?? null);
  return out;
}

export interface ControlTest {
  /** Controls with a defined Δ. */
  n: number;
  values: number[];
  mean: number | null;
  /** Sample sd (n − 1). */
  sd: number | null;
  /** (Δ_lesion − mean) / sd; null when sd is 0 or undefined. */
  z: number | null;
  /** (1 + #{Δ_control ≥ Δ_lesion}) / (1 + n); null without controls. */
  p: number | null;
}

/** The lesion's effect against the control effects. */
export function controlTest(effect: number | null, controls: (number | null)[]): ControlTest {
  const values = controls.filter((v): v is number => v !== null && Number.isFinite(v));
  const n = values.length;
  if (n === 0) return { n, values, mean: null, sd: null, z: null, p: null };
  let mean = 0;
  for (const v of values) mean += v;
  mean /= n;
  let ss = 0;
  for (const v of values) ss += (v - mean) * (v - mean);
  const sd = n > 1 ? Math.sqrt(ss / (n - 1)) : null;
  if (effect === null) return { n, values, mean, sd, z: null, p: null };
  let ge = 0;
  for (const v of values) if (v >= effect) ge++;
  return { n, values, mean, sd, z: sd !== null && sd > 0 ? (effect - mean) / sd : null, p: (1 + ge) / (1 + n) };
}

/** Δ_A − Δ_B (null when either is null). */
export function specificity(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : a - b;
}

/** A 32-bit seed for one draw, derived from the request's seed and the draw's coordinates (splitmix32 steps). */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let x = seed >>> 0;
  const mix = (v: number) => {
    x = (x + 0x9e3779b9 + (v >>> 0)) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    x = (z ^ (z >>> 16)) >>> 0;
  };
  for (const p of parts) mix(p);
  mix(parts.length);
  return x;
}

/** Mean and half-width-free band helpers for plots: the controls' mean ± sd (NaN when undefined). */
export function band(t: ControlTest): { lo: number; hi: number; mean: number } {
  if (t.mean === null) return { lo: NaN, hi: NaN, mean: NaN };
  const sd = t.sd ?? 0;
  return { lo: t.mean - sd, hi: t.mean + sd, mean: t.mean };
}
