/**
 * Stage 1, plan: the stimuli of a job in a fixed order (each set's items in position order, sets in the
 * order the job lists them), the layers to read with their pooling, and the batches.
 */
import { UnprocessableError } from '../domain/errors.ts';
import type { Pooling } from '../domain/manifest.ts';
import type { LayerInfo, ModelRecord, StimulusItem } from '../domain/records.ts';

export interface Stimulus {
  condition: 'a' | 'b';
  /** Index of the stimulus' set in the list the job runs (A's sets first, then B's). */
  setIndex: number;
  setId: string;
  item: StimulusItem;
}

/** One contrast: the set indices (into the job's set list) of condition A and of condition B. */
export interface ContrastSpec {
  a: number[];
  b: number[];
}

export type PlannedLayer = LayerInfo & { pooling: Pooling };

/** A contiguous run of stimuli [start, end) that goes through the model as one batch. */
export interface Batch {
  index: number;
  start: number;
  end: number;
}

/** The stimuli of the given sets, A's first: `items(setId)` lists a set's items in order. */
export function planStimuli(a: string[], b: string[], items: (setId: string) => StimulusItem[]): Stimulus[] {
  const out: Stimulus[] = [];
  let setIndex = 0;
  for (const [condition, sets] of [['a', a], ['b', b]] as const) {
    for (const setId of sets) {
      for (const item of items(setId)) out.push({ condition, setIndex, setId, item });
      setIndex++;
    }
  }
  return out;
}

/** Layers of the model to analyse, with the pooling in force; 422 on an unknown layer name. */
export function planLayers(model: ModelRecord, names: string[] | undefined, pooling: Pooling | null): PlannedLayer[] {
  const all = model.info.layers;
  const picked =
    !names || names.length === 0
      ? all
      : names.map((n, i) => {
          const l = all.find((x) => x.name === n);
          if (!l) throw new UnprocessableError(`layers[${i}]: model '${model.name}' has no layer '${n}'; its layers are ${all.map((x) => `'${x.name}'`).join(', ')}`, `layers[${i}]`);
          return l;
        });
  return picked.map((l) => {
    const p = (pooling ?? l.pooling) as Pooling;
    if (model.modality === 'image' && (p === 'last' || p === 'tokens')) {
      throw new UnprocessableError(`pooling '${p}' is for text models; model '${model.name}' is an image model (use 'mean' or 'max')`, 'pooling');
    }
    return { ...l, pooling: p };
  });
}

export function planBatches(total: number, batchSize: number): Batch[] {
  const size = Math.max(1, batchSize);
  const out: Batch[] = [];
  for (let start = 0, index = 0; start < total; start += size, index++) out.push({ index, start, end: Math.min(total, start + size) });
  return out;
}

/** Number of sets a job's stimuli span (no spread over the list: sets may hold 10⁵ items). */
export function setCount(stimuli: Stimulus[]): number {
  let n = 0;
  for (const s of stimuli) if (s.setIndex + 1 > n) n = s.setIndex + 1;
  return n;
}
