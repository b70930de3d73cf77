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

/**
 * One batch: positions [start, end) of the run order. Without `items` the run order is the stimulus
 * order (the batch is stimuli start … end−1); with `items`, row k of the batch is stimulus `items[k]`
 * (batches formed by token length).
 */
export interface Batch {
  index: number;
  start: number;
  end: number;
  items?: Int32Array;
}

/** The stimulus index of row `k` of a batch. */
export function stimulusOf(b: Batch, k: number): number {
  return b.items ? b.items[k] : b.start + k;
}

/**
 * The token ids of every text of a job, tokenised once in the plan stage (truncated as the model's
 * input says): text i is `ids[offsets[i] … offsets[i+1])`. Int32 ids: 4 bytes per token.
 */
export interface TokenTable {
  offsets: Int32Array;
  ids: Int32Array;
}

export function tokenLength(t: TokenTable, i: number): number {
  return t.offsets[i + 1] - t.offsets[i];
}

/** Packs per-text id lists (from the model's tokenizer) into a table. */
export function tokenTable(n: number, idsOf: (i: number) => ArrayLike<number>): TokenTable {
  const lists: ArrayLike<number>[] = new Array(n);
  const offsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    lists[i] = idsOf(i);
    offsets[i + 1] = offsets[i] + lists[i].length;
  }
  const ids = new Int32Array(offsets[n]);
  for (let i = 0; i < n; i++) ids.set(lists[i], offsets[i]);
  return { offsets, ids };
}

/**
 * Text batches formed by token length: the stimuli sorted by their number of tokens (ties in stimulus
 * order), cut into batches of `batchSize`. Each batch pads to its longest text, so sorting removes
 * most padded positions. The fold puts every row back at its stimulus' place.
 */
export function planBatchesByLength(tokens: TokenTable, batchSize: number): Batch[] {
  const n = tokens.offsets.length - 1;
  const size = Math.max(1, batchSize);
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((x, y) => tokenLength(tokens, x) - tokenLength(tokens, y) || x - y);
  const out: Batch[] = [];
  for (let start = 0, index = 0; start < n; start += size, index++) {
    const end = Math.min(n, start + size);
    out.push({ index, start, end, items: Int32Array.from(order.slice(start, end)) });
  }
  return out;
}

/** Padded token positions (B × longest) summed over batches: the compute a batch plan asks for. */
export function paddedPositions(tokens: TokenTable, batches: Batch[]): number {
  let s = 0;
  for (const b of batches) {
    let T = 0;
    for (let k = 0; k < b.end - b.start; k++) T = Math.max(T, tokenLength(tokens, stimulusOf(b, k)));
    s += T * (b.end - b.start);
  }
  return s;
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

/** Real tokens of each text. */
export function tokenCounts(t: TokenTable): Int32Array {
  const n = t.offsets.length - 1;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = t.offsets[i + 1] - t.offsets[i];
  return out;
}
