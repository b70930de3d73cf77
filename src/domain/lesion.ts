/**
 * Lesions: the types shared by the ONNX edit, the inference sessions, the pipeline, the store and the API.
 *
 * A lesion multiplies and shifts chosen units of a layer, y = x·m + o along the unit axis, right after
 * the layer's tensor in the graph. m and o are graph inputs (one pair per layer, "lesion sites"), so one
 * ONNX Runtime session runs the intact model (m = 1, o = 0), the lesion and every control.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { OutputKind } from './manifest.ts';
import { Choice } from './choice.ts';
import type { LmScore } from './scoring.ts';

/** One editable layer of the lesion copy of a model. */
export interface LesionSite {
  /** The layer name (manifest). */
  layer: string;
  /** The layer's tensor x (unchanged by the edit). */
  tensor: string;
  /** y = x·m + o: what every former consumer of x reads now. */
  output: string;
  /** Graph inputs m and o, float32, shaped to broadcast along the unit axis ([1, U, 1, 1], [1, 1, U], …). */
  scaleInput: string;
  offsetInput: string;
  dims: number[];
  units: number;
}

/** A behaviour output as registered: its probe shape and resolved class names. */
export interface BehaviourOutput {
  name: string;
  tensor: string;
  /** The tensor the lesion copy returns for it (differs from `tensor` only when the logits are a lesion site themselves). */
  fetch: string;
  kind: OutputKind;
  probeShape: number[];
  /** Classifier: class names in logit order (null when the manifest gives none). */
  classes: string[] | null;
  /** lm: in-graph scoring of the lesion copy (absent on copies built before it: scored from the logits). */
  score?: LmScore;
}

/** What registration stores about a model's lesion copy. */
export interface LesionInfo {
  /** File name of the lesion copy in the model folder. */
  file: string;
  sites: LesionSite[];
  outputs: BehaviourOutput[];
}

/**
 * A lesion configuration in sparse form: per layer, the units changed and their multiplier and offset
 * (every other unit keeps m = 1, o = 0).
 */
export interface LesionConfig {
  layers: { layer: string; units: number[]; scale: number[]; offset: number[] }[];
}

export const LesionModeSchema = Choice(['zero', 'mean', 'scale'], {
  description:
    "`zero`: y = 0. `mean`: y = the unit's mean over the reference set (mean ablation). `scale`: y = factor·x (1 leaves the model unchanged, > 1 amplifies).",
});
export type LesionMode = Static<typeof LesionModeSchema>;

/** Roles of the configurations of a lesion job, in the order they are stored (0 is always the intact model). */
export type ConfigRole = 'intact' | 'lesion' | 'random' | 'spatial';

/** Per-stimulus measures as the inference sessions return them (Float64, one value per stimulus). */
export const LM_VALUES = ['ceSum', 'tokens'] as const;
export const CLASSIFIER_VALUES = ['correct', 'logp', 'agree', 'kl', 'pred'] as const;
export type LmValue = (typeof LM_VALUES)[number];
export type ClassifierValue = (typeof CLASSIFIER_VALUES)[number];

/** Per-stimulus measures offered for download (`ce` = ceSum / tokens of the stimulus). */
export const STIMULUS_MEASURES: Record<OutputKind, readonly string[]> = {
  lm: ['ce', 'ceSum', 'tokens'],
  classifier: ['correct', 'logp', 'agree', 'kl', 'pred'],
};

/** Set-level measures and the direction in which they get worse. */
export const SET_MEASURES: Record<OutputKind, readonly { name: string; worse: 'up' | 'down'; description: string }[]> = {
  lm: [
    { name: 'ce', worse: 'up', description: 'mean next-token cross-entropy over real tokens, nats per token' },
    { name: 'ppl', worse: 'up', description: 'perplexity = exp(ce)' },
  ],
  classifier: [
    { name: 'accuracy', worse: 'down', description: 'top-1 accuracy against the item labels (null when the set has none)' },
    { name: 'logp', worse: 'down', description: 'mean log-probability of the true class (of the intact top class for unlabelled items)' },
    { name: 'agreement', worse: 'down', description: 'fraction of stimuli whose top-1 class equals the intact model’s' },
    { name: 'kl', worse: 'up', description: 'mean KL(intact ‖ lesioned) of the class distributions, nats' },
  ],
};

/** A stimulus of a lesion evaluation, in evaluation order. */
export interface LesionStimulus {
  idx: number;
  /** Index into the job's sets. */
  set: number;
  setId: string;
  sha256: string;
  label: string | null;
  classLabel: string | null;
}

/** A dose of a lesion: the k of a top-k selection (or null for a mask, a cluster, explicit units). */
export type Dose = { percent: number } | { count: number } | null;

/** A lesion job as it runs: every reference resolved, every default filled in (stored in jobs.params). */
export interface LesionParams {
  model: string;
  output: string;
  outputKind: OutputKind;
  mode: LesionMode;
  factor: number | null;
  /** The evaluation sets (ids), in order. */
  sets: string[];
  /** Mean mode: the reference sets the unit means are taken over. */
  reference: string[];
  /** How the units were chosen (kind and its parameters, with the source contrast or mask). */
  selection: Record<string, unknown>;
  doses: Dose[];
  controls: { random: number; spatial: number; seed: number; connectivity: 4 };
  /** Set indices (into `sets`) of the specificity contrast Δ_A − Δ_B, or null. */
  specificity: { a: number; b: number } | null;
  label: string;
}
