/**
 * Cross-validation helpers for fROI response profiles: seeded split-halves of a localizer's stimuli,
 * and the guard that no stimulus is used both to define a region and to measure it.
 */
import { Rng } from './rng.ts';

/**
 * One split: within each group (a stimulus set of the localizer), a random ⌊n/2⌋ of its stimulus
 * indices go to the definition half and the rest to the measurement half. Groups are shuffled in the
 * order given, each with `rng` (a Fisher–Yates shuffle of a copy).
 */
export function splitHalf(groups: Int32Array[], rng: Rng): { definition: Int32Array; measurement: Int32Array } {
  const def: number[] = [];
  const meas: number[] = [];
  for (const g of groups) {
    const a = rng.shuffle(Int32Array.from(g));
    const h = a.length >> 1;
    for (let i = 0; i < a.length; i++) (i < h ? def : meas).push(a[i]);
  }
  return { definition: Int32Array.from(def.sort((x, y) => x - y)), measurement: Int32Array.from(meas.sort((x, y) => x - y)) };
}

/**
 * The k splits of a seed: split s uses the s-th generator forked from Rng(seed), so adding splits
 * leaves the earlier ones unchanged.
 */
export function splitHalves(groups: Int32Array[], k: number, seed: number): { definition: Int32Array; measurement: Int32Array }[] {
  if (!(Number.isInteger(k) && k >= 1)) throw new Error(`splitHalves: k must be a positive integer (got ${k})`);
  const root = new Rng(seed);
  const out: { definition: Int32Array; measurement: Int32Array }[] = [];
  for (let s = 0; s < k; s++) out.push(splitHalf(groups, root.fork()));
  return out;
}

/**
 * The stimuli that may be measured in a split: every candidate that is not in the definition by index
 * and whose content (item hash) is not in it either (the same item can sit in two sets).
 */
export function measurable(candidates: ArrayLike<number>, definition: ArrayLike<number>, itemOf: (i: number) => string, extraDefinitionItems: Iterable<string> = []): Int32Array {
  const defIdx = new Set<number>();
  const defItems = new Set<string>(extraDefinitionItems);
  for (let j = 0; j < definition.length; j++) {
    defIdx.add(definition[j]);
    defItems.add(itemOf(definition[j]));
  }
  const out: number[] = [];
  for (let j = 0; j < candidates.length; j++) {
    const i = candidates[j];
    if (!defIdx.has(i) && !defItems.has(itemOf(i))) out.push(i);
  }
  return Int32Array.from(out);
}
