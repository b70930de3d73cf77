/**
 * From per-stimulus values to the reported result of a lesion job: per configuration and set the
 * partial sums (folded in stimulus order), per dose and set the intact and lesioned measures, the
 * lesion's effect Δ on every measure, the random and spatial controls' Δ with mean, sd, z and the
 * empirical p, and the specificity Δ_A − Δ_B against the controls' own specificities.
 */
import type { ConfigRole, Dose } from '../domain/lesion.ts';
import type { OutputKind } from '../domain/manifest.ts';
import { controlTest, damages, emptyPartial, foldValues, measuresOf, specificity, type ControlTest, type Measures, type SetPartial } from '../stats/lesion.ts';

export interface ConfigMeta {
  idx: number;
  role: ConfigRole;
  dose: number | null;
}

export interface SetSummary {
  set: number;
  name: string;
  intact: Measures;
  lesion: Measures;
  delta: Measures;
  random: Record<string, ControlTest>;
  spatial: Record<string, ControlTest>;
}

export interface SpecificitySummary {
  a: number;
  b: number;
  measure: string;
  /** Δ_A − Δ_B of the lesion. */
  delta: number | null;
  random: ControlTest;
  spatial: ControlTest;
}

export interface DoseSummary {
  index: number;
  dose: Dose;
  configs: { lesion: number; random: number[]; spatial: number[] };
  sets: SetSummary[];
  specificity: SpecificitySummary | null;
}

export interface LesionSummary {
  output: { name: string; kind: OutputKind };
  /** The measure the specificity test and the figures use by default. */
  primary: string;
  measures: string[];
  sets: { index: number; id: string; name: string; items: number; labelled: number }[];
  doses: DoseSummary[];
}

/** partials[config][set]: the sums of every configuration on every set, folded in stimulus order. */
export function foldPartials(values: Record<string, Float64Array>, configs: number, setOf: Int32Array, nSets: number): SetPartial[][] {
  const N = setOf.length;
  const out: SetPartial[][] = [];
  for (let c = 0; c < configs; c++) {
    const row = Array.from({ length: nSets }, emptyPartial);
    const slice: Record<string, Float64Array> = {};
    for (const [k, v] of Object.entries(values)) slice[k] = v.subarray(c * N, (c + 1) * N);
    foldValues(row, slice, setOf, 0, N);
    out.push(row);
  }
  return out;
}

export function summarise(opts: {
  kind: OutputKind;
  outputName: string;
  sets: { id: string; name: string; items: number; labelled: number }[];
  doses: Dose[];
  configs: ConfigMeta[];
  partials: SetPartial[][];
  specificity: { a: number; b: number } | null;
}): LesionSummary {
  const { kind, partials, configs } = opts;
  const measured = partials.map((row) => row.map((p) => measuresOf(p, kind)));
  const measures = Object.keys(measured[0][0]);
  const spec = opts.specificity;
  const labelledPair = spec ? opts.sets[spec.a].labelled > 0 && opts.sets[spec.b].labelled > 0 : opts.sets.every((s) => s.labelled > 0);
  const primary = kind === 'lm' ? 'ce' : labelledPair ? 'accuracy' : 'logp';
  const intact = measured[0];
  const doses: DoseSummary[] = opts.doses.map((dose, d) => {
    const of = (role: ConfigRole) => configs.filter((c) => c.dose === d && c.role === role).map((c) => c.idx);
    const lesion = of('lesion')[0];
    const random = of('random');
    const spatial = of('spatial');
    const deltaOf = (ci: number, s: number) => damages(intact[s], measured[ci][s]);
    const sets: SetSummary[] = opts.sets.map((set, s) => {
      const delta = deltaOf(lesion, s);
      const tests = (idx: number[]) => Object.fromEntries(measures.map((m) => [m, controlTest(delta[m], idx.map((ci) => deltaOf(ci, s)[m]))]));
      return { set: s, name: set.name, intact: intact[s], lesion: measured[lesion][s], delta, random: tests(random), spatial: tests(spatial) };
    });
    let specificitySummary: SpecificitySummary | null = null;
    if (spec) {
      const sp = (ci: number) => specificity(deltaOf(ci, spec.a)[primary], deltaOf(ci, spec.b)[primary]);
      const delta = sp(lesion);
      specificitySummary = { a: spec.a, b: spec.b, measure: primary, delta, random: controlTest(delta, random.map(sp)), spatial: controlTest(delta, spatial.map(sp)) };
    }
    return { index: d, dose, configs: { lesion, random, spatial }, sets, specificity: specificitySummary };
  });
  return { output: { name: opts.outputName, kind }, primary, measures, sets: opts.sets.map((s, index) => ({ index, ...s })), doses };
}
