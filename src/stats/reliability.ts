/**
 * Split-half reliability of a selectivity map: split each condition's stimuli into random halves k times,
 * compute the t-map of each half, and compare the two maps.
 */
import { pearson } from './compare.ts';
import { Moments } from './moments.ts';
import { Rng } from './rng.ts';
import { tStatistic, type TestKind } from './ttest.ts';

export interface SplitHalfOptions {
  /** Number of random splits k. */
  splits: number;
  seed: number;
  /** |t| threshold of the supra-threshold masks compared by Dice. */
  threshold: number;
  /** Default 'welch'. */
  test?: TestKind;
}

export interface SplitHalfResult {
  /** Pearson r between the two halves' t-maps, per split. */
  r: Float64Array;
  /** Spearman–Brown corrected r = 2r/(1 + r), per split. */
  spearmanBrown: Float64Array;
  /** Dice overlap of the sign-aware supra-threshold masks, per split (NaN when both masks are empty). */
  dice: Float64Array;
  meanR: number;
  meanSpearmanBrown: number;
  /** Mean over the splits where Dice is defined (NaN if none). */
  meanDice: number;
  /** Spearman–Brown of meanR. */
  spearmanBrownOfMeanR: number;
  /** Stimuli per half: [A half 1, A half 2, B half 1, B half 2]. */
  halfSizes: [number, number, number, number];
}

/** Spearman–Brown prophecy for doubling the test length: 2r/(1 + r). */
export function spearmanBrown(r: number): number {
  return (2 * r) / (1 + r);
}

/**
 * Dice coefficient 2|M1 ∩ M2| / (|M1| + |M2|) of sign-aware supra-threshold masks: a unit is in M_k with
 * sign +1 when t_k ≥ threshold and −1 when t_k ≤ −threshold, and in the intersection only with the same
 * sign in both. NaN when both masks are empty.
 */
export function diceOverlap(t1: ArrayLike<number>, t2: ArrayLike<number>, threshold: number): number {
  if (t1.length !== t2.length) throw new Error(`diceOverlap: lengths differ`);
  let n1 = 0;
  let n2 = 0;
  let both = 0;
  for (let i = 0; i < t1.length; i++) {
    const s1 = t1[i] >= threshold ? 1 : t1[i] <= -threshold ? -1 : 0;
    const s2 = t2[i] >= threshold ? 1 : t2[i] <= -threshold ? -1 : 0;
    if (s1 !== 0) n1++;
    if (s2 !== 0) n2++;
    if (s1 !== 0 && s1 === s2) both++;
  }
  return n1 + n2 === 0 ? NaN : (2 * both) / (n1 + n2);
}

/**
 * matrix: stimuli×units Float32 (row-major). rowsA / rowsB: the rows of conditions A and B.
 * Each split shuffles each condition's rows (seeded) and takes the first ⌊n/2⌋ as half 1, the rest as
 * half 2; half-1 A vs half-1 B gives t-map 1, half-2 A vs half-2 B gives t-map 2.
 * @throws Error when a condition has fewer than 4 stimuli (each half needs 2).
 */
export function splitHalfReliability(
  matrix: Float32Array,
  stimuli: number,
  units: number,
  rowsA: Int32Array,
  rowsB: Int32Array,
  opts: SplitHalfOptions,
): SplitHalfResult {
  if (matrix.length !== stimuli * units) throw new Error(`splitHalfReliability: matrix has ${matrix.length} values, expected ${stimuli}×${units}`);
  if (rowsA.length < 4 || rowsB.length < 4) {
    throw new Error(`splitHalfReliability: each condition needs at least 4 stimuli (got ${rowsA.length} and ${rowsB.length})`);
  }
  for (const rowsX of [rowsA, rowsB]) {
    for (let k = 0; k < rowsX.length; k++) {
      if (rowsX[k] < 0 || rowsX[k] >= stimuli) throw new Error(`splitHalfReliability: row ${rowsX[k]} is outside 0…${stimuli - 1}`);
    }
  }
  const k = opts.splits;
  if (!Number.isInteger(k) || k < 1) throw new Error(`splitHalfReliability: splits must be a positive integer`);
  const test = opts.test ?? 'welch';
  const rng = new Rng(opts.seed);
  const a = Int32Array.from(rowsA);
  const b = Int32Array.from(rowsB);
  const hA = a.length >> 1;
  const hB = b.length >> 1;
  const mA1 = new Moments(units);
  const mA2 = new Moments(units);
  const mB1 = new Moments(units);
  const mB2 = new Moments(units);
  const t1 = new Float64Array(units);
  const t2 = new Float64Array(units);
  const r = new Float64Array(k);
  const sb = new Float64Array(k);
  const dice = new Float64Array(k);
  for (let s = 0; s < k; s++) {
    rng.shuffle(a);
    rng.shuffle(b);
    mA1.reset();
    mA2.reset();
    mB1.reset();
    mB2.reset();
    for (let q = 0; q < a.length; q++) (q < hA ? mA1 : mA2).push(matrix, a[q] * units);
    for (let q = 0; q < b.length; q++) (q < hB ? mB1 : mB2).push(matrix, b[q] * units);
    tStatistic(mA1, mB1, test, t1);
    tStatistic(mA2, mB2, test, t2);
    r[s] = pearson(t1, t2);
    sb[s] = spearmanBrown(r[s]);
    dice[s] = diceOverlap(t1, t2, opts.threshold);
  }
  const meanR = mean(r);
  return {
    r,
    spearmanBrown: sb,
    dice,
    meanR,
    meanSpearmanBrown: mean(sb),
    meanDice: nanMean(dice),
    spearmanBrownOfMeanR: spearmanBrown(meanR),
    halfSizes: [hA, a.length - hA, hB, b.length - hB],
  };
}

function mean(x: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s / x.length;
}

function nanMean(x: Float64Array): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i])) continue;
    s += x[i];
    n++;
  }
  return n > 0 ? s / n : NaN;
}
